//! The auth endpoints: thin handlers that parse, call one domain function, render.

use super::policy;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::extract::{Authenticated, Credential};
use super::{
    api_keys, audit, directory, disable, sessions, totp, users, Caller, Email, LoginAttempt,
    RequestContext, Role, UserId, UserView,
};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::routes::{resource, Api};
use crate::http::JsonBody;

/// Rows per audit log page when `limit` is not given.
const AUDIT_PAGE_DEFAULT: u32 = 50;

/// Mounts the auth endpoints.
pub fn routes(api: &mut Api<'_>) {
    api.configure(super::account_http::routes)
        .service(
            resource("/v1/users")
                .post(super::account_http::create_user)
                .get(find_users),
        )
        // Before `/v1/users/{id}`: `search` is not a user id.
        .service(resource("/v1/users/search").get(search_users))
        .service(resource("/v1/users/{id}").get(user_details))
        .service(resource("/v1/users/{id}/role").post(set_role))
        .service(resource("/v1/users/{id}/disable").post(disable_user))
        .service(resource("/v1/users/{id}/enable").post(enable_user))
        .service(resource("/v1/sessions").post(create_session))
        .service(resource("/v1/sessions/current").delete(delete_session))
        .service(resource("/v1/me").get(me))
        .service(resource("/v1/me/totp").post(start_totp))
        .service(resource("/v1/me/totp/confirm").post(confirm_totp))
        .service(resource("/v1/me/totp/disable").post(disable_totp))
        .service(
            resource("/v1/api_keys")
                .post(create_api_key)
                .get(list_api_keys),
        )
        .service(resource("/v1/api_keys/{id}").delete(delete_api_key))
        .service(resource("/v1/audit_log").get(audit_log))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(
        find_users,
        search_users,
        user_details,
        set_role,
        disable_user,
        enable_user,
        create_session,
        delete_session,
        me,
        start_totp,
        confirm_totp,
        disable_totp,
        create_api_key,
        list_api_keys,
        delete_api_key,
        audit_log
    ),
    tags((name = "auth", description = "Users, sessions, API keys, TOTP, the audit log"))
)]
struct Doc;

/// `{data: [...]}`: a list that is never paged.
#[derive(Serialize, ToSchema)]
#[schema(bound = "T: ToSchema")]
struct DataList<T> {
    data: Vec<T>,
}

/// `{totp_enrolled}`: whether two-step sign-in is now on.
#[derive(Serialize, ToSchema)]
struct TotpConfirmed {
    totp_enrolled: bool,
}

/// A page of the audit log, newest first.
#[derive(Serialize, ToSchema)]
struct AuditPage {
    data: Vec<audit::AuditRecord>,
    /// Pass as `before` for the next page; `null` on the last page.
    next_before: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct FindUsersQuery {
    email: String,
}

#[utoipa::path(get, path = "/v1/users", tag = "auth",
    params(FindUsersQuery),
    responses((status = 200, description = "The user with this email, if any", body = DataList<UserView>)),
    extensions(("x-roles" = json!(["support", "operator"]))))]
async fn find_users(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<FindUsersQuery>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::FIND_USERS)?;
    let email = Email::parse(&query.email)?;
    let found = db::run(&pool, move |conn| users::find_user_by_email(conn, &email)).await?;
    Ok(HttpResponse::Ok().json(DataList {
        data: found.into_iter().collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleRequest {
    role: Role,
}

#[utoipa::path(post, path = "/v1/users/{id}/role", tag = "auth",
    params(("id" = String, Path, description = "The user's id")),
    request_body = RoleRequest,
    responses(
        (status = 200, description = "The user with the new role", body = UserView),
        (status = 409, description = "`cannot_change_own_role`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["operator"]))))]
async fn set_role(
    caller: Caller,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<RoleRequest>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::CHANGE_ROLE)?;
    let target = UserId(path.into_inner());
    let role = body.into_inner()?.role;
    let auth = settings.auth.clone();
    let user = db::run(&pool, move |conn| {
        users::change_role(conn, &caller, &target, role, &auth, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(user))
}

#[utoipa::path(get, path = "/v1/users/search", tag = "auth",
    description = "Users newest first, by part of the address (any case), role, and staleness (`stale=true`: not deleted, not disabled, no sign-in for `auth.stale_after_days`, counted from creation if never).",
    params(directory::UserSearch),
    responses(
        (status = 200, description = "A page of users", body = directory::UserPage),
        (status = 422, description = "`invalid_role`, `invalid_email_filter`, `invalid_limit` or `invalid_cursor`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["support", "operator"]))))]
async fn search_users(
    caller: Caller,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    query: web::Query<directory::UserSearch>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::FIND_USERS)?;
    let search = query.into_inner();
    let stale_after_days = settings.auth.stale_after_days;
    let page = db::run(&pool, move |conn| {
        directory::search_users(conn, &caller, &search, stale_after_days, db::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(get, path = "/v1/users/{id}", tag = "auth",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The account: role, dates, second factor, disabled state, live sessions, API keys", body = directory::UserDetails),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["support", "operator"]))))]
async fn user_details(
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::FIND_USERS)?;
    let target = UserId(path.into_inner());
    let details = db::run(&pool, move |conn| {
        directory::user_details(conn, &caller, &target, db::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(details))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DisableRequest {
    /// Why, for the audit log and other staff: one line, at most 500 characters.
    reason: String,
}

#[utoipa::path(post, path = "/v1/users/{id}/disable", tag = "auth",
    description = "Disables an account: its live sessions are revoked, its API keys refused and its sign-ins refused (`account_disabled`) until it is enabled. Audited as `user.disable`.",
    params(("id" = String, Path, description = "The user's id")),
    request_body = DisableRequest,
    responses(
        (status = 200, description = "The account, disabled", body = directory::UserSummary),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`cannot_disable_self` or `account_deleted`", body = ErrorBody),
        (status = 422, description = "`invalid_reason` (param `reason`)", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["operator"]))))]
async fn disable_user(
    caller: Caller,
    pool: web::Data<DbPool>,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<DisableRequest>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::DISABLE_USER)?;
    let target = UserId(path.into_inner());
    let reason = body.into_inner()?.reason;
    let user = db::run(&pool, move |conn| {
        disable::disable_user(conn, &caller, &target, &reason, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(user))
}

#[utoipa::path(post, path = "/v1/users/{id}/enable", tag = "auth",
    description = "Enables a disabled account again: it may sign in, and its API keys work again. Audited as `user.enable`.",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The account, enabled", body = directory::UserSummary),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`account_deleted`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["operator"]))))]
async fn enable_user(
    caller: Caller,
    pool: web::Data<DbPool>,
    context: RequestContext,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::DISABLE_USER)?;
    let target = UserId(path.into_inner());
    let user = db::run(&pool, move |conn| {
        disable::enable_user(conn, &caller, &target, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
    #[serde(default)]
    totp_code: Option<String>,
}

#[utoipa::path(post, path = "/v1/sessions", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 201, description = "A new session; the token is shown only here", body = super::SessionCreated),
        (status = 401, description = "`invalid_credentials`, `totp_required` or `totp_invalid`", body = ErrorBody),
        (status = 403, description = "`email_not_verified`, or `account_disabled` (after the right password only)", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    extensions(("x-roles" = json!(["anyone"]))))]
async fn create_session(
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
    context: RequestContext,
    body: JsonBody<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner()?;
    // Before anything about the account is read or any password hashed: a
    // flood is refused here, at the cost of a map lookup.
    let _check = limits.sign_in_attempt(context.ip.as_deref()).await?;
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

#[utoipa::path(delete, path = "/v1/sessions/current", tag = "auth",
    responses(
        (status = 204, description = "Logged out"),
        (status = 422, description = "`not_a_session`: the request was authenticated with an API key", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["buyer", "seller", "operator", "finance", "support"]))))]
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

#[utoipa::path(get, path = "/v1/me", tag = "auth",
    responses((status = 200, description = "The caller's account", body = super::Me)),
    extensions(("x-roles" = json!(["buyer", "seller", "operator", "finance", "support"]))))]
async fn me(caller: Caller, pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    let me = db::run(&pool, move |conn| users::get_me(conn, &caller.user_id)).await?;
    Ok(HttpResponse::Ok().json(me))
}

#[utoipa::path(post, path = "/v1/me/totp", tag = "auth",
    description = "Starts TOTP enrolment: a new secret each time until confirmed. Allowed before enrolment.",
    responses(
        (status = 201, description = "The secret and its otpauth URL", body = super::TotpEnrolment),
        (status = 409, description = "`totp_already_enrolled`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["buyer", "seller", "operator", "finance", "support"]))))]
async fn start_totp(
    authenticated: Authenticated,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, AppError> {
    let auth = settings.auth.clone();
    let caller = authenticated.caller;
    let enrolment = db::run(&pool, move |conn| {
        totp::start_totp_enrolment(conn, &caller, &auth, db::now())
    })
    .await?;
    Ok(HttpResponse::Created().json(enrolment))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfirmTotpRequest {
    code: String,
}

#[utoipa::path(post, path = "/v1/me/totp/confirm", tag = "auth",
    request_body = ConfirmTotpRequest,
    responses(
        (status = 200, description = "Enrolled", body = TotpConfirmed),
        (status = 409, description = "No enrolment started, or already enrolled", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["buyer", "seller", "operator", "finance", "support"]))))]
async fn confirm_totp(
    authenticated: Authenticated,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    context: RequestContext,
    body: JsonBody<ConfirmTotpRequest>,
) -> Result<HttpResponse, AppError> {
    let code = body.into_inner()?.code;
    let caller = authenticated.caller;
    let auth = settings.auth.clone();
    db::run(&pool, move |conn| {
        totp::confirm_totp(conn, &caller, &auth, &code, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(TotpConfirmed {
        totp_enrolled: true,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DisableTotpRequest {
    /// The account's password.
    password: String,
    /// A current code of the authenticator (used once, as a sign-in's).
    code: String,
}

#[utoipa::path(post, path = "/v1/me/totp/disable", tag = "auth",
    description = "Turns two-step sign-in off, with the password and a current code. A staff account must enrol again before anything else.",
    request_body = DisableTotpRequest,
    responses(
        (status = 200, description = "Two-step sign-in is off", body = TotpConfirmed),
        (status = 409, description = "`totp_not_enrolled`", body = ErrorBody),
        (status = 422, description = "`current_password_incorrect` (param `password`) or `totp_invalid` (param `code`)", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["buyer", "seller", "operator", "finance", "support"]))))]
async fn disable_totp(
    caller: Caller,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    context: RequestContext,
    body: JsonBody<DisableTotpRequest>,
) -> Result<HttpResponse, AppError> {
    let request = body.into_inner()?;
    let auth = settings.auth.clone();
    db::run(&pool, move |conn| {
        totp::disable_totp(
            conn,
            &caller,
            &auth,
            &request.password,
            &request.code,
            &context,
            db::now(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(TotpConfirmed {
        totp_enrolled: false,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateApiKeyRequest {
    name: String,
    /// Days until the key expires: staff keys 1 to 90 (default 90); seller
    /// keys 1 to 365, or omitted for a key that does not expire.
    #[serde(default)]
    expires_in_days: Option<u32>,
    /// Staff only, required: a current code of the caller's authenticator
    /// (the step up; the session must also have been signed in with a code).
    #[serde(default)]
    totp_code: Option<String>,
}

#[utoipa::path(post, path = "/v1/api_keys", tag = "auth",
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "The key, shown only here", body = super::api_keys::ApiKeyCreated),
        (status = 403, description = "`step_up_required`: staff create keys from a session signed in with a TOTP code", body = ErrorBody),
        (status = 409, description = "`api_keys_limit`: too many live keys", body = ErrorBody),
        (status = 422, description = "`invalid_name`, `invalid_expiry`, `totp_required` or `totp_invalid`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn create_api_key(
    authenticated: Authenticated,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    context: RequestContext,
    body: JsonBody<CreateApiKeyRequest>,
) -> Result<HttpResponse, AppError> {
    let session_id = match &authenticated.credential {
        Credential::Session { session_id } => Some(session_id.clone()),
        Credential::ApiKey => None,
    };
    let caller = authenticated.into_caller()?;
    // The role check `create_api_key` makes again, before the body is read.
    caller.require(&api_keys::API_KEY_ROLES)?;
    let body = body.into_inner()?;
    let request = api_keys::NewApiKey {
        name: body.name,
        expires_in_days: body.expires_in_days,
        session_id,
        totp_code: body.totp_code,
    };
    let auth = settings.auth.clone();
    let created = db::run(&pool, move |conn| {
        api_keys::create_api_key(conn, &caller, &request, &auth, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(get, path = "/v1/api_keys", tag = "auth",
    responses((status = 200, description = "The caller's live keys, never their secrets", body = DataList<super::api_keys::ApiKeyView>)),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn list_api_keys(caller: Caller, pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    let keys = db::run(&pool, move |conn| api_keys::list_api_keys(conn, &caller)).await?;
    Ok(HttpResponse::Ok().json(DataList { data: keys }))
}

#[utoipa::path(delete, path = "/v1/api_keys/{id}", tag = "auth",
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked")),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Rows per page (default 50).
    limit: Option<u32>,
    /// `next_before` of the previous page.
    before: Option<String>,
    /// Only what the account with this email did.
    actor: Option<String>,
    /// Only this action (`job.replay`).
    action: Option<String>,
    /// Only rows about this subject (an id, an email).
    subject: Option<String>,
    /// Only rows at or after this RFC 3339 instant.
    from: Option<String>,
    /// Only rows before this RFC 3339 instant.
    to: Option<String>,
}

#[utoipa::path(get, path = "/v1/audit_log", tag = "auth",
    params(AuditQuery),
    responses((status = 200, description = "Newest first", body = AuditPage)),
    extensions(("x-roles" = json!(["operator"]))))]
async fn audit_log(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_AUDIT_LOG)?;
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(AUDIT_PAGE_DEFAULT);
    let present = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
    let filter = audit::AuditFilter {
        from: crate::http::query::instant("from", query.from.as_deref())?,
        to: crate::http::query::instant("to", query.to.as_deref())?,
        actor: present(query.actor),
        action: present(query.action),
        subject: present(query.subject),
    };
    let before = query.before;
    let (records, next_before) = db::run(&pool, move |conn| {
        audit::list_audit_log_where(conn, &filter, limit, before.as_deref())
    })
    .await?;
    Ok(HttpResponse::Ok().json(AuditPage {
        data: records,
        next_before,
    }))
}
