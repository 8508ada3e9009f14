//! Sign up, sign in, sign out: the API's domain functions (`auth::signup`,
//! `auth::login`, `auth::logout`) with the session token in a cookie. A
//! visitor's cart is moved into the buyer's cart when they sign in or up.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::auth::{self, Email, LoginAttempt, Password, RequestContext, Role};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::rate_limit::RateLimits;
use crate::orders::cart;
use crate::web::forms::FormErrors;
use crate::web::render::{self, Caching, Chrome, Meta, PageError, PageResult};
use crate::web::visitor::Visitor;

/// Where to go after signing in: a path on this site, never another site.
fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() <= 512
        && !next.chars().any(char::is_control);
    if ok {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

#[derive(Template)]
#[template(path = "shop/account.html", config = "src/web/askama.toml")]
struct AccountPage {
    chrome: Chrome,
    meta: Meta,
    /// `signup` or `signin`.
    mode: &'static str,
    heading: &'static str,
    email: String,
    next: String,
    errors: FormErrors,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct NextQuery {
    #[serde(default)]
    next: String,
}

fn account_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    mode: &'static str,
    email: String,
    next: &str,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let heading = if mode == "signup" {
        "Create an account"
    } else {
        "Sign in"
    };
    let page = AccountPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("{heading} — Bazaar")),
        mode,
        heading,
        email,
        next: safe_next(next),
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

pub(super) async fn signup_form(
    req: HttpRequest,
    mut visitor: Visitor,
    query: web::Query<NextQuery>,
) -> PageResult {
    account_page(
        &req,
        &mut visitor,
        "signup",
        String::new(),
        &query.next,
        FormErrors::none(),
        StatusCode::OK,
    )
}

pub(super) async fn signin_form(
    req: HttpRequest,
    mut visitor: Visitor,
    query: web::Query<NextQuery>,
) -> PageResult {
    account_page(
        &req,
        &mut visitor,
        "signin",
        String::new(),
        &query.next,
        FormErrors::none(),
        StatusCode::OK,
    )
}

#[derive(Deserialize)]
pub(super) struct AccountForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

fn account_field(param: &str) -> Option<&'static str> {
    match param {
        "email" => Some("email"),
        "password" => Some("password"),
        _ => None,
    }
}

/// Signs in through `auth::login`, moves the guest cart, sets the cookie and
/// goes to `next`.
async fn start_session(
    visitor: &Visitor,
    pool: &DbPool,
    settings: &Settings,
    limits: &RateLimits,
    attempt: LoginAttempt,
    next: &str,
) -> Result<HttpResponse, AppError> {
    let _check = limits
        .sign_in_attempt(attempt.context.ip.as_deref())
        .await?;
    let auth_settings = settings.auth.clone();
    let guest = visitor.guest_cart.clone();
    let session = db::run(pool, move |conn| {
        let session = auth::login(conn, attempt, &auth_settings, db::now())?;
        if session.user.role == Role::Buyer && !guest.is_empty() {
            cart::merge_guest_cart(conn, &session.user.id.0, &guest)?;
        }
        Ok(session)
    })
    .await?;
    let mut response = render::see_other(&safe_next(next)).finish();
    visitor.sign_in(&mut response, &session.token, settings.auth.session_ttl);
    if !visitor.guest_cart.is_empty() {
        visitor.store_guest_cart(&mut response, &[]);
    }
    Ok(response)
}

fn refused_form(
    req: &HttpRequest,
    mut visitor: Visitor,
    mode: &'static str,
    form: AccountForm,
    error: AppError,
) -> PageResult {
    let status = actix_web::ResponseError::status_code(&error);
    if !status.is_client_error() {
        return Err(PageError(error));
    }
    let mut errors = FormErrors::from_error(&error, account_field);
    if error.code() == "email_taken" {
        errors = FormErrors::field(
            "email",
            "An account with this email already exists. Sign in instead, or use another email.",
        );
    }
    account_page(
        req,
        &mut visitor,
        mode,
        form.email,
        &form.next,
        errors,
        status,
    )
}

pub(super) async fn signup(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    limits: web::Data<RateLimits>,
    form: web::Form<AccountForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    limits
        .signup
        .take(context.ip.as_deref().unwrap_or("unknown"))?;
    let created = match (Email::parse(&form.email), Password::parse(&form.password)) {
        (Ok(email), Ok(password)) => {
            let context = context.clone();
            let _check = limits.passwords.enter().await?;
            db::run(&pool, move |conn| {
                auth::signup(conn, &email, &password, Role::Buyer, &context, db::now())
            })
            .await
            .map(|_| ())
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    if let Err(error) = created {
        return refused_form(&req, visitor, "signup", form, error);
    }
    let attempt = LoginAttempt {
        email: form.email.clone(),
        password: form.password.clone(),
        totp_code: None,
        context,
    };
    let response = start_session(&visitor, &pool, &settings, &limits, attempt, &form.next).await?;
    Ok(visitor.finish(response))
}

pub(super) async fn signin(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    limits: web::Data<RateLimits>,
    form: web::Form<AccountForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let attempt = LoginAttempt {
        email: form.email.clone(),
        password: form.password.clone(),
        totp_code: None,
        context,
    };
    match start_session(&visitor, &pool, &settings, &limits, attempt, &form.next).await {
        Ok(response) => Ok(visitor.finish(response)),
        Err(error) => refused_form(&req, visitor, "signin", form, error),
    }
}

#[derive(Deserialize)]
pub(super) struct SignoutForm {
    #[serde(default)]
    csrf_token: String,
}

pub(super) async fn signout(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    pool: web::Data<DbPool>,
    form: web::Form<SignoutForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    if let Some(session) = visitor.session.clone() {
        db::run(&pool, move |conn| {
            auth::logout(
                conn,
                &session.session_id,
                &session.caller.user_id,
                &context,
                db::now(),
            )
        })
        .await?;
    }
    let mut response = render::see_other("/").finish();
    visitor.sign_out(&mut response);
    Ok(visitor.finish(response))
}
