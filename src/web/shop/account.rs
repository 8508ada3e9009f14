//! Sign up, sign in, sign out: the API's domain functions (`auth::signup`,
//! `auth::login`, `auth::logout`) with the session token in a cookie. Sign-up
//! opens no session: it answers "check your email", and the emailed link
//! (see [`super::recovery`]) signs the buyer in. A visitor's cart stays in
//! its cookie until then and is moved into the buyer's cart when a session
//! starts (sign-in or a followed verification link).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::auth::{self, LoginAttempt, RequestContext, Role, UserView};
use crate::config::Settings;
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::http::rate_limit::RateLimits;
use crate::orders::cart;
use crate::web::forms::FormErrors;
use crate::web::render::{self, Caching, Chrome, Meta, PageError, PageResult};
use crate::web::visitor::Visitor;

/// Where to go after signing in: a path on this site (the domain's rule,
/// [`auth::local_path`]), else the home page.
pub(super) fn safe_next(next: &str) -> String {
    auth::local_path(Some(next)).unwrap_or_else(|| "/".to_owned())
}

/// `next` for a link's query: empty when it is the home page.
fn next_query(next: &str) -> String {
    let next = safe_next(next);
    if next == "/" {
        String::new()
    } else {
        format!("&next={}", urlencoding(&next))
    }
}

/// Percent-encodes a query value.
pub(super) fn urlencoding(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
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
    /// A status message (password changed, address confirmed).
    notice: &'static str,
    /// The account exists but its address is not confirmed: offer a new link.
    unverified: bool,
    /// The account has two-step sign-in: the form asks for the code too.
    ask_code: bool,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct NextQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    done: String,
}

struct AccountView {
    mode: &'static str,
    email: String,
    next: String,
    errors: FormErrors,
    notice: &'static str,
    unverified: bool,
    ask_code: bool,
}

fn account_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    view: AccountView,
    status: StatusCode,
) -> PageResult {
    let heading = if view.mode == "signup" {
        "Create an account"
    } else {
        "Sign in"
    };
    let page = AccountPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("{heading} — Bazaar")),
        mode: view.mode,
        heading,
        email: view.email,
        next: safe_next(&view.next),
        errors: view.errors,
        notice: view.notice,
        unverified: view.unverified,
        ask_code: view.ask_code,
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
    let view = AccountView {
        mode: "signup",
        email: String::new(),
        next: query.next.clone(),
        errors: FormErrors::none(),
        notice: "",
        unverified: false,
        ask_code: false,
    };
    account_page(&req, &mut visitor, view, StatusCode::OK)
}

pub(super) async fn signin_form(
    req: HttpRequest,
    mut visitor: Visitor,
    query: web::Query<NextQuery>,
) -> PageResult {
    let notice = match query.done.as_str() {
        "password_reset" => "Your password has been changed. Sign in with your new password.",
        "verified" => "Your email address is confirmed. Sign in to continue.",
        _ => "",
    };
    let view = AccountView {
        mode: "signin",
        email: String::new(),
        next: query.next.clone(),
        errors: FormErrors::none(),
        notice,
        unverified: false,
        ask_code: false,
    };
    account_page(&req, &mut visitor, view, StatusCode::OK)
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
    /// The second step of signing in, for an account with two-step sign-in.
    #[serde(default)]
    totp_code: String,
}

fn account_field(param: &str) -> Option<&'static str> {
    match param {
        "email" => Some("email"),
        "password" => Some("password"),
        "totp_code" => Some("totp_code"),
        _ => None,
    }
}

/// Moves the visitor's guest cart into a buyer's cart; the caller clears
/// the cart cookie (see [`signed_in_response`]).
pub(super) fn merge_guest_cart(
    conn: &mut DbConnection,
    user: &UserView,
    guest: &[(String, i64)],
) -> Result<(), AppError> {
    if user.role == Role::Buyer && !guest.is_empty() {
        cart::merge_guest_cart(conn, &user.id.0, guest)?;
    }
    Ok(())
}

/// The answer once a session has started (by sign-in or a verification
/// link): the session cookie (as long-lived as a session of `role`), the
/// guest cart cookie cleared (it was merged), a redirect to `next`.
pub(super) fn signed_in_response(
    visitor: &Visitor,
    settings: &Settings,
    role: Role,
    token: &str,
    next: &str,
) -> HttpResponse {
    let mut response = render::see_other(&safe_next(next)).finish();
    visitor.sign_in(
        &mut response,
        token,
        auth::session_ttl(&settings.auth, role),
    );
    if !visitor.guest_cart.is_empty() {
        visitor.store_guest_cart(&mut response, &[]);
    }
    response
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
        merge_guest_cart(conn, &session.user, &guest)?;
        Ok(session)
    })
    .await?;
    Ok(signed_in_response(
        visitor,
        settings,
        session.user.role,
        &session.token,
        next,
    ))
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
    let unverified = error.code() == "email_not_verified";
    // The password was right; the page asks for it again with the code
    // rather than keep it anywhere between the two submissions.
    let ask_code = matches!(error.code(), "totp_required" | "totp_invalid");
    let errors = if ask_code {
        let message = if error.code() == "totp_required" {
            "Enter your password again and the 6-digit code from your authenticator app.".into()
        } else {
            crate::web::forms::sentence(&error.to_string())
        };
        FormErrors::field("totp_code", message)
    } else if unverified {
        FormErrors {
            fields: Vec::new(),
            general: Some(
                "Your email address is not confirmed yet. Follow the link we emailed you, or send a new link below."
                    .into(),
            ),
        }
    } else {
        FormErrors::from_error(&error, account_field)
    };
    let view = AccountView {
        mode,
        email: form.email,
        next: form.next,
        errors,
        notice: "",
        unverified,
        ask_code,
    };
    account_page(req, &mut visitor, view, status)
}

pub(super) async fn signup(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    pool: web::Data<DbPool>,
    limits: web::Data<RateLimits>,
    form: web::Form<AccountForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let next = auth::local_path(Some(&form.next)).filter(|next| next != "/");
    let accepted = auth::sign_up(
        &pool,
        &limits,
        context,
        (&form.email, &form.password),
        Role::Buyer,
        next,
    )
    .await;
    match accepted {
        Ok(accepted) => {
            let location = format!(
                "/signup/sent?email={}{}",
                urlencoding(&accepted.email),
                next_query(&form.next)
            );
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error) => refused_form(&req, visitor, "signup", form, error),
    }
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
        totp_code: Some(form.totp_code.trim().to_owned()).filter(|code| !code.is_empty()),
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
