//! The HTTP edge shared by every module: request ids and access logs, metrics,
//! the JSON extractor, framework errors in the API's error shape, and the
//! process probes (`/healthz`, `/readyz`, `/metrics`).

pub mod client_addr;
pub mod csv;
pub mod json;
pub mod metrics;
pub mod overload;
pub mod probes;
pub mod query;
pub mod rate_limit;
pub mod routes;
pub mod slow_clients;
pub mod text;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::{ErrorHandlerResponse, Next};
use actix_web::{web, HttpMessage, HttpResponse};
use tracing::Instrument;

use crate::error::{AppError, ErrorBody};
pub use json::{BodyLimit, JsonBody};
pub use metrics::Metrics;

/// Longest `Idempotency-Key` header we accept.
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 255;

/// The `Idempotency-Key` header, checked.
///
/// # Errors
/// 400 `idempotency_key_required` when absent or empty; 400
/// `invalid_idempotency_key` when too long or not printable ASCII.
pub fn idempotency_key(header: Option<&str>) -> Result<String, AppError> {
    let key = header.map(str::trim).unwrap_or_default();
    if key.is_empty() {
        return Err(AppError::bad_request(
            "idempotency_key_required",
            "send an Idempotency-Key header (a unique value per checkout, refund or adjustment, e.g. a UUID)",
            Some("Idempotency-Key".into()),
        ));
    }
    if key.len() > IDEMPOTENCY_KEY_CHARS_MAX || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AppError::bad_request(
            "invalid_idempotency_key",
            format!(
                "Idempotency-Key is 1 to {IDEMPOTENCY_KEY_CHARS_MAX} printable ASCII characters"
            ),
            Some("Idempotency-Key".into()),
        ));
    }
    Ok(key.to_owned())
}

/// [`idempotency_key`] read from a request's headers.
///
/// # Errors
/// As [`idempotency_key`].
pub fn idempotency_key_of(req: &actix_web::HttpRequest) -> Result<String, AppError> {
    idempotency_key(
        req.headers()
            .get("idempotency-key")
            // Not visible ASCII: refused as invalid, not as missing.
            .map(|v| v.to_str().unwrap_or("\u{0}")),
    )
}

/// Whether `If-None-Match` names `etag` (or is `*`). Weak comparison, as RFC
/// 9110 prescribes for this header, so a `W/` prefix added by a proxy matches.
pub fn not_modified(req: &actix_web::HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// The header a request id is read from and echoed in.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A caller's id longer than this, or with other characters, is replaced.
const REQUEST_ID_CHARS_MAX: usize = 64;

/// The id of the request being served; every log line inside it carries it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn accepted_request_id(value: &HeaderValue) -> Option<String> {
    let value = value.to_str().ok()?;
    let ok = !value.is_empty()
        && value.len() <= REQUEST_ID_CHARS_MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| value.to_owned())
}

/// Outermost middleware: gives the request an id (the caller's `X-Request-Id` if
/// it is sane, else a new one), runs it inside a span carrying that id, echoes
/// the id in the response, logs one access line and records the metrics.
///
/// # Errors
/// Only what the inner service returns.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(accepted_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().to_string();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let span = tracing::info_span!("request", request_id = %request_id, %method, %route);
    let mut response = next.call(req).instrument(span.clone()).await?;
    let elapsed = started.elapsed();
    let status = response.status();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    if let Some(metrics) = metrics {
        metrics.observe(&method, &route, status.as_u16(), elapsed);
    }
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            "request finished"
        );
    });
    Ok(response)
}

/// Rewrites error responses produced by the framework itself (unknown route,
/// wrong method, bad path or query) into the API's JSON error shape; responses
/// that are already JSON — our own `AppError`s — pass untouched.
///
/// # Errors
/// Never; the signature is the one `ErrorHandlers` expects.
pub fn framework_error_to_json<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Our own answers (the API's JSON errors, the web layer's error pages)
    // are already in their final shape.
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value.starts_with("application/json") || value.starts_with("text/html")
        });
    if is_ours {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (
            AppError::RouteNotFound.code(),
            AppError::RouteNotFound.to_string(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            AppError::MethodNotAllowed.code(),
            AppError::MethodNotAllowed.to_string(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "request body is too large".to_owned()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "this content type is not accepted here".to_owned(),
        ),
        status if status.is_server_error() => ("internal_error", "internal error".to_owned()),
        status => (
            "bad_request",
            status
                .canonical_reason()
                .unwrap_or("bad request")
                .to_lowercase(),
        ),
    };
    let (request, _) = response.into_parts();
    let rewritten = HttpResponse::build(status).json(ErrorBody::new(code, &message, None));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, rewritten).map_into_right_body(),
    ))
}

/// The JSON error for a path segment that does not parse (`/v1/orders/not-a-number`):
/// a 404, since no resource has that id.
pub fn path_error(
    error: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    tracing::debug!(%error, "unparseable path segment");
    AppError::NotFound {
        resource: "resource",
    }
    .into()
}

/// The JSON error for a query string that does not parse.
pub fn query_error(
    error: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    AppError::bad_request(
        "invalid_query",
        format!("the query string is invalid: {error}"),
        None,
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        let etag = "\"abc\"";
        let req = |value: &str| {
            TestRequest::default()
                .insert_header((header::IF_NONE_MATCH, value))
                .to_http_request()
        };
        assert!(not_modified(&req("\"x\", \"abc\""), etag));
        assert!(not_modified(&req("W/\"abc\""), etag));
        assert!(not_modified(&req("*"), etag));
        assert!(!not_modified(&req("\"abcd\""), etag));
        assert!(!not_modified(
            &TestRequest::default().to_http_request(),
            etag
        ));
    }
}
