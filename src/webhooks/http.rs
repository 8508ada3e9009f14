//! `POST /webhooks/stripe` and `POST /webhooks/stripe/connect`: verify, store, 200.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::group_commit::IngestQueue;
use super::signature::{self, SignatureError};
use super::{Ingested, Source};
use crate::error::{AppError, ErrorBody};
use crate::http::routes::{resource, Api};

/// Largest event body accepted (the provider's events are a few KiB).
pub const EVENT_BYTES_MAX: usize = 512 * 1024;

/// The secrets each endpoint accepts (several while one is rolled) and the
/// clock tolerance.
#[derive(Debug, Clone)]
pub struct WebhookSecrets {
    pub platform: Vec<String>,
    pub connect: Vec<String>,
    pub tolerance_s: i64,
}

/// Mounts the two endpoints, with their own body limit.
pub fn routes(api: &mut Api<'_>) {
    let limit = web::PayloadConfig::new(EVENT_BYTES_MAX);
    api.service(
        resource("/webhooks/stripe")
            .app_data(limit.clone())
            .post(platform_event),
    )
    .service(
        resource("/webhooks/stripe/connect")
            .app_data(limit)
            .post(connect_event),
    )
    .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(platform_event, connect_event),
    tags((name = "webhooks", description = "The provider's events: verified, stored, processed later"))
)]
struct Doc;

/// The answer to a verified event.
#[derive(Serialize, ToSchema)]
struct Received {
    received: bool,
    /// The event was stored before (the provider retried it).
    duplicate: bool,
}

#[utoipa::path(post, path = "/webhooks/stripe", tag = "webhooks",
    description = "The body is taken as raw bytes: the signature is over them exactly, so it is not parsed before it is verified. Signed with a platform endpoint secret.",
    params(("Stripe-Signature" = String, Header, description = "`t=<unix>,v1=<hex HMAC-SHA256 of \"t.body\">`; several `v1` while a secret is rolled")),
    request_body(content = Object, content_type = "application/json", description = "A provider event, as raw bytes (at most 512 KiB)"),
    responses(
        (status = 200, description = "Stored (or already stored)", body = Received),
        (status = 400, description = "`signature_missing`, `signature_invalid`, `signature_outside_tolerance`…; `param` is `Stripe-Signature`", body = ErrorBody),
        (status = 413, description = "`body_too_large`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: the provider retries later", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    extensions(("x-roles" = json!(["anyone"]))))]
async fn platform_event(
    req: HttpRequest,
    body: web::Bytes,
    queue: web::Data<IngestQueue>,
    secrets: web::Data<WebhookSecrets>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
) -> Result<HttpResponse, AppError> {
    receive(req, body, &queue, secrets, &limits, Source::Platform).await
}

#[utoipa::path(post, path = "/webhooks/stripe/connect", tag = "webhooks",
    description = "The body is taken as raw bytes: the signature is over them exactly, so it is not parsed before it is verified. Signed with a Connect endpoint secret (events of connected accounts).",
    params(("Stripe-Signature" = String, Header, description = "`t=<unix>,v1=<hex HMAC-SHA256 of \"t.body\">`; several `v1` while a secret is rolled")),
    request_body(content = Object, content_type = "application/json", description = "A provider event, as raw bytes (at most 512 KiB)"),
    responses(
        (status = 200, description = "Stored (or already stored)", body = Received),
        (status = 400, description = "`signature_missing`, `signature_invalid`, `signature_outside_tolerance`…; `param` is `Stripe-Signature`", body = ErrorBody),
        (status = 413, description = "`body_too_large`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: the provider retries later", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    extensions(("x-roles" = json!(["anyone"]))))]
async fn connect_event(
    req: HttpRequest,
    body: web::Bytes,
    queue: web::Data<IngestQueue>,
    secrets: web::Data<WebhookSecrets>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
) -> Result<HttpResponse, AppError> {
    receive(req, body, &queue, secrets, &limits, Source::Connect).await
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    queue: &IngestQueue,
    secrets: web::Data<WebhookSecrets>,
    limits: &crate::http::rate_limit::RateLimits,
    source: Source,
) -> Result<HttpResponse, AppError> {
    // The provider retries a 429 later, so a flood is delayed, never lost.
    let peer = crate::http::client_addr::client_ip(&req).map(|ip| ip.to_string());
    limits
        .webhooks
        .take(peer.as_deref().unwrap_or("unknown"))
        .await?;
    let header = req
        .headers()
        .get("stripe-signature")
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .unwrap_or_default();
    let keys = match source {
        Source::Platform => &secrets.platform,
        Source::Connect => &secrets.connect,
    };
    let now = chrono::Utc::now().timestamp();
    if let Err(error) = signature::verify(&body, header, keys, secrets.tolerance_s, now) {
        tracing::warn!(%error, source = ?source, "webhook refused");
        let message = match &error {
            SignatureError::OutsideTolerance => format!("{error} of {} s", secrets.tolerance_s),
            other => other.to_string(),
        };
        return Err(AppError::bad_request(
            error.code(),
            message,
            Some("Stripe-Signature".into()),
        ));
    }
    let ingested = queue.ingest(source, &body).await?;
    Ok(HttpResponse::Ok().json(Received {
        received: true,
        duplicate: ingested == Ingested::Duplicate,
    }))
}
