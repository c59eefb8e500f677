//! What a handler renders with and answers by: [`Page`] (the request's relative `root`, its
//! language and texts, the CSRF token once signed in, whether htmx asked) and the answers
//! [`render`], [`Page::redirect`] and [`see_other`].
//!
//! Every link, form action, asset URL and `Location` is relative, so the console works under any
//! path prefix (an API Gateway stage: `/prod/console/...`). `root` leads from the page back to
//! `/console/`: `""` on `/console/automations`, `"../"` on `/console/automations/{id}`. An htmx
//! partial lands in the page that asked for it, so for htmx requests `root` is the asking page's
//! (`app.js` sends it as `X-Console-Root`), while `Location` headers stay relative to the request.

use crate::i18n::{LANG_COOKIE, Lang, Texts};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// The header `app.js` adds to htmx requests: the asking page's `root`.
pub const ROOT_HEADER: &str = "x-console-root";

/// The request as a page sees it. Extract it in any console handler.
#[derive(Debug, Clone)]
pub struct Page {
    /// The relative way back to `/console/` (`""`, `"../"`, ...): put it before every link,
    /// form action and asset URL.
    pub root: String,
    /// This page below `/console/`, with its query (`automations/a-1?tab=json`): where the
    /// language switch and the sign-in come back to.
    pub here: String,
    pub lang: Lang,
    pub t: &'static Texts,
    /// The session's CSRF token ("" before sign-in): every POST form carries it as the hidden
    /// field `csrf`; htmx requests send it as `X-CSRF-Token` (`app.js` reads the meta tag).
    pub csrf: String,
    /// Whether a session was verified for this request (the layout then shows the navigation).
    pub signed_in: bool,
    /// Whether htmx made the request (`HX-Request: true`): answer with the partial it swaps.
    pub htmx: bool,
    /// The navigation entry to mark as current (`"automations"`, `"contacts"`, ...); set by the handler.
    pub nav: &'static str,
    /// The way back to `/console/` from the requested URL itself: what `Location` headers start with.
    pub(crate) request_root: String,
    /// Whether the request came to a loopback host (`avvio dev`): cookies then go without `Secure`.
    pub(crate) loopback: bool,
}

impl Page {
    /// Reads a request's page facts. `uri` is the path below `/console` (as the nested router sees it).
    pub fn new(uri: &Uri, headers: &HeaderMap) -> Self {
        let tail = uri.path().trim_start_matches('/');
        let request_root = root_for(tail);
        let here = match uri.query() {
            Some(q) => format!("{tail}?{q}"),
            None => tail.to_string(),
        };
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let lang = Lang::choose(crate::session::cookie(headers, LANG_COOKIE), header("accept-language"));
        let htmx = header("hx-request") == Some("true");
        let (root, here) = match header(ROOT_HEADER).filter(|r| htmx && is_root(r)) {
            Some(doc_root) => {
                let doc_here = header("hx-current-url").and_then(|url| tail_of_url(url, doc_root)).unwrap_or(here);
                (doc_root.to_string(), doc_here)
            }
            None => (request_root.clone(), here),
        };
        let host = header("host").or_else(|| uri.host());
        Self {
            root,
            here,
            lang,
            t: lang.texts(),
            csrf: String::new(),
            signed_in: false,
            htmx,
            nav: "",
            request_root,
            loopback: host.is_some_and(is_loopback),
        }
    }

    /// The languages the header's switch offers (all but this page's).
    pub fn other_langs(&self) -> Vec<Lang> {
        Lang::ALL.into_iter().filter(|l| *l != self.lang).collect()
    }

    /// The URL of an embedded asset, by its served name (the constants of [`crate::assets`]).
    pub fn asset(&self, served: &str) -> String {
        format!("{}assets/{served}", self.root)
    }

    /// An icon of the sprite (`plus`, `trash`, `up`, `down`, `play`, `check`, `x`, `edit`), decorative:
    /// put a text or an `aria-label` beside it. In a template: `{{ page.icon("plus")|safe }}`.
    pub fn icon(&self, name: &str) -> String {
        let name: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        format!(
            r##"<svg class="icon" aria-hidden="true" focusable="false"><use href="{}#{name}"></use></svg>"##,
            self.asset(crate::assets::ICONS_SVG)
        )
    }

    /// Sends the browser to `path` (below `/console/`, e.g. `"automations"`): a 303 with a relative
    /// `Location`, or, to htmx, `HX-Redirect` (relative to the page that asked).
    pub fn redirect(&self, path: &str) -> Response {
        if self.htmx {
            let mut response = StatusCode::OK.into_response();
            if let Ok(value) = HeaderValue::from_str(&join(&self.root, path)) {
                response.headers_mut().insert("hx-redirect", value);
            }
            response
        } else {
            see_other(&join(&self.request_root, path))
        }
    }

    /// Sends the browser to the sign-in page, which brings it back here once signed in.
    pub fn sign_in_redirect(&self) -> Response {
        match safe_next(&self.here) {
            Some(here) => self.redirect(&format!("sign-in?next={}", query_encode(here))),
            None => self.redirect("sign-in"),
        }
    }

    /// Whether cookies set for this request must be `Secure` (everywhere but a loopback host).
    pub fn secure_cookies(&self) -> bool {
        !self.loopback
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = std::convert::Infallible;

    /// The page the console's layer read (and the session guard completed); read afresh outside it.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Page>().cloned().unwrap_or_else(|| Page::new(&parts.uri, &parts.headers)))
    }
}

/// Renders a template as an HTML answer with `status`; a template that fails is a 500 error page.
pub fn render_status<T: askama::Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => crate::error::Failure::internal(e).into_response(),
    }
}

/// Renders a template as a 200 HTML answer.
pub fn render<T: askama::Template>(template: &T) -> Response {
    render_status(StatusCode::OK, template)
}

/// A 303 See Other to `location` (relative to the requested URL).
pub fn see_other(location: &str) -> Response {
    let location = if location.is_empty() { "./" } else { location };
    let mut response = StatusCode::SEE_OTHER.into_response();
    let value = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("./"));
    response.headers_mut().insert(header::LOCATION, value);
    response
}

/// `root` + `path`, never empty (an empty relative URL would mean "this page").
fn join(root: &str, path: &str) -> String {
    let url = format!("{root}{path}");
    if url.is_empty() { "./".into() } else { url }
}

/// The relative way back to `/console/` from `tail`, a path below it: one `../` per `/`.
pub fn root_for(tail: &str) -> String {
    "../".repeat(tail.matches('/').count())
}

/// Whether `value` is a root: `../` a few times, or nothing.
fn is_root(value: &str) -> bool {
    value.len() <= 3 * 32 && value.len() % 3 == 0 && value.as_bytes().chunks(3).all(|c| c == b"../")
}

/// The part of a page's full URL below `/console/`, knowing its `root`: as many trailing path
/// segments as the root has `../` plus one, and the query.
fn tail_of_url(url: &str, root: &str) -> Option<String> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_and_query = &after_scheme[after_scheme.find('/')?..];
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let path = path.split('#').next().unwrap_or(path);
    let keep = root.len() / 3 + 1;
    let segments: Vec<&str> = path.split('/').collect();
    let tail = segments.get(segments.len().checked_sub(keep)?..)?.join("/");
    Some(match query {
        Some(q) => format!("{tail}?{}", q.split('#').next().unwrap_or(q)),
        None => tail,
    })
}

/// Whether a `Host` is this machine: `localhost`, `127.0.0.1` or `[::1]`, any port.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim();
    let name = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    matches!(name.to_ascii_lowercase().as_str(), "localhost" | "127.0.0.1" | "[::1]")
}

/// `next` when it is a place below `/console/` to go back to (`automations/a-1?tab=json`), not
/// somewhere else: it starts with a letter or digit, has no `//`, `..`, `\` or `:`, and only
/// URL characters. What sign-in and the language switch redirect to.
pub fn safe_next(next: &str) -> Option<&str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~/?=&%+".contains(c);
    let ok = !next.is_empty()
        && next.len() <= 512
        && next.starts_with(|c: char| c.is_ascii_alphanumeric())
        && next.chars().all(allowed)
        && !next.contains("//")
        && !next.contains("..")
        && !next.starts_with("sign-in")
        && !next.starts_with("sign-out");
    ok.then_some(next)
}

/// Percent-encodes `value` for a query parameter (all but unreserved characters and `/`).
pub fn query_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(path: &str, headers: &[(&str, &str)]) -> Page {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        Page::new(&path.parse().unwrap(), &map)
    }

    #[test]
    fn the_root_leads_back_to_the_console_from_any_depth() {
        assert_eq!(page("/", &[]).root, "");
        assert_eq!(page("/automations", &[]).root, "");
        assert_eq!(page("/automations/a-1", &[]).root, "../");
        assert_eq!(page("/automations/a-1/versions/2", &[]).root, "../../../");
        assert_eq!(page("/automations/a-1?tab=json", &[]).here, "automations/a-1?tab=json");
    }

    #[test]
    fn an_htmx_partial_takes_the_root_of_the_page_that_asked() {
        let p = page(
            "/automations/a-1/enabled",
            &[
                ("hx-request", "true"),
                ("x-console-root", ""),
                ("hx-current-url", "https://x.example/prod/console/automations?sort=name"),
            ],
        );
        assert_eq!(
            (p.root.as_str(), p.here.as_str(), p.request_root.as_str()),
            ("", "automations?sort=name", "../../")
        );
        let forged = page("/automations/a-1/enabled", &[("hx-request", "true"), ("x-console-root", "https://evil/")]);
        assert_eq!(forged.root, "../../");
    }

    #[test]
    fn only_loopback_hosts_are_loopback() {
        for host in ["localhost", "localhost:3000", "127.0.0.1:8080", "[::1]:3000", "[::1]", "LOCALHOST"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "example.com",
            "localhost.example.com",
            "127.0.0.2",
            "[::2]:80",
            "abc.execute-api.eu-south-1.amazonaws.com",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn next_stays_inside_the_console() {
        assert_eq!(safe_next("automations/a-1?tab=json"), Some("automations/a-1?tab=json"));
        for bad in ["", "/automations", "//evil.example", "https://evil.example", "../api", "a\\b", "sign-in", "a b"] {
            assert_eq!(safe_next(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_redirect_is_relative_to_the_request() {
        let response = page("/automations/a-1", &[]).redirect("sign-in");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::LOCATION], "../sign-in");
        let response = page("/automations", &[("hx-request", "true")]).redirect("automations");
        assert_eq!(response.headers()["hx-redirect"], "automations");
    }
}
