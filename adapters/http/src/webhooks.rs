//! Outbound webhooks (`send_webhook`) over HTTP: which targets may be reached
//! (the URL check, and in production a resolver that refuses names resolving
//! to private addresses), the request Avvio sends, and its retries.

use crate::{BuildError, USER_AGENT, describe};
use avvio_common::outbound::{Mode, check_webhook_url, is_public};
use avvio_common::ports::{Retry, WebhookError, WebhookPoster};
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, LOCATION};
use serde_json::Value;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The header carrying `sha256=<hex HMAC-SHA256(workspace webhook secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Avvio-Signature";
/// How long one attempt may take, connection and answer included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many requests one post makes at most.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// The delay before the first retry; each further retry waits twice as long.
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(500);
/// How long one post may take in all, its retries and their waits included: within the
/// executor's budget for one step (12 s, `batch::MESSAGE_BUDGET`), so that a slow receiver
/// never times out the Lambda invocation the step runs in.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(10);

/// Which targets [`HttpWebhookPoster`] may reach, and how hard it tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookConfig {
    /// `Production` refuses every private, loopback or link-local target, also
    /// after DNS resolution; `Local` allows plain http to loopback.
    pub mode: Mode,
    /// Limit on one attempt; default [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// Requests per post at most, the first included (0 counts as 1); default [`DEFAULT_ATTEMPTS`].
    pub attempts: u32,
    /// Delay before the first retry, doubled before each next one; default [`DEFAULT_BACKOFF`].
    pub backoff: Duration,
    /// The most one post takes, attempts and waits included; default [`DEFAULT_BUDGET`]. An
    /// attempt gets what is left of it when that is less than `timeout`, and no retry starts
    /// that could not wait its backoff and still have time left.
    pub budget: Duration,
}

impl WebhookConfig {
    /// The default timeout, attempts, backoff and budget, in `mode`.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            timeout: DEFAULT_TIMEOUT,
            attempts: DEFAULT_ATTEMPTS,
            backoff: DEFAULT_BACKOFF,
            budget: DEFAULT_BUDGET,
        }
    }
}

impl Default for WebhookConfig {
    /// [`WebhookConfig::new`] in `Mode::Production`, the safe mode.
    fn default() -> Self {
        Self::new(Mode::Production)
    }
}

/// Posts `send_webhook` bodies, retrying 5xx answers, timeouts and connection
/// errors itself.
///
/// Build it once and share it: it holds one connection pool. Redirects are
/// never followed (a redirect could point inside the network) and proxies
/// from the environment are ignored (a proxy would resolve the name instead
/// of the checked resolver).
#[derive(Debug, Clone)]
pub struct HttpWebhookPoster {
    client: reqwest::Client,
    config: WebhookConfig,
}

impl HttpWebhookPoster {
    /// Builds the HTTP client for `config.mode`: in production its names
    /// resolve through a resolver that refuses private addresses.
    pub fn new(config: WebhookConfig) -> Result<Self, BuildError> {
        Self::with_lookup(config, system_lookup)
    }

    /// [`HttpWebhookPoster::new`] with the production resolver's lookup replaced (tests).
    fn with_lookup(config: WebhookConfig, lookup: Lookup) -> Result<Self, BuildError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if config.mode == Mode::Production {
            builder = builder.dns_resolver(Arc::new(PublicOnly { lookup }));
        }
        Ok(Self { client: builder.build().map_err(BuildError::Client)?, config })
    }

    /// One request: `Ok` on 2xx, else why not and whether another attempt may succeed.
    async fn attempt(
        &self,
        target: &Url,
        payload: &str,
        signature: Option<&str>,
        timeout: Duration,
    ) -> Result<(), Failure> {
        let mut request = self
            .client
            .post(target.clone())
            .timeout(timeout)
            .header(CONTENT_TYPE, "application/json")
            .body(payload.to_owned());
        if let Some(signature) = signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let fail = |retry, message| Err(Failure { retry, message });
                if status.is_success() {
                    Ok(())
                } else if status.is_redirection() {
                    let location = response.headers().get(LOCATION).and_then(|l| l.to_str().ok()).unwrap_or("nowhere");
                    fail(Retry::Fatal, format!("answered {status} to {location}; redirects are not followed"))
                } else if status.is_server_error() {
                    fail(Retry::Retryable, format!("answered {status}"))
                } else {
                    fail(Retry::Fatal, format!("answered {status}"))
                }
            }
            Err(error) => Err(self.transport_failure(&error, timeout)),
        }
    }

    fn transport_failure(&self, error: &reqwest::Error, timeout: Duration) -> Failure {
        if let Some(refused) = find_cause::<PrivateAddress>(error) {
            Failure { retry: Retry::Fatal, message: refused.to_string() }
        } else if error.is_timeout() {
            Failure { retry: Retry::Retryable, message: format!("no answer within {timeout:?}") }
        } else if error.is_builder() {
            Failure { retry: Retry::Fatal, message: describe(error) }
        } else {
            Failure { retry: Retry::Retryable, message: describe(error) }
        }
    }
}

impl WebhookPoster for HttpWebhookPoster {
    /// Checks `url` for the mode, then posts `body.to_string()` (the bytes the
    /// caller signed) with `Content-Type: application/json`, `User-Agent:
    /// Avvio/<version>` and, when given, `X-Avvio-Signature: signature`.
    ///
    /// A refused URL, a 3xx or a 4xx is `Fatal` at once. 5xx answers, timeouts
    /// and connection errors are retried up to `attempts` requests in all,
    /// waiting `backoff`, then twice as long before each next retry; when the
    /// last one fails too the error is `Retryable`, and the caller decides
    /// whether to try the step again later or fail it.
    async fn post(&self, url: &str, body: &Value, signature: Option<&str>) -> Result<(), WebhookError> {
        let error = |retry, message| WebhookError { retry, url: url.to_owned(), message };
        let target = check_webhook_url(url, self.config.mode).map_err(|reason| error(Retry::Fatal, reason))?;
        let host = target.host_str().unwrap_or_default().to_owned();
        let payload = body.to_string();
        let attempts = self.config.attempts.max(1);
        let mut delay = self.config.backoff;
        let mut attempt = 1;
        let deadline = tokio::time::Instant::now() + self.config.budget;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let timeout = self.config.timeout.min(left).max(Duration::from_millis(1));
            let failure = match self.attempt(&target, &payload, signature, timeout).await {
                Ok(()) => {
                    tracing::debug!(%host, attempt, "webhook delivered");
                    return Ok(());
                }
                Err(failure) => failure,
            };
            if failure.retry == Retry::Fatal {
                tracing::warn!(%host, attempt, "webhook refused: {}", failure.message);
                return Err(error(Retry::Fatal, failure.message));
            }
            if attempt >= attempts {
                tracing::warn!(%host, attempts, "webhook failed, giving up: {}", failure.message);
                return Err(error(Retry::Retryable, format!("{} (after {attempts} attempts)", failure.message)));
            }
            // A retry must be able to wait its backoff and still have time for a request.
            if tokio::time::Instant::now() + delay + MIN_ATTEMPT > deadline {
                tracing::warn!(%host, attempt, "webhook failed, no time left to retry: {}", failure.message);
                let budget = self.config.budget;
                return Err(error(
                    Retry::Retryable,
                    format!("{} (after {attempt} attempts in the {budget:?} a post may take)", failure.message),
                ));
            }
            tracing::info!(%host, attempt, ?delay, "webhook failed, retrying: {}", failure.message);
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
            attempt += 1;
        }
    }
}

/// The least time worth starting a retry with.
const MIN_ATTEMPT: Duration = Duration::from_millis(500);

/// Why one attempt failed.
struct Failure {
    retry: Retry,
    message: String,
}

/// The first cause of type `E` in `error`'s chain.
fn find_cause<'a, E: std::error::Error + 'static>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a E> {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if let Some(found) = current.downcast_ref::<E>() {
            return Some(found);
        }
        cause = current.source();
    }
    None
}

/// Resolves a host name to socket addresses (port 0: the URL's port applies).
type Lookup = fn(String) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;

/// The system resolver, through tokio.
fn system_lookup(host: String) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>> {
    Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.collect()) })
}

/// The production resolver: a name resolves only when every address it has
/// is public. The connection then goes to exactly the addresses checked, so a
/// second, different DNS answer (rebinding) cannot slip in between check and
/// connect. (reqwest does not resolve IP literals: `check_webhook_url`
/// refuses private ones before.)
struct PublicOnly {
    lookup: Lookup,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.lookup;
        Box::pin(async move {
            let addrs = lookup(host.clone()).await?;
            if addrs.is_empty() {
                return Err(io::Error::new(io::ErrorKind::NotFound, format!("`{host}` resolves to no address")).into());
            }
            let addrs = all_public(&host, addrs)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A webhook host that resolves to an address Avvio must not reach.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{host}` resolves to {addr}, a private, loopback or link-local address")]
struct PrivateAddress {
    host: String,
    addr: IpAddr,
}

/// `addrs` when every one is public; else the first that is not.
fn all_public(host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, PrivateAddress> {
    match addrs.iter().find(|a| !is_public(a.ip())) {
        Some(private) => Err(PrivateAddress { host: host.to_owned(), addr: private.ip() }),
        None => Ok(addrs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn addrs(ips: &[&str]) -> Vec<SocketAddr> {
        ips.iter().map(|ip| SocketAddr::new(ip.parse().unwrap(), 0)).collect()
    }

    #[test]
    fn a_name_resolving_to_a_private_address_is_refused() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            let refused = all_public("hooks.example.com", addrs(&[private])).unwrap_err();
            assert_eq!(refused.addr, private.parse::<IpAddr>().unwrap());
        }
    }

    #[test]
    fn one_private_address_among_public_ones_is_enough_to_refuse() {
        let refused = all_public("hooks.example.com", addrs(&["93.184.215.14", "10.0.0.8"])).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "`hooks.example.com` resolves to 10.0.0.8, a private, loopback or link-local address"
        );
    }

    #[test]
    fn a_name_resolving_only_to_public_addresses_keeps_them_all() {
        let public = addrs(&["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]);
        assert_eq!(all_public("hooks.example.com", public.clone()), Ok(public));
    }

    /// A lookup that answers loopback for every name (the client then refuses
    /// before connecting; were it not to, the connection would stay on this machine).
    fn loopback_lookup(_host: String) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>> {
        Box::pin(async { Ok(vec![SocketAddr::from(([127, 0, 0, 1], 0))]) })
    }

    #[tokio::test]
    async fn in_production_a_name_resolving_to_loopback_is_fatal_without_a_retry() {
        let config = WebhookConfig { backoff: Duration::from_millis(1), ..WebhookConfig::new(Mode::Production) };
        let poster = HttpWebhookPoster::with_lookup(config, loopback_lookup).unwrap();
        let error = poster.post("https://internal.example/hook", &json!({}), None).await.unwrap_err();
        assert_eq!(error.retry, Retry::Fatal, "{error}");
        assert_eq!(
            error.message,
            "`internal.example` resolves to 127.0.0.1, a private, loopback or link-local address"
        );
    }
}
