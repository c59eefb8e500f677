//! Outbound webhooks (`send_webhook`): which URLs may be called, and the
//! `X-Avvio-Signature` the receiver verifies.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where Avvio runs: production refuses every private target; local mode
/// (`avvio dev`, `simulate`) also allows plain http to loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Production,
    Local,
}

/// Checks a webhook URL's form: https (or http to loopback in local mode),
/// and no literal private, loopback or link-local address in production.
/// Host names are checked again after resolution by the HTTP adapter.
pub fn check_webhook_url(raw: &str, mode: Mode) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    let host = url.host().ok_or_else(|| format!("`{raw}` has no host"))?;
    let loopback = match &host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback && mode == Mode::Local => {}
        "http" => {
            return Err(format!("`{raw}` must use https (http is allowed only to loopback in local mode)"));
        }
        other => return Err(format!("`{raw}` uses {other}: webhooks are https")),
    }
    if mode == Mode::Production {
        let ip = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        };
        if loopback || ip.is_some_and(|ip| !is_public(ip)) {
            return Err(format!("`{raw}` points at a private, loopback or link-local address"));
        }
    }
    Ok(url)
}

/// Whether an address is reachable on the public internet (not private, loopback, link-local, …).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`, the value of `X-Avvio-Signature`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Compares two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a `sha256=<hex>` signature in constant time.
pub fn verify_signature(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(given) = header.trim().strip_prefix("sha256=").and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_private_and_loopback_targets() {
        for bad in [
            "https://127.0.0.1/x",
            "https://10.0.0.8/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://[fe80::1]/x",
            "https://localhost/x",
            "http://example.com/x",
        ] {
            assert!(check_webhook_url(bad, Mode::Production).is_err(), "{bad} accepted");
        }
        assert!(check_webhook_url("https://hooks.example.com/avvio", Mode::Production).is_ok());
    }

    #[test]
    fn local_mode_allows_plain_http_to_loopback_only() {
        assert!(check_webhook_url("http://127.0.0.1:8080/x", Mode::Local).is_ok());
        assert!(check_webhook_url("http://localhost:8080/x", Mode::Local).is_ok());
        assert!(check_webhook_url("http://192.168.1.1/x", Mode::Local).is_err());
        assert!(check_webhook_url("ftp://example.com/x", Mode::Local).is_err());
    }

    #[test]
    fn a_signature_verifies_and_a_tampered_body_does_not() {
        let sig = signature(b"secret", b"{\"a\":1}");
        assert!(verify_signature(b"secret", b"{\"a\":1}", &sig));
        assert!(!verify_signature(b"secret", b"{\"a\":2}", &sig));
        assert!(!verify_signature(b"secret", b"{\"a\":1}", "sha256=zz"));
    }
}
