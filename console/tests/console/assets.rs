use crate::support::{attribute_values, gunzip, start};
use avvio_console::assets::{ASSETS, by_logical};
use axum::body::Body;
use axum::http::{Request, StatusCode};

#[tokio::test]
async fn assets_are_served_by_hashed_name_with_an_immutable_cache() {
    let system = start().await;
    for asset in ASSETS {
        let reply = system.get(&format!("/console/assets/{}", asset.served)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", asset.served);
        assert_eq!(reply.header("cache-control"), "public, max-age=31536000, immutable");
        assert_eq!(reply.header("content-type"), asset.content_type);
        assert_eq!(reply.header("x-content-type-options"), "nosniff");
        assert_eq!(reply.header("vary"), "Accept-Encoding");
        assert!(reply.headers.get("content-encoding").is_none(), "no gzip unless asked");
        assert_eq!(reply.bytes, asset.raw);
    }
    let css = by_logical("app.css").unwrap();
    assert!(
        css.served.starts_with("app.") && css.served.ends_with(".css") && css.served.len() == "app..css".len() + 10
    );
    assert_eq!(by_logical("app.js").unwrap().content_type, "text/javascript; charset=utf-8");
    assert_eq!(by_logical("icons.svg").unwrap().content_type, "image/svg+xml");
}

#[tokio::test]
async fn assets_are_gzipped_when_accepted_and_unzip_to_the_same_bytes() {
    let system = start().await;
    let htmx = by_logical("vendor/htmx.min.js").unwrap();
    let request = Request::get(format!("/console/assets/{}", htmx.served))
        .header("accept-encoding", "gzip, deflate, br")
        .body(Body::empty())
        .unwrap();
    let reply = system.send(request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-encoding"), "gzip");
    assert!(reply.bytes.len() < htmx.raw.len() / 2);
    assert_eq!(gunzip(&reply.bytes), htmx.raw);
}

#[tokio::test]
async fn an_unknown_or_unhashed_asset_is_an_html_404() {
    let system = start().await;
    for path in ["/console/assets/app.css", "/console/assets/app.0000000000.css", "/console/assets/LICENSE-htmx"] {
        let reply = system.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert!(reply.is_html(), "{path}");
    }
}

#[tokio::test]
async fn the_pages_link_the_assets_they_are_served_with() {
    let system = start().await;
    let page = system.signed_in().await.get("/console/automations").await.text();
    for logical in ["app.css", "app.js", "vendor/htmx.min.js", "favicon.svg"] {
        let served = by_logical(logical).unwrap().served;
        assert!(page.contains(&format!("\"assets/{served}\"")), "{logical} linked as assets/{served}");
    }
    assert!(attribute_values(&page, "href").iter().any(|h| h.contains("icons.") && h.ends_with("#plus")));
}
