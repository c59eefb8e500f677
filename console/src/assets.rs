//! The embedded assets (`console/assets/**`, hashed and gzipped by `build.rs`), served at
//! `/console/assets/{served name}` with a year-long immutable cache: a changed file gets a new
//! name, so a page always links the version it was rendered with. A page names an asset by its
//! constant (`assets::APP_CSS`), which a missing file does not compile.

use crate::error::Failure;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Its path below `console/assets/` (`vendor/htmx.min.js`).
    pub logical: &'static str,
    /// The name it is served as, with its content hash (`htmx.min.0123456789.js`).
    pub served: &'static str,
    pub content_type: &'static str,
    pub raw: &'static [u8],
    /// Gzipped at build time (`None` when that is not smaller).
    pub gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The asset served as `served`.
pub fn find(served: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.served == served)
}

/// The asset at `logical` (its path below `console/assets/`).
pub fn by_logical(logical: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.logical == logical)
}

/// `GET /console/assets/{name}`.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = find(&name) else { return Failure::not_found(format!("no asset `{name}`")).into_response() };
    let gzip = asset.gzip.filter(|_| accepts_gzip(&headers));
    let mut response = gzip.unwrap_or(asset.raw).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if gzip.is_some() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Whether `Accept-Encoding` takes gzip (`gzip` or `*`, with a `q` above 0).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused =
                parts.any(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()) == Some(0.0));
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoding(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, value.parse().unwrap());
        headers
    }

    #[test]
    fn gzip_is_accepted_unless_refused() {
        assert!(accepts_gzip(&encoding("gzip, deflate, br")));
        assert!(accepts_gzip(&encoding("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(&encoding("*")));
        assert!(!accepts_gzip(&encoding("gzip;q=0")));
        assert!(!accepts_gzip(&encoding("br, identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn every_asset_has_a_hashed_name_and_a_type() {
        for asset in ASSETS {
            let hash = asset.served.split('.').rev().nth(1).unwrap();
            assert_eq!(hash.len(), 10, "{}", asset.served);
            assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(!asset.content_type.is_empty());
        }
        for name in ["app.css", "app.js", "icons.svg", "vendor/htmx.min.js"] {
            assert!(by_logical(name).is_some(), "{name}");
        }
    }
}
