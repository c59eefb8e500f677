//! Form bodies. [`Form<T, LIMIT>`] reads an `application/x-www-form-urlencoded` body of at most
//! `LIMIT` bytes into `T` (any `Deserialize`, e.g. a struct of `String` fields, or
//! `Vec<(String, String)>` to keep every field in order, as the editor's `steps[1].action.text`
//! fields need). The `csrf` field is taken out first (the session guard checked it already), so
//! `T` may `deny_unknown_fields`. Too large: a 413 page; unreadable: a 400 page with the reason.

use crate::error::Failure;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

/// The body limit of ordinary forms.
pub const FORM_LIMIT: usize = 64 * 1024;
/// The body limit of the automation editor's form (a whole document with its steps), and the
/// most any console request may send.
pub const EDITOR_FORM_LIMIT: usize = 1 << 20;

/// The name of the hidden field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// A form body read into `T`; `LIMIT` bytes at most.
#[derive(Debug)]
pub struct Form<T, const LIMIT: usize = FORM_LIMIT>(pub T);

impl<S: Send + Sync, T: DeserializeOwned, const LIMIT: usize> FromRequest<S> for Form<T, LIMIT> {
    type Rejection = Failure;

    async fn from_request(request: Request, _: &S) -> Result<Self, Failure> {
        let pairs = read_pairs(request, LIMIT).await?;
        let kept: Vec<_> = pairs.into_iter().filter(|(name, _)| name != CSRF_FIELD).collect();
        let encoded = serde_urlencoded::to_string(&kept).map_err(|e| Failure::malformed(e.to_string()))?;
        serde_urlencoded::from_str(&encoded).map(Form).map_err(|e| Failure::malformed(e.to_string()))
    }
}

/// Reads a form body of at most `limit` bytes as its fields, in order.
pub(crate) async fn read_pairs(request: Request, limit: usize) -> Result<Vec<(String, String)>, Failure> {
    let (parts, body) = request.into_parts();
    let bytes = read_body(&parts.headers, body, limit).await?;
    serde_urlencoded::from_bytes(&bytes).map_err(|e| Failure::malformed(format!("the form cannot be read: {e}")))
}

/// Reads a form body of at most `limit` bytes (413 beyond; 400 when it is not a form).
pub(crate) async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Failure> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Failure::too_large(limit));
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| Failure::too_large(limit))?;
    if !form && !bytes.is_empty() {
        return Err(Failure::malformed("send the form as application/x-www-form-urlencoded"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Toggle {
        enabled: String,
    }

    fn request(body: &str) -> Request {
        Request::post("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    #[tokio::test]
    async fn a_form_is_read_without_its_csrf_field() {
        let Form(toggle) = Form::<Toggle>::from_request(request("csrf=abc&enabled=on"), &()).await.unwrap();
        assert_eq!(toggle.enabled, "on");
    }

    #[tokio::test]
    async fn fields_keep_their_order_and_names() {
        let Form(fields) =
            Form::<Vec<(String, String)>>::from_request(request("name=Ciao&steps%5B1%5D.action.text=x+y"), &())
                .await
                .unwrap();
        assert_eq!(fields, [("name".to_string(), "Ciao".to_string()), ("steps[1].action.text".into(), "x y".into())]);
    }

    #[tokio::test]
    async fn a_form_over_its_limit_is_too_large() {
        let big = format!("enabled={}", "a".repeat(100));
        let failure = Form::<Toggle, 64>::from_request(request(&big), &()).await.unwrap_err();
        assert_eq!(failure.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn a_form_missing_a_field_is_malformed_with_the_reason() {
        let failure = Form::<Toggle>::from_request(request("other=1"), &()).await.unwrap_err();
        assert_eq!(failure.status, StatusCode::BAD_REQUEST);
        assert!(format!("{:?}", failure.detail).contains("enabled"), "{failure:?}");
    }
}
