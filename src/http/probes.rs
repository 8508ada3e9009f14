//! Process probes for orchestrators and scrapers.

use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection;
use serde::Serialize;

use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::Metrics;

/// `GET /healthz`: the process is up and serving. Touches nothing else, so a
/// database outage does not get the process restarted for nothing.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// What `/readyz` reports when the instance can take traffic.
#[derive(Debug, Serialize)]
pub struct Readiness {
    pub status: &'static str,
    pub database: &'static str,
    pub migrations_pending: usize,
    pub instance_id: Option<String>,
}

/// `GET /readyz`: the database answers and every embedded migration is applied.
///
/// # Errors
/// 503 `service_unavailable` when the database cannot be reached or migrations are pending.
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

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(metrics: web::Data<Metrics>, pool: web::Data<DbPool>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render(&pool))
}
