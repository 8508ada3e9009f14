//! `POST /webhooks/stripe` and `POST /webhooks/stripe/connect`: verify, store, 200.

use actix_web::{web, HttpRequest, HttpResponse};

use super::signature::{self, SignatureError};
use super::{ingest, Ingested, Source};
use crate::db::{self, DbPool};
use crate::error::AppError;

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
pub fn routes(cfg: &mut web::ServiceConfig) {
    let limit = web::PayloadConfig::new(EVENT_BYTES_MAX);
    cfg.service(
        web::resource("/webhooks/stripe")
            .app_data(limit.clone())
            .post(platform_event),
    )
    .service(
        web::resource("/webhooks/stripe/connect")
            .app_data(limit)
            .post(connect_event),
    );
}

async fn platform_event(
    req: HttpRequest,
    body: web::Bytes,
    pool: web::Data<DbPool>,
    secrets: web::Data<WebhookSecrets>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
) -> Result<HttpResponse, AppError> {
    receive(req, body, pool, secrets, &limits, Source::Platform).await
}

async fn connect_event(
    req: HttpRequest,
    body: web::Bytes,
    pool: web::Data<DbPool>,
    secrets: web::Data<WebhookSecrets>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
) -> Result<HttpResponse, AppError> {
    receive(req, body, pool, secrets, &limits, Source::Connect).await
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    pool: web::Data<DbPool>,
    secrets: web::Data<WebhookSecrets>,
    limits: &crate::http::rate_limit::RateLimits,
    source: Source,
) -> Result<HttpResponse, AppError> {
    // The provider retries a 429 later, so a flood is delayed, never lost.
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    limits.webhooks.take(peer.as_deref().unwrap_or("unknown"))?;
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
    let ingested = db::run(&pool, move |conn| ingest(conn, source, &body)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "received": true,
        "duplicate": ingested == Ingested::Duplicate,
    })))
}
