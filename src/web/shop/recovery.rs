//! The emailed links' pages: "check your email" after signing up, a new
//! verification link, the confirmation of an address (which signs a buyer
//! in), and a forgotten password's reset. Each form calls one domain
//! function (`auth::resend_verification`, `auth::verify_email`,
//! `auth::request_password_reset`, `auth::reset_password`).
//!
//! A link's `GET` only shows a button: mail scanners fetch links, and a
//! token is used once, so only the `POST` the button sends uses it.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::account::{merge_guest_cart, safe_next, signed_in_response, urlencoding};
use crate::auth::{self, Email, Password, RequestContext};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::rate_limit::RateLimits;
use crate::web::forms::{sentence, FormErrors};
use crate::web::render::{self, Caching, Chrome, Meta, PageError, PageResult};
use crate::web::visitor::Visitor;

/// "1 hour", "24 hours", "30 minutes": how long a link works.
fn lifetime(ttl: Duration) -> String {
    let minutes = ttl.as_secs() / 60;
    if minutes >= 60 && minutes.is_multiple_of(60) {
        let hours = minutes / 60;
        format!("{hours} hour{}", if hours == 1 { "" } else { "s" })
    } else {
        let minutes = minutes.max(1);
        format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
    }
}

fn is_token_invalid(error: &AppError) -> bool {
    error.code() == "token_invalid"
}

/// Errors a form shows; anything else (a server fault) is an error page.
fn shown(error: AppError) -> Result<(AppError, StatusCode), PageError> {
    let status = actix_web::ResponseError::status_code(&error);
    if status.is_client_error() {
        Ok((error, status))
    } else {
        Err(PageError(error))
    }
}

fn email_field(param: &str) -> Option<&'static str> {
    (param == "email").then_some("email")
}

// ---------------------------------------------------------------------------
// "Check your email"

#[derive(Template)]
#[template(path = "shop/email_sent.html", config = "src/web/askama.toml")]
struct SentPage {
    chrome: Chrome,
    meta: Meta,
    /// `verify` (a sign-up's link) or `reset` (a password reset's link).
    kind: &'static str,
    email: String,
    next: String,
    /// How long the link works.
    lifetime: String,
    notice: String,
}

fn sent_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    settings: &Settings,
    kind: &'static str,
    email: String,
    next: &str,
    notice: String,
) -> PageResult {
    let ttl = if kind == "verify" {
        settings.auth.email_verification_ttl
    } else {
        settings.auth.password_reset_ttl
    };
    let page = SentPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Check your email — Bazaar"),
        kind,
        email,
        next: safe_next(next),
        lifetime: lifetime(ttl),
        notice,
    };
    Ok(visitor.finish(render::page_with(
        req,
        &page,
        Caching::NoStore,
        StatusCode::OK,
        render::PAGE_CSP,
    )?))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct SentQuery {
    #[serde(default)]
    email: String,
    #[serde(default)]
    next: String,
}

/// `GET /signup/sent`: where a sign-up lands.
pub(super) async fn signup_sent(
    req: HttpRequest,
    mut visitor: Visitor,
    settings: web::Data<Settings>,
    query: web::Query<SentQuery>,
) -> PageResult {
    let query = query.into_inner();
    sent_page(
        &req,
        &mut visitor,
        &settings,
        "verify",
        query.email,
        &query.next,
        String::new(),
    )
}

#[derive(Deserialize)]
pub(super) struct EmailForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    next: String,
}

/// `POST /signup/resend`: a new verification link; the same answer whatever
/// the address.
pub(super) async fn resend(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    limits: web::Data<RateLimits>,
    context: RequestContext,
    form: web::Form<EmailForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    limits.email_sending(context.ip.as_deref()).await?;
    let email = match Email::parse(&form.email) {
        Ok(email) => email,
        Err(error) => {
            let (error, status) = shown(error)?;
            let view = VerifyView {
                state: "resend",
                token: String::new(),
                next: form.next,
                email: form.email,
                errors: FormErrors::from_error(&error, email_field),
            };
            return verify_page(&req, &mut visitor, view, status);
        }
    };
    let address = email.as_str().to_owned();
    let next = auth::local_path(Some(&form.next)).filter(|next| next != "/");
    db::run(&pool, move |conn| {
        auth::resend_verification(conn, &email, next.as_deref(), db::now())
    })
    .await?;
    let notice = format!("We sent a new link to {address}.");
    sent_page(
        &req,
        &mut visitor,
        &settings,
        "verify",
        address,
        &form.next,
        notice,
    )
}

// ---------------------------------------------------------------------------
// Confirming an address

#[derive(Template)]
#[template(path = "shop/verify_email.html", config = "src/web/askama.toml")]
struct VerifyPage {
    chrome: Chrome,
    meta: Meta,
    /// `confirm` (a button that uses the token), `invalid` (the token did
    /// not work: ask for a new link) or `resend` (ask for a new link).
    state: &'static str,
    heading: &'static str,
    token: String,
    next: String,
    email: String,
    errors: FormErrors,
}

struct VerifyView {
    state: &'static str,
    token: String,
    next: String,
    email: String,
    errors: FormErrors,
}

fn verify_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    view: VerifyView,
    status: StatusCode,
) -> PageResult {
    let heading = match view.state {
        "confirm" => "Confirm your email address",
        "invalid" => "This link no longer works",
        _ => "Get a new confirmation link",
    };
    let page = VerifyPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("{heading} — Bazaar")),
        state: view.state,
        heading,
        token: view.token,
        next: safe_next(&view.next),
        email: view.email,
        errors: view.errors,
    };
    Ok(visitor.finish(render::page_with(
        req,
        &page,
        Caching::NoStore,
        status,
        render::PAGE_CSP,
    )?))
}

fn invalid_link() -> FormErrors {
    FormErrors {
        fields: Vec::new(),
        general: Some(
            "This link has already been used, has expired or is not complete. Enter your email address to get a new one."
                .into(),
        ),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct TokenQuery {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: String,
}

/// `GET /verify-email?token=…`: the button that confirms (the token is not
/// used yet).
pub(super) async fn verify_form(
    req: HttpRequest,
    mut visitor: Visitor,
    query: web::Query<TokenQuery>,
) -> PageResult {
    let query = query.into_inner();
    let state = if query.token.is_empty() {
        "resend"
    } else {
        "confirm"
    };
    let view = VerifyView {
        state,
        token: query.token,
        next: query.next,
        email: String::new(),
        errors: FormErrors::none(),
    };
    verify_page(&req, &mut visitor, view, StatusCode::OK)
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: String,
}

/// `POST /verify-email`: the address is confirmed; a buyer is signed in and
/// their guest cart moved into their account.
pub(super) async fn verify(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    limits: web::Data<RateLimits>,
    context: RequestContext,
    form: web::Form<TokenForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    // Counted like sign-ins: a token is a credential, guesses are attempts.
    let _check = limits.sign_in_attempt(context.ip.as_deref()).await?;
    let auth_settings = settings.auth.clone();
    let guest = visitor.guest_cart.clone();
    let token = form.token.clone();
    let verified = db::run(&pool, move |conn| {
        let verified = auth::verify_email(conn, &token, &auth_settings, &context, db::now())?;
        if verified.token.is_some() {
            merge_guest_cart(conn, &verified.user, &guest)?;
        }
        Ok(verified)
    })
    .await;
    match verified {
        Ok(verified) => {
            let response = match &verified.token {
                Some(token) => {
                    signed_in_response(&visitor, &settings, verified.user.role, token, &form.next)
                }
                // Staff sign in with their second factor.
                None => render::see_other(&format!(
                    "/signin?done=verified&next={}",
                    urlencoding(&safe_next(&form.next))
                ))
                .finish(),
            };
            Ok(visitor.finish(response))
        }
        Err(error) => {
            let (error, status) = shown(error)?;
            let errors = if is_token_invalid(&error) {
                invalid_link()
            } else {
                FormErrors::from_error(&error, |_| None)
            };
            let view = VerifyView {
                state: "invalid",
                token: String::new(),
                next: form.next,
                email: String::new(),
                errors,
            };
            verify_page(&req, &mut visitor, view, status)
        }
    }
}

// ---------------------------------------------------------------------------
// A forgotten password

#[derive(Template)]
#[template(path = "shop/forgot_password.html", config = "src/web/askama.toml")]
struct ForgotPage {
    chrome: Chrome,
    meta: Meta,
    email: String,
    errors: FormErrors,
}

fn forgot_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    email: String,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let page = ForgotPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Reset your password — Bazaar"),
        email,
        errors,
    };
    Ok(visitor.finish(render::page_with(
        req,
        &page,
        Caching::NoStore,
        status,
        render::PAGE_CSP,
    )?))
}

/// `GET /forgot-password`.
pub(super) async fn forgot_form(req: HttpRequest, mut visitor: Visitor) -> PageResult {
    forgot_page(
        &req,
        &mut visitor,
        String::new(),
        FormErrors::none(),
        StatusCode::OK,
    )
}

/// `POST /forgot-password`: the same answer whatever the address.
pub(super) async fn forgot(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    limits: web::Data<RateLimits>,
    context: RequestContext,
    form: web::Form<EmailForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    limits.email_sending(context.ip.as_deref()).await?;
    let email = match Email::parse(&form.email) {
        Ok(email) => email,
        Err(error) => {
            let (error, status) = shown(error)?;
            let errors = FormErrors::from_error(&error, email_field);
            return forgot_page(&req, &mut visitor, form.email, errors, status);
        }
    };
    let address = email.as_str().to_owned();
    db::run(&pool, move |conn| {
        auth::request_password_reset(conn, &email, &context, db::now())
    })
    .await?;
    sent_page(
        &req,
        &mut visitor,
        &settings,
        "reset",
        address,
        "/",
        String::new(),
    )
}

#[derive(Template)]
#[template(path = "shop/reset_password.html", config = "src/web/askama.toml")]
struct ResetPage {
    chrome: Chrome,
    meta: Meta,
    token: String,
    /// The token did not work: only a link to ask for a new one.
    invalid: bool,
    errors: FormErrors,
}

fn reset_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    token: String,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let invalid = token.is_empty();
    let page = ResetPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(if invalid {
            "This link no longer works — Bazaar"
        } else {
            "Choose a new password — Bazaar"
        }),
        token,
        invalid,
        errors,
    };
    Ok(visitor.finish(render::page_with(
        req,
        &page,
        Caching::NoStore,
        status,
        render::PAGE_CSP,
    )?))
}

/// `GET /reset-password?token=…`: the new password's form.
pub(super) async fn reset_form(
    req: HttpRequest,
    mut visitor: Visitor,
    query: web::Query<TokenQuery>,
) -> PageResult {
    let token = query.into_inner().token;
    let errors = if token.is_empty() {
        FormErrors {
            fields: Vec::new(),
            general: Some(sentence("this link is not complete; ask for a new one")),
        }
    } else {
        FormErrors::none()
    };
    reset_page(&req, &mut visitor, token, errors, StatusCode::OK)
}

#[derive(Deserialize)]
pub(super) struct ResetForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

/// `POST /reset-password`: the new password is set, every session ends,
/// and the visitor signs in with it.
pub(super) async fn reset(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    limits: web::Data<RateLimits>,
    context: RequestContext,
    form: web::Form<ResetForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let _check = limits.sign_in_attempt(context.ip.as_deref()).await?;
    let token = form.token.clone();
    let reset = match Password::parse(&form.password) {
        Ok(password) => {
            db::run(&pool, move |conn| {
                auth::reset_password(conn, &token, &password, &context, db::now())
            })
            .await
        }
        Err(error) => Err(error),
    };
    match reset {
        Ok(_) => {
            let mut response = render::see_other("/signin?done=password_reset").finish();
            if visitor.session.is_some() {
                // Every session ended, this browser's too.
                visitor.sign_out(&mut response);
            }
            Ok(visitor.finish(response))
        }
        Err(error) => {
            let (error, status) = shown(error)?;
            if is_token_invalid(&error) {
                let errors = FormErrors {
                    fields: Vec::new(),
                    general: Some(
                        "This link has already been used, has expired or is not complete.".into(),
                    ),
                };
                return reset_page(&req, &mut visitor, String::new(), errors, status);
            }
            let errors =
                FormErrors::from_error(&error, |param| (param == "password").then_some("password"));
            reset_page(&req, &mut visitor, form.token, errors, status)
        }
    }
}
