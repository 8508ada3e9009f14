//! The account life cycle's endpoints: sign-up, verification links,
//! password reset and change. Thin: parse, limit, call one domain function.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use super::account::{self, EmailVerified, PasswordUpdated, SignupAccepted};
use super::extract::{Authenticated, Credential};
use super::{Email, Password, RequestContext, Role};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::rate_limit::RateLimits;
use crate::http::routes::{resource, Api};
use crate::http::JsonBody;

/// Mounts the account endpoints.
pub fn routes(api: &mut Api<'_>) {
    // `POST /v1/users` is mounted with `GET` in `handlers`: one resource per path.
    api.service(resource("/v1/email_verifications").post(resend_verification))
        .service(resource("/v1/email_verifications/confirm").post(confirm_verification))
        .service(resource("/v1/password_resets").post(request_reset))
        .service(resource("/v1/password_resets/confirm").post(confirm_reset))
        .service(resource("/v1/me/password").post(change_password))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(
        create_user,
        resend_verification,
        confirm_verification,
        request_reset,
        confirm_reset,
        change_password
    ),
    tags((name = "auth", description = "Users, sessions, API keys, TOTP, the audit log"))
)]
struct Doc;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SignupRequest {
    email: String,
    /// At least 12 characters, not a common password.
    password: String,
    /// `buyer` or `seller`; staff roles are given by an operator (422 `role_not_allowed`).
    role: Role,
}

#[utoipa::path(post, path = "/v1/users", tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 202, description = "The same answer whether or not the address has an account: a link that verifies it is emailed (or, to an existing account, a notice). The account signs in once the link is followed.", body = SignupAccepted),
        (status = 422, description = "`role_not_allowed`, `invalid_email`, `password_too_short`, `password_too_long`, `password_too_common`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    extensions(("x-roles" = json!(["anyone"]))))]
pub(super) async fn create_user(
    pool: web::Data<DbPool>,
    limits: web::Data<RateLimits>,
    context: RequestContext,
    body: JsonBody<SignupRequest>,
) -> Result<HttpResponse, AppError> {
    // Public: nothing to authorise, and a refused body uses no sign-up allowance.
    let body = body.into_inner()?;
    let accepted = sign_up(
        &pool,
        &limits,
        context,
        (&body.email, &body.password),
        body.role,
        None,
    )
    .await?;
    Ok(HttpResponse::Accepted().json(accepted))
}

/// A sign-up as the API and the sign-up pages take it: the client's email
/// allowance, the address and password checked, the password hashed within
/// the concurrent-hash gate, then [`account::signup`]. `next` is where the
/// emailed link leads once followed.
///
/// # Errors
/// 429 `rate_limited`; as [`Email::parse`], [`Password::parse`] and
/// [`account::signup`].
pub async fn sign_up(
    pool: &DbPool,
    limits: &RateLimits,
    context: RequestContext,
    (email, password): (&str, &str),
    role: Role,
    next: Option<String>,
) -> Result<SignupAccepted, AppError> {
    limits.email_sending(context.ip.as_deref()).await?;
    let email = Email::parse(email)?;
    let password = Password::parse(password)?;
    let _check = limits.passwords.enter().await?;
    db::run(pool, move |conn| {
        account::signup(
            conn,
            &email,
            &password,
            role,
            next.as_deref(),
            &context,
            db::now(),
        )
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EmailRequest {
    email: String,
}

#[utoipa::path(post, path = "/v1/email_verifications", tag = "auth",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "A fresh verification link is emailed if the address has an account waiting for one; the same answer otherwise", body = SignupAccepted),
        (status = 422, description = "`invalid_email`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    extensions(("x-roles" = json!(["anyone"]))))]
async fn resend_verification(
    pool: web::Data<DbPool>,
    limits: web::Data<RateLimits>,
    context: RequestContext,
    body: JsonBody<EmailRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner()?;
    limits.email_sending(context.ip.as_deref()).await?;
    let email = Email::parse(&body.email)?;
    let answer = SignupAccepted {
        email: email.as_str().to_owned(),
        status: "verification_sent",
    };
    db::run(&pool, move |conn| {
        account::resend_verification(conn, &email, None, db::now())
    })
    .await?;
    Ok(HttpResponse::Accepted().json(answer))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    /// The `token` of the emailed link (`bzt_` + 64 hex characters).
    token: String,
}

#[utoipa::path(post, path = "/v1/email_verifications/confirm", tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "The address is verified; a session token unless the account signs in with a second factor", body = EmailVerified),
        (status = 422, description = "`token_invalid`: used, expired or unknown", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    extensions(("x-roles" = json!(["anyone"]))))]
async fn confirm_verification(
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    limits: web::Data<RateLimits>,
    context: RequestContext,
    body: JsonBody<TokenRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner()?;
    // Counted like sign-ins: a token is a credential, guesses are attempts.
    let _check = limits.sign_in_attempt(context.ip.as_deref()).await?;
    let auth = settings.auth.clone();
    let verified = db::run(&pool, move |conn| {
        account::verify_email(conn, &body.token, &auth, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(verified))
}

#[utoipa::path(post, path = "/v1/password_resets", tag = "auth",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "A single-use link to set a new password is emailed if the address has an account; the same answer otherwise", body = SignupAccepted),
        (status = 422, description = "`invalid_email`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    extensions(("x-roles" = json!(["anyone"]))))]
async fn request_reset(
    pool: web::Data<DbPool>,
    limits: web::Data<RateLimits>,
    context: RequestContext,
    body: JsonBody<EmailRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner()?;
    limits.email_sending(context.ip.as_deref()).await?;
    let email = Email::parse(&body.email)?;
    let answer = SignupAccepted {
        email: email.as_str().to_owned(),
        status: "reset_link_sent",
    };
    db::run(&pool, move |conn| {
        account::request_password_reset(conn, &email, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::Accepted().json(answer))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    /// The `token` of the emailed link.
    token: String,
    /// The new password: at least 12 characters, not a common password.
    password: String,
}

#[utoipa::path(post, path = "/v1/password_resets/confirm", tag = "auth",
    request_body = ResetRequest,
    responses(
        (status = 200, description = "The new password is set and every session of the account ended", body = PasswordUpdated),
        (status = 422, description = "`token_invalid`, `password_too_short`, `password_too_long`, `password_too_common`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    extensions(("x-roles" = json!(["anyone"]))))]
async fn confirm_reset(
    pool: web::Data<DbPool>,
    limits: web::Data<RateLimits>,
    context: RequestContext,
    body: JsonBody<ResetRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner()?;
    let _check = limits.sign_in_attempt(context.ip.as_deref()).await?;
    let password = Password::parse(&body.password)?;
    let updated = db::run(&pool, move |conn| {
        account::reset_password(conn, &body.token, &password, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(updated))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangePasswordRequest {
    current_password: String,
    /// The new password: at least 12 characters, not a common password.
    password: String,
}

#[utoipa::path(post, path = "/v1/me/password", tag = "auth",
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "The new password is set; every other session of the account ended (this one stays)", body = PasswordUpdated),
        (status = 422, description = "`current_password_incorrect`, `password_too_short`, `password_too_long`, `password_too_common`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    extensions(("x-roles" = json!(["buyer", "seller", "operator", "finance", "support"]))))]
async fn change_password(
    authenticated: Authenticated,
    pool: web::Data<DbPool>,
    limits: web::Data<RateLimits>,
    context: RequestContext,
    body: JsonBody<ChangePasswordRequest>,
) -> Result<HttpResponse, AppError> {
    let session_id = match &authenticated.credential {
        Credential::Session { session_id } => Some(session_id.clone()),
        Credential::ApiKey => None,
    };
    let caller = authenticated.into_caller()?;
    let body = body.into_inner()?;
    let _check = limits.sign_in_attempt(context.ip.as_deref()).await?;
    let password = Password::parse(&body.password)?;
    let updated = db::run(&pool, move |conn| {
        account::change_password(
            conn,
            &caller,
            session_id.as_deref(),
            &body.current_password,
            &password,
            &context,
            db::now(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(updated))
}
