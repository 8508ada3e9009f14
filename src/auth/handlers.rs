//! The auth endpoints: thin handlers that parse, call one domain function, render.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::extract::{Authenticated, Credential};
use super::{
    api_keys, audit, sessions, totp, users, Caller, Email, LoginAttempt, Password, RequestContext,
    Role, UserId,
};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::JsonBody;

/// Rows per audit log page when `limit` is not given.
const AUDIT_PAGE_DEFAULT: u32 = 50;

/// Mounts the auth endpoints.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/users").post(create_user).get(find_users))
        .service(web::resource("/v1/users/{id}/role").post(set_role))
        .service(web::resource("/v1/sessions").post(create_session))
        .service(web::resource("/v1/sessions/current").delete(delete_session))
        .service(web::resource("/v1/me").get(me))
        .service(web::resource("/v1/me/totp").post(start_totp))
        .service(web::resource("/v1/me/totp/confirm").post(confirm_totp))
        .service(
            web::resource("/v1/api_keys")
                .post(create_api_key)
                .get(list_api_keys),
        )
        .service(web::resource("/v1/api_keys/{id}").delete(delete_api_key))
        .service(web::resource("/v1/audit_log").get(audit_log));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignupRequest {
    email: String,
    password: String,
    role: Role,
}

async fn create_user(
    pool: web::Data<DbPool>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
    context: RequestContext,
    body: JsonBody<SignupRequest>,
) -> Result<HttpResponse, AppError> {
    limits
        .signup
        .take(context.ip.as_deref().unwrap_or("unknown"))?;
    let body = body.into_inner();
    let email = Email::parse(&body.email)?;
    let password = Password::parse(&body.password)?;
    let user = db::run(&pool, move |conn| {
        users::signup(conn, &email, &password, body.role, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::Created().json(user))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FindUsersQuery {
    email: String,
}

async fn find_users(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<FindUsersQuery>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Support])?;
    let email = Email::parse(&query.email)?;
    let found = db::run(&pool, move |conn| users::find_user_by_email(conn, &email)).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": found.into_iter().collect::<Vec<_>>() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleRequest {
    role: Role,
}

async fn set_role(
    caller: Caller,
    pool: web::Data<DbPool>,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<RoleRequest>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Operator])?;
    let target = UserId(path.into_inner());
    let role = body.into_inner().role;
    let user = db::run(&pool, move |conn| {
        users::change_role(conn, &caller, &target, role, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(user))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
    #[serde(default)]
    totp_code: Option<String>,
}

async fn create_session(
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    context: RequestContext,
    body: JsonBody<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let attempt = LoginAttempt {
        email: body.email,
        password: body.password,
        totp_code: body.totp_code,
        context,
    };
    let auth = settings.auth.clone();
    let session = db::run(&pool, move |conn| {
        sessions::login(conn, attempt, &auth, db::now())
    })
    .await?;
    Ok(HttpResponse::Created().json(session))
}

async fn delete_session(
    authenticated: Authenticated,
    pool: web::Data<DbPool>,
    context: RequestContext,
) -> Result<HttpResponse, AppError> {
    // Logging out is allowed before TOTP enrolment: ending a session is never a risk.
    let Credential::Session { session_id } = authenticated.credential else {
        return Err(AppError::unprocessable(
            "not_a_session",
            "this request was authenticated with an API key; revoke it with DELETE /v1/api_keys/{id}",
            None,
        ));
    };
    let user_id = authenticated.caller.user_id;
    db::run(&pool, move |conn| {
        sessions::logout(conn, &session_id, &user_id, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn me(caller: Caller, pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    let me = db::run(&pool, move |conn| users::get_me(conn, &caller.user_id)).await?;
    Ok(HttpResponse::Ok().json(me))
}

async fn start_totp(
    authenticated: Authenticated,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, AppError> {
    let issuer = settings.auth.totp_issuer.clone();
    let caller = authenticated.caller;
    let enrolment = db::run(&pool, move |conn| {
        totp::start_totp_enrolment(conn, &caller, &issuer, db::now())
    })
    .await?;
    Ok(HttpResponse::Created().json(enrolment))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmTotpRequest {
    code: String,
}

async fn confirm_totp(
    authenticated: Authenticated,
    pool: web::Data<DbPool>,
    context: RequestContext,
    body: JsonBody<ConfirmTotpRequest>,
) -> Result<HttpResponse, AppError> {
    let code = body.into_inner().code;
    let caller = authenticated.caller;
    db::run(&pool, move |conn| {
        totp::confirm_totp(conn, &caller, &code, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "totp_enrolled": true })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateApiKeyRequest {
    name: String,
}

async fn create_api_key(
    caller: Caller,
    pool: web::Data<DbPool>,
    context: RequestContext,
    body: JsonBody<CreateApiKeyRequest>,
) -> Result<HttpResponse, AppError> {
    let name = body.into_inner().name;
    let created = db::run(&pool, move |conn| {
        api_keys::create_api_key(conn, &caller, &name, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

async fn list_api_keys(caller: Caller, pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    let keys = db::run(&pool, move |conn| api_keys::list_api_keys(conn, &caller)).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": keys })))
}

async fn delete_api_key(
    caller: Caller,
    pool: web::Data<DbPool>,
    context: RequestContext,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let key_id = path.into_inner();
    db::run(&pool, move |conn| {
        api_keys::revoke_api_key(conn, &caller, &key_id, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<u32>,
    before: Option<String>,
}

async fn audit_log(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[])?;
    let AuditQuery { limit, before } = query.into_inner();
    let limit = limit.unwrap_or(AUDIT_PAGE_DEFAULT);
    let (records, next_before) = db::run(&pool, move |conn| {
        audit::list_audit_log(conn, limit, before.as_deref())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "data": records, "next_before": next_before })))
}
