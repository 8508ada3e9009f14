//! Operators' view of the queue: dead jobs and replaying them.

use crate::auth::policy;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::{Caller, RequestContext};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::error::ErrorBody;
use crate::http::query;
use crate::http::routes::{resource, Api};

/// Mounts the routes.
pub fn routes(api: &mut Api<'_>) {
    api.service(resource("/v1/jobs").get(list_jobs))
        .service(resource("/v1/jobs/replay").post(replay_dead))
        .service(resource("/v1/jobs/{id}/replay").post(replay_job))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(list_jobs, replay_dead, replay_job),
    tags((name = "jobs", description = "The job queue: dead jobs and replaying them"))
)]
struct Doc;

/// `{data: [job…]}`.
#[derive(Serialize, ToSchema)]
struct JobList {
    data: Vec<super::Job>,
}

/// The jobs put back in the queue; `has_more` when more dead ones remain.
#[derive(Serialize, ToSchema)]
struct Replayed {
    data: Vec<super::Job>,
    has_more: bool,
}

/// `POST /v1/jobs/replay`: every dead job back in the queue (at most
/// `JOBS_PAGE_MAX` per call; repeat for more); operators; one audit row each.
#[utoipa::path(post, path = "/v1/jobs/replay", tag = "jobs",
    responses((status = 200, body = Replayed)),
    extensions(("x-roles" = json!(["operator"]))))]
async fn replay_dead(
    caller: Caller,
    context: RequestContext,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::REPLAY_JOBS)?;
    let actor = caller.user_id.clone();
    let (replayed, more) = db::run(&pool, move |conn| {
        db::write_transaction(conn, |conn| super::replay_all_dead(conn, &actor, &context))
    })
    .await?;
    Ok(HttpResponse::Ok().json(Replayed {
        data: replayed,
        has_more: more,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `queued`, `running`, `done` or `dead` (the default).
    status: Option<String>,
    /// 1 to 100 (default 50).
    limit: Option<i64>,
}

/// `GET /v1/jobs?status=dead` (the default): operators and finance.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs",
    params(ListQuery),
    responses((status = 200, body = JobList)),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn list_jobs(
    caller: Caller,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_JOBS)?;
    let status = query::one_of(
        "status",
        query.status.as_deref(),
        &["queued", "running", "done", "dead"],
    )?
    .unwrap_or("dead")
    .to_owned();
    let limit = query::limit(query.limit, 50, super::JOBS_PAGE_MAX)?;
    let data = db::run(&pool, move |conn| super::list(conn, &status, limit)).await?;
    Ok(HttpResponse::Ok().json(JobList { data }))
}

/// `POST /v1/jobs/{id}/replay`: operators; audited.
#[utoipa::path(post, path = "/v1/jobs/{id}/replay", tag = "jobs",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job, queued again", body = super::Job),
        (status = 409, description = "`job_not_dead`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["operator"]))))]
async fn replay_job(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::REPLAY_JOBS)?;
    let id = path.into_inner();
    let actor = caller.user_id.clone();
    let job = db::run(&pool, move |conn| {
        db::write_transaction(conn, |conn| {
            super::replay_audited(conn, &id, &actor, &context)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(job))
}
