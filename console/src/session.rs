//! Sessions and CSRF tokens, kept in no server memory so every Lambda instance agrees.
//!
//! - The signing key is `HMAC-SHA256(app secret, "avvio-console-session-v1")`: derived from
//!   `WHATSAPP_APP_SECRET` ([`avvio_api::IngestConfig::app_secret`]), so every instance derives the
//!   same one, and it is used for nothing else. Changing the app secret signs every user out.
//! - The session cookie `avvio_session` is `{key hash}.{expires}.{nonce}.{signature}`: the SHA-256
//!   of the API key (what the store keeps, never the key), the Unix second it expires, 32 random hex
//!   digits, and the hex HMAC of the three (checked in constant time). Each request checks the
//!   signature and the expiry, then asks the store for the workspace of the key hash again, so a
//!   revoked key stops working at once.
//! - A CSRF token is `hex(HMAC(signing key, "csrf:" + nonce))`: the session's nonce once signed in,
//!   the pre-session cookie's before (so the sign-in form is protected against login CSRF too).
//!
//! Time is an argument (`now`, Unix seconds), so expiry is tested without waiting.

use avvio_common::domain::WorkspaceId;
use avvio_common::ports::KeyHash;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The session cookie.
pub const SESSION_COOKIE: &str = "avvio_session";
/// The cookie that carries the sign-in form's nonce before there is a session.
pub const PRE_SESSION_COOKIE: &str = "avvio_pre_session";
/// How long a session lasts (and the cookie's `Max-Age`).
pub const SESSION_SECONDS: i64 = 12 * 3600;
/// How long the sign-in form may stay open.
pub const PRE_SESSION_SECONDS: i64 = 3600;

const DERIVATION: &[u8] = b"avvio-console-session-v1";

/// The key that signs sessions and CSRF tokens.
#[derive(Clone)]
pub struct Keys {
    signing: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { .. }")
    }
}

/// What a valid session cookie says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The SHA-256 of the API key that signed in.
    pub key: KeyHash,
    /// When the session ends (Unix seconds).
    pub expires: i64,
    /// The session's random nonce: its CSRF token is derived from it.
    pub nonce: String,
}

/// A signed-in request: the workspace the session's API key selects (looked up again on every
/// request) and the CSRF token its forms carry. Handlers behind the session guard extract it.
#[derive(Debug, Clone)]
pub struct Session {
    pub workspace: WorkspaceId,
    pub csrf: String,
}

impl Keys {
    /// Derives the signing key from the app secret.
    pub fn new(app_secret: &str) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes a key of any length");
        mac.update(DERIVATION);
        Self { signing: mac.finalize().into_bytes().into() }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.signing).expect("HMAC takes a key of any length")
    }

    fn sign(&self, payload: &str) -> String {
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A new session for `key`, from `now` (Unix seconds) for [`SESSION_SECONDS`]: the cookie's value and what it says.
    pub fn seal(&self, key: &KeyHash, now: i64) -> (String, Claims) {
        let claims = Claims { key: key.clone(), expires: now + SESSION_SECONDS, nonce: fresh_nonce() };
        (self.seal_claims(&claims), claims)
    }

    /// The cookie value for `claims` (tests forge expired sessions with it).
    pub fn seal_claims(&self, claims: &Claims) -> String {
        let payload = format!("{}.{}.{}", claims.key.as_str(), claims.expires, claims.nonce);
        let signature = self.sign(&payload);
        format!("{payload}.{signature}")
    }

    /// Reads a session cookie: `None` unless its signature is ours (compared in constant time),
    /// it is well formed and it has not expired at `now`.
    pub fn open(&self, value: &str, now: i64) -> Option<Claims> {
        let (payload, signature) = value.rsplit_once('.')?;
        let signature = hex::decode(signature).ok()?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature).ok()?;
        let mut parts = payload.split('.');
        let key = KeyHash::from_hex(parts.next()?)?;
        let expires: i64 = parts.next()?.parse().ok()?;
        let nonce = parts.next().filter(|n| is_nonce(n))?.to_string();
        if parts.next().is_some() || expires <= now {
            return None;
        }
        Some(Claims { key, expires, nonce })
    }

    /// The CSRF token of a session (or pre-session) nonce.
    pub fn csrf_token(&self, nonce: &str) -> String {
        self.sign(&format!("csrf:{nonce}"))
    }

    /// Whether `token` is the CSRF token of `nonce`, compared in constant time.
    pub fn check_csrf(&self, nonce: &str, token: &str) -> bool {
        let Ok(token) = hex::decode(token.trim()) else { return false };
        let mut mac = self.mac();
        mac.update(format!("csrf:{nonce}").as_bytes());
        mac.verify_slice(&token).is_ok()
    }
}

/// 32 random hex digits from the OS's generator.
pub fn fresh_nonce() -> String {
    avvio_common::manage::fresh_token("")
}

/// Whether `value` looks like a nonce [`fresh_nonce`] made.
pub fn is_nonce(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

/// How a cookie may travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
}

/// A `Set-Cookie` value with `Path=/` (the console and the API share the host under any stage
/// path). `max_age` 0 clears the cookie. `secure`: false only on a loopback host (`avvio dev`).
pub fn set_cookie(name: &str, value: &str, max_age: i64, same_site: SameSite, http_only: bool, secure: bool) -> String {
    let same_site = match same_site {
        SameSite::Strict => "Strict",
        SameSite::Lax => "Lax",
    };
    let mut cookie = format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite={same_site}");
    if http_only {
        cookie.push_str("; HttpOnly");
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// Adds a `Set-Cookie` (from [`set_cookie`]) to `response`.
pub fn add_cookie(response: &mut axum::response::Response, cookie: &str) -> Result<(), crate::error::Failure> {
    let value = axum::http::HeaderValue::from_str(cookie).map_err(crate::error::Failure::internal)?;
    response.headers_mut().append(axum::http::header::SET_COOKIE, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn keys() -> Keys {
        Keys::new("test-app-secret")
    }

    #[test]
    fn a_sealed_session_opens_until_it_expires() {
        let key = KeyHash::of("a-key");
        let (cookie, claims) = keys().seal(&key, NOW);
        assert_eq!(keys().open(&cookie, NOW), Some(claims.clone()));
        assert_eq!(keys().open(&cookie, NOW + SESSION_SECONDS - 1), Some(claims));
        assert_eq!(keys().open(&cookie, NOW + SESSION_SECONDS), None);
    }

    #[test]
    fn the_cookie_holds_the_key_hash_never_the_key() {
        let (cookie, _) = keys().seal(&KeyHash::of("a-secret-key"), NOW);
        assert!(!cookie.contains("a-secret-key"));
        assert!(cookie.starts_with(KeyHash::of("a-secret-key").as_str()));
    }

    #[test]
    fn another_secret_or_a_changed_payload_does_not_open() {
        let (cookie, claims) = keys().seal(&KeyHash::of("a-key"), NOW);
        assert_eq!(Keys::new("another-secret").open(&cookie, NOW), None);
        let later = Claims { expires: claims.expires + 3600, ..claims };
        let (_, signature) = cookie.rsplit_once('.').unwrap();
        let forged = format!("{}.{}.{}.{signature}", later.key.as_str(), later.expires, later.nonce);
        assert_eq!(keys().open(&forged, NOW), None);
        assert_eq!(keys().open("garbage", NOW), None);
        assert_eq!(keys().open("", NOW), None);
    }

    #[test]
    fn a_csrf_token_belongs_to_its_nonce() {
        let token = keys().csrf_token("0123456789abcdef0123456789abcdef");
        assert!(keys().check_csrf("0123456789abcdef0123456789abcdef", &token));
        assert!(!keys().check_csrf("fedcba9876543210fedcba9876543210", &token));
        assert!(!keys().check_csrf("0123456789abcdef0123456789abcdef", "not-hex"));
        assert!(!keys().check_csrf("0123456789abcdef0123456789abcdef", ""));
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut headers = axum::http::HeaderMap::new();
        headers.append("cookie", "a=1; lang=it".parse().unwrap());
        headers.append("cookie", "avvio_session=x.y".parse().unwrap());
        assert_eq!(cookie(&headers, "lang"), Some("it"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("x.y"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
