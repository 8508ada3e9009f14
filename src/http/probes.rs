//! Process probes for orchestrators and scrapers.

use actix_web::{web, HttpRequest, HttpResponse};
use diesel::connection::SimpleConnection;
use serde::Serialize;

use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::Metrics;

/// The probes' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, metrics))]
struct Doc;

/// The probes' part of the OpenAPI document.
pub fn part() -> utoipa::openapi::OpenApi {
    <Doc as utoipa::OpenApi>::openapi()
}

/// What `/healthz` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// `GET /healthz`: the process is up and serving. Touches nothing else, so a
/// database outage does not get the process restarted for nothing.
#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, body = Health)),
    extensions(("x-roles" = json!(["anyone"]))))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// What `/readyz` reports when the instance can take traffic.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Always `ready` (otherwise the answer is a 503 error).
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    pub migrations_pending: usize,
    pub instance_id: Option<String>,
}

/// `GET /readyz`: the database answers and every embedded migration is applied.
///
/// # Errors
/// 503 `service_unavailable` when the database cannot be reached or migrations are pending.
#[utoipa::path(get, path = "/readyz", tag = "probes",
    responses((status = 200, body = Readiness)),
    extensions(("x-roles" = json!(["anyone"]))))]
pub async fn readyz(pool: web::Data<DbPool>) -> Result<web::Json<Readiness>, AppError> {
    let readiness = db::run(&pool, |conn| {
        conn.batch_execute("SELECT 1")?;
        let migrations_pending =
            db::pending_migrations(conn).map_err(|e| AppError::Unavailable {
                message: format!("cannot read the migration state: {e}"),
            })?;
        if migrations_pending > 0 {
            return Err(AppError::Unavailable {
                message: format!(
                    "{migrations_pending} database migrations are pending; run `bazaar migrate`"
                ),
            });
        }
        Ok(Readiness {
            status: "ready",
            database: conn.backend(),
            migrations_pending,
            instance_id: db::instance_id(conn)?,
        })
    })
    .await?;
    Ok(web::Json(readiness))
}

/// `GET /metrics`: Prometheus text format, for scrapers only (see
/// [`crate::http::metrics::authorize`]).
///
/// # Errors
/// 404 off the metrics listener or to a client elsewhere; 401 without the token.
#[utoipa::path(get, path = "/metrics", tag = "probes",
    description = "For scrapers: on the `server.metrics_bind` listener, with the `server.metrics_token` bearer token, or (neither configured) from this machine only; 404 to anyone else.",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = 401, description = "`unauthenticated`: `server.metrics_token` is set and the request does not carry it", body = crate::error::ErrorBody),
        (status = 404, description = "Not served to this client or on this listener: the answer of a path with no route", body = crate::error::ErrorBody),
    ),
    extensions(("x-roles" = json!(["anyone"]))))]
pub async fn metrics(
    req: HttpRequest,
    metrics: web::Data<Metrics>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    crate::http::metrics::authorize(&req)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render(&pool)))
}
