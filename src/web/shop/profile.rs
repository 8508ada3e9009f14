//! "Your account": the signed-in visitor's address, a password change
//! (`auth::change_password`, keeping this browser's session and ending the
//! others) and, for buyers, deleting the account
//! (`accounts::delete_buyer_account`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use crate::auth::{self, BrowserSession, Password, RequestContext, Role};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::rate_limit::RateLimits;
use crate::web::forms::FormErrors;
use crate::web::render::{self, Caching, Chrome, Meta, PageError, PageResult};
use crate::web::visitor::Visitor;

const SIGN_IN_FIRST: &str = "/signin?next=/account";

#[derive(Template)]
#[template(path = "shop/profile.html", config = "src/web/askama.toml")]
struct ProfilePage {
    chrome: Chrome,
    meta: Meta,
    email: String,
    /// Only buyers delete their own account.
    deletable: bool,
    notice: &'static str,
    errors: FormErrors,
}

fn profile_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    session: &BrowserSession,
    notice: &'static str,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let page = ProfilePage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Your account — Bazaar"),
        email: session.caller.email.clone(),
        deletable: session.caller.role == Role::Buyer,
        notice,
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

#[derive(Debug, Default, Deserialize)]
pub(super) struct Flash {
    #[serde(default)]
    done: String,
}

/// `GET /account`.
pub(super) async fn show(
    req: HttpRequest,
    mut visitor: Visitor,
    flash: web::Query<Flash>,
) -> PageResult {
    let Some(session) = visitor.session.clone() else {
        return Ok(visitor.finish(render::see_other(SIGN_IN_FIRST).finish()));
    };
    let notice = match flash.done.as_str() {
        "password_changed" => "Password changed; other sessions signed out.",
        _ => "",
    };
    profile_page(
        &req,
        &mut visitor,
        &session,
        notice,
        FormErrors::none(),
        StatusCode::OK,
    )
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
}

/// `POST /account/password`.
pub(super) async fn change_password(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    limits: web::Data<RateLimits>,
    context: RequestContext,
    form: web::Form<PasswordForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let Some(session) = visitor.session.clone() else {
        return Ok(visitor.finish(render::see_other(SIGN_IN_FIRST).finish()));
    };
    let _check = limits.sign_in_attempt(context.ip.as_deref()).await?;
    let changed = match Password::parse(&form.password) {
        Ok(password) => {
            let session = session.clone();
            db::run(&pool, move |conn| {
                auth::change_password(
                    conn,
                    &session.caller,
                    Some(&session.session_id),
                    &form.current_password,
                    &password,
                    &context,
                    db::now(),
                )
            })
            .await
        }
        Err(error) => Err(error),
    };
    match changed {
        Ok(_) => Ok(visitor.finish(render::see_other("/account?done=password_changed").finish())),
        Err(error) => refused(&req, &mut visitor, &session, error, |param| match param {
            "current_password" => Some("current_password"),
            "password" => Some("new_password"),
            _ => None,
        }),
    }
}

fn refused(
    req: &HttpRequest,
    visitor: &mut Visitor,
    session: &BrowserSession,
    error: AppError,
    field_of: impl Fn(&str) -> Option<&'static str>,
) -> PageResult {
    let status = actix_web::ResponseError::status_code(&error);
    if !status.is_client_error() {
        return Err(PageError(error));
    }
    let errors = FormErrors::from_error(&error, field_of);
    profile_page(req, visitor, session, "", errors, status)
}

#[derive(Deserialize)]
pub(super) struct DeleteForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    password: String,
}

/// `POST /account/delete`: the account is deleted and every session ends.
pub(super) async fn delete(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    limits: web::Data<RateLimits>,
    context: RequestContext,
    form: web::Form<DeleteForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let Some(session) = visitor.session.clone() else {
        return Ok(visitor.finish(render::see_other(SIGN_IN_FIRST).finish()));
    };
    let _check = limits.sign_in_attempt(context.ip.as_deref()).await?;
    let caller = session.caller.clone();
    let deleted = db::run(&pool, move |conn| {
        crate::accounts::delete_buyer_account(conn, &caller, &form.password, &context, db::now())
    })
    .await;
    match deleted {
        Ok(_) => {
            let mut response = render::see_other("/account/deleted").finish();
            visitor.sign_out(&mut response);
            Ok(visitor.finish(response))
        }
        Err(error) => refused(&req, &mut visitor, &session, error, |param| {
            matches!(param, "current_password" | "password").then_some("delete_password")
        }),
    }
}

#[derive(Template)]
#[template(path = "shop/account_deleted.html", config = "src/web/askama.toml")]
struct DeletedPage {
    chrome: Chrome,
    meta: Meta,
}

/// `GET /account/deleted`.
pub(super) async fn deleted(req: HttpRequest, mut visitor: Visitor) -> PageResult {
    let page = DeletedPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Your account is deleted — Bazaar"),
    };
    Ok(visitor.finish(render::page_with(
        &req,
        &page,
        Caching::NoStore,
        StatusCode::OK,
        render::PAGE_CSP,
    )?))
}
