//! The console's router over the in-memory store, with the examples' workspace and automations
//! under API key [`KEY`], called with `tower::ServiceExt::oneshot` (no socket). [`Browser`]
//! keeps cookies as a browser would and reads the CSRF token from the pages it gets.

use avvio_api::{App, IngestConfig};
use avvio_common::domain::WorkspaceId;
use avvio_common::memory::{MemoryEventQueue, MemoryStore};
use avvio_common::ports::{KeyHash, Management};
use avvio_common::validate::{check_set, read_documents};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use tower::ServiceExt;

pub const APP_SECRET: &str = "test-app-secret";
pub const KEY: &str = "key-negozio-console";
pub const WORKSPACE: &str = "negozio";

const EXAMPLE_WORKSPACE: &str = include_str!("../../../examples/workspace.json");
const EXAMPLE_AUTOMATIONS: &str = include_str!("../../../examples/automations.json");

pub struct System {
    pub router: Router,
    pub store: MemoryStore,
    pub keys: avvio_console::session::Keys,
}

/// The router with the examples' workspace and automations.
pub async fn start() -> System {
    let system = start_empty().await;
    let documents = read_documents("examples/automations.json", EXAMPLE_AUTOMATIONS).unwrap();
    let workspace = serde_json::from_str(EXAMPLE_WORKSPACE).unwrap();
    let catalog = check_set(documents, Some(&workspace)).unwrap();
    system.store.load_catalog(&workspace_id(), catalog);
    system
}

/// The router with the examples' workspace and no automation.
pub async fn start_empty() -> System {
    let store = MemoryStore::new();
    store.load_workspace(&workspace_id(), serde_json::from_str(EXAMPLE_WORKSPACE).unwrap());
    store.put_api_key(&KeyHash::of(KEY), &workspace_id()).await.unwrap();
    let (events, _) = MemoryEventQueue::new();
    let config = IngestConfig { app_secret: APP_SECRET.into(), verify_token: "verify".into() };
    let app = Arc::new(App { store: store.clone(), events, config, templates: avvio_api::MetaTemplates::meta() });
    System { router: avvio_console::router(app), store, keys: avvio_console::session::Keys::new(APP_SECRET) }
}

pub fn workspace_id() -> WorkspaceId {
    WorkspaceId::parse(WORKSPACE).unwrap()
}

/// An answer: its status, headers and body (gunzipped when it was gzipped... only if asked: see `raw`).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8(self.bytes.clone()).expect("a text body")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or_else(|| panic!("no header {name}: {self:?}"))
    }

    pub fn location(&self) -> &str {
        self.header("location")
    }

    /// The `Set-Cookie` header that sets `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    pub fn is_html(&self) -> bool {
        self.headers.get(header::CONTENT_TYPE).is_some_and(|v| v.to_str().unwrap().starts_with("text/html"))
    }

    /// The hidden `csrf` field of the page's first form.
    pub fn csrf(&self) -> String {
        let text = self.text();
        let start =
            text.find(r#"name="csrf" value=""#).expect("a form with a CSRF token") + r#"name="csrf" value=""#.len();
        text[start..].split('"').next().unwrap().to_string()
    }
}

impl System {
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec();
        Reply { status, headers, bytes }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Request::get(path).header("host", "localhost:3000").body(Body::empty()).unwrap()).await
    }

    /// A browser on `host` with no cookie yet.
    pub fn browser(&self) -> Browser<'_> {
        Browser { system: self, host: "localhost:3000".into(), cookies: BTreeMap::new(), headers: Vec::new() }
    }

    /// A browser signed in with [`KEY`].
    pub async fn signed_in(&self) -> Browser<'_> {
        let mut browser = self.browser();
        let reply = browser.sign_in(KEY).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
        browser
    }

    /// A session cookie value signed with the test secret, for `key`, expiring at `expires`.
    pub fn forge_session(&self, key: &str, expires: i64) -> String {
        let claims = avvio_console::session::Claims {
            key: KeyHash::of(key),
            expires,
            nonce: "0123456789abcdef0123456789abcdef".into(),
        };
        self.keys.seal_claims(&claims)
    }
}

/// Cookies and extra headers across requests, as a browser keeps them.
pub struct Browser<'a> {
    system: &'a System,
    pub host: String,
    pub cookies: BTreeMap<String, String>,
    /// Headers sent with every request (`Accept-Language`, htmx's).
    pub headers: Vec<(String, String)>,
}

impl Browser<'_> {
    fn request(&self, method: &str, path: &str) -> axum::http::request::Builder {
        let mut builder = Request::builder().method(method).uri(path).header("host", &self.host);
        if !self.cookies.is_empty() {
            let cookie = self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
            builder = builder.header("cookie", cookie);
        }
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder
    }

    async fn keep(&mut self, reply: Reply) -> Reply {
        for cookie in reply.headers.get_all(header::SET_COOKIE) {
            let cookie = cookie.to_str().unwrap();
            let (pair, attributes) = cookie.split_once(';').unwrap_or((cookie, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        reply
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let request = self.request("GET", path).body(Body::empty()).unwrap();
        let reply = self.system.send(request).await;
        self.keep(reply).await
    }

    /// Posts a form (`fields` urlencoded).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.post_body(path, body, &[]).await
    }

    pub async fn post_body(&mut self, path: &str, body: String, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.request("POST", path).header("content-type", "application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let reply = self.system.send(request.body(Body::from(body)).unwrap()).await;
        self.keep(reply).await
    }

    /// Opens the sign-in page and sends `key` with the form's token.
    pub async fn sign_in(&mut self, key: &str) -> Reply {
        let form = self.get("/console/sign-in").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.text());
        let csrf = form.csrf();
        self.post("/console/sign-in", &[("csrf", &csrf), ("key", key)]).await
    }

    /// The session's CSRF token, read from the automations list.
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/console/automations").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        page.csrf()
    }
}

/// Gunzips `bytes`.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// The values of every `attribute="..."` in `html`.
pub fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    let needle = format!(" {attribute}=\"");
    html.match_indices(&needle).map(|(i, _)| html[i + needle.len()..].split('"').next().unwrap().to_string()).collect()
}
