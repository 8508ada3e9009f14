//! The seller's account security: API keys for the seller's own
//! integrations through `auth::create_api_key`, `list_api_keys` and
//! `revoke_api_key` (the functions behind `/v1/api_keys`), and two-step
//! sign-in through `auth::start_totp_enrolment`, `confirm_totp` and
//! `disable_totp` (behind `/v1/me/totp`). Keys and the second factor belong to the account, not to
//! a shop: every shop of the seller shows the same ones.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::workspace::{self, Frame};
use crate::auth::{self, ApiKeyCreated, BrowserSession, NewApiKey, RequestContext};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::sellers::Shop;
use crate::web::forms::FormErrors;
use crate::web::render::{self, Chrome, Meta, PageError, PageResult};
use crate::web::two_step::Enrolment;
use crate::web::visitor::Visitor;

#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct KeyForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    /// Empty for a key that does not expire.
    #[serde(default)]
    expires_in_days: String,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DisableForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    password: String,
    /// Not `code`, the enrolment form's field: each field id is the page's only one.
    #[serde(default)]
    disable_code: String,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ConfirmForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
    /// The enrolment as the page showed it, only to show it again after a
    /// wrong code: the code is checked against the stored secret.
    #[serde(default)]
    secret: String,
    #[serde(default)]
    otpauth_url: String,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct SecurityQuery {
    #[serde(default)]
    done: String,
}

/// One live key as the table shows it.
struct KeyRow {
    id: String,
    name: String,
    /// The public start of the key, to tell keys apart.
    starts_with: String,
    created: String,
    last_used: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "seller/security.html", config = "src/web/askama.toml")]
struct SecurityPage {
    chrome: Chrome,
    meta: Meta,
    frame: Frame,
    keys: Vec<KeyRow>,
    /// A key made by this very request: its secret, shown this once.
    created: Option<ApiKeyCreated>,
    form: KeyForm,
    errors: FormErrors,
    totp_enrolled: bool,
    enrolment: Option<Enrolment>,
    notice: &'static str,
    name_hint: String,
    days_hint: String,
}

/// What one answer adds to the page's stored state.
#[derive(Default)]
struct View {
    form: KeyForm,
    created: Option<ApiKeyCreated>,
    enrolment: Option<Enrolment>,
    errors: FormErrors,
    notice: &'static str,
}

fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

async fn security_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    (session, shop): (&BrowserSession, &Shop),
    view: View,
    status: StatusCode,
) -> PageResult {
    let caller = session.caller.clone();
    let (keys, me) = db::run(pool, move |conn| {
        let keys = auth::list_api_keys(conn, &caller)?;
        let me = auth::get_me(conn, &caller.user_id)?;
        Ok((keys, me))
    })
    .await?;
    let keys = keys
        .into_iter()
        .map(|key| KeyRow {
            starts_with: format!("{}{}", auth::API_KEY_PREFIX, key.prefix),
            created: crate::web::format::date(key.created_at.naive_utc()),
            last_used: key.last_used_at.map_or_else(|| "Never".to_owned(), when),
            expires: key.expires_at.map_or_else(
                || "Never".to_owned(),
                |at| crate::web::format::date(at.naive_utc()),
            ),
            id: key.id,
            name: key.name,
        })
        .collect();
    let page = SecurityPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Security — {} — Bazaar", shop.name)),
        frame: Frame::of(pool, shop, "security").await?,
        keys,
        created: view.created,
        form: view.form,
        errors: view.errors,
        totp_enrolled: me.totp_enrolled,
        enrolment: view.enrolment,
        notice: view.notice,
        name_hint: format!(
            "Up to {} characters, to tell your keys apart, like the program that uses it.",
            auth::API_KEY_NAME_CHARS_MAX
        ),
        days_hint: format!(
            "From 1 to {} days. Leave it empty for a key that works until you revoke it.",
            auth::API_KEY_DAYS_MAX
        ),
    };
    workspace::answer(req, visitor, &page, status)
}

fn here(id: &str) -> String {
    format!("/seller/shops/{id}/security")
}

/// `GET /seller/shops/{id}/security`.
pub(super) async fn show(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<SecurityQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let (session, shop) =
        match workspace::seller_shop(&visitor, &pool, id.clone(), &here(&id)).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let notice = match query.done.as_str() {
        "revoked" => "The key is revoked. Requests that use it are refused from now on.",
        "totp_on" => "Two-step sign-in is on. From now on, signing in asks for a code from your authenticator app.",
        "totp_off" => "Two-step sign-in is off. Signing in asks for your password only.",
        _ => "",
    };
    let view = View {
        notice,
        ..View::default()
    };
    security_page(
        &req,
        &mut visitor,
        &pool,
        (&session, &shop),
        view,
        StatusCode::OK,
    )
    .await
}

/// The form's number of days: empty for none.
fn expiry_days(raw: &str) -> Result<Option<u32>, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse().map(Some).map_err(|_| {
        AppError::unprocessable(
            "invalid_expiry",
            "enter the key's life as a whole number of days, or leave it empty",
            Some("expires_in_days".into()),
        )
    })
}

/// `POST /seller/shops/{id}/security/keys`: the new key's secret is in this
/// answer only (never in an address), which no cache keeps.
pub(super) async fn create_key(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    form: web::Form<KeyForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let (session, shop) =
        match workspace::seller_shop(&visitor, &pool, id.clone(), &here(&id)).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let created = match expiry_days(&form.expires_in_days) {
        Ok(expires_in_days) => {
            let request = NewApiKey {
                name: form.name.clone(),
                expires_in_days,
                session_id: Some(session.session_id.clone()),
                totp_code: None,
            };
            let caller = session.caller.clone();
            let auth_settings = settings.auth.clone();
            db::run(&pool, move |conn| {
                auth::create_api_key(conn, &caller, &request, &auth_settings, &context, db::now())
            })
            .await
        }
        Err(error) => Err(error),
    };
    let (view, status) = match created {
        Ok(created) => (
            View {
                created: Some(created),
                ..View::default()
            },
            StatusCode::OK,
        ),
        Err(error) if workspace::is_refusal(&error) => {
            let errors = FormErrors::from_error(&error, |param| match param {
                "name" => Some("name"),
                "expires_in_days" => Some("expires_in_days"),
                _ => None,
            });
            let status = actix_web::ResponseError::status_code(&error);
            (
                View {
                    form,
                    errors,
                    ..View::default()
                },
                status,
            )
        }
        Err(error) => return Err(PageError(error)),
    };
    security_page(&req, &mut visitor, &pool, (&session, &shop), view, status).await
}

/// `POST /seller/shops/{id}/security/keys/{key_id}/revoke`: another
/// account's key (or one already revoked) is the 404 page, as in the API.
pub(super) async fn revoke_key(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<(String, String)>,
    pool: web::Data<DbPool>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let (id, key_id) = path.into_inner();
    let (session, shop) =
        match workspace::seller_shop(&visitor, &pool, id.clone(), &here(&id)).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let caller = session.caller.clone();
    db::run(&pool, move |conn| {
        auth::revoke_api_key(conn, &caller, &key_id, &context, db::now())
    })
    .await?;
    let location = format!("{}?done=revoked", here(&shop.id));
    Ok(visitor.finish(render::see_other(&location).finish()))
}

/// `POST /seller/shops/{id}/security/totp`: starts (or restarts) enrolment;
/// the secret is in this answer only.
pub(super) async fn start_totp(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let (session, shop) =
        match workspace::seller_shop(&visitor, &pool, id.clone(), &here(&id)).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let caller = session.caller.clone();
    let auth_settings = settings.auth.clone();
    let started = db::run(&pool, move |conn| {
        auth::start_totp_enrolment(conn, &caller, &auth_settings, db::now())
    })
    .await;
    let (view, status) = match started {
        Ok(enrolment) => (
            View {
                enrolment: Some(Enrolment::new(enrolment.secret, enrolment.otpauth_url)),
                ..View::default()
            },
            StatusCode::OK,
        ),
        Err(error) if workspace::is_refusal(&error) => (
            View {
                errors: FormErrors::from_error(&error, |_| None),
                ..View::default()
            },
            actix_web::ResponseError::status_code(&error),
        ),
        Err(error) => return Err(PageError(error)),
    };
    security_page(&req, &mut visitor, &pool, (&session, &shop), view, status).await
}

/// `POST /seller/shops/{id}/security/totp/confirm`.
pub(super) async fn confirm_totp(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    form: web::Form<ConfirmForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let (session, shop) =
        match workspace::seller_shop(&visitor, &pool, id.clone(), &here(&id)).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let caller = session.caller.clone();
    let auth_settings = settings.auth.clone();
    let code = form.code.clone();
    let confirmed = db::run(&pool, move |conn| {
        auth::confirm_totp(conn, &caller, &auth_settings, &code, &context, db::now())
    })
    .await;
    match confirmed {
        Ok(()) => {
            let location = format!("{}?done=totp_on", here(&shop.id));
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error) if workspace::is_refusal(&error) => {
            let errors =
                FormErrors::from_error(&error, |param| (param == "code").then_some("code"));
            // Only a wrong code leaves the started enrolment to try again.
            let enrolment = if error.code() == "totp_invalid" {
                Enrolment::echoed(&form.secret, &form.otpauth_url)
            } else {
                None
            };
            let view = View {
                errors,
                enrolment,
                ..View::default()
            };
            let status = actix_web::ResponseError::status_code(&error);
            security_page(&req, &mut visitor, &pool, (&session, &shop), view, status).await
        }
        Err(error) => Err(PageError(error)),
    }
}

/// `POST /seller/shops/{id}/security/totp/disable`: the password and a
/// current code, as `POST /v1/me/totp/disable` takes them.
pub(super) async fn disable_totp(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    form: web::Form<DisableForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let (session, shop) =
        match workspace::seller_shop(&visitor, &pool, id.clone(), &here(&id)).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let caller = session.caller.clone();
    let auth_settings = settings.auth.clone();
    let disabled = db::run(&pool, move |conn| {
        auth::disable_totp(
            conn,
            &caller,
            &auth_settings,
            &form.password,
            &form.disable_code,
            &context,
            db::now(),
        )
    })
    .await;
    match disabled {
        Ok(()) => {
            let location = format!("{}?done=totp_off", here(&shop.id));
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error) if workspace::is_refusal(&error) => {
            let errors = FormErrors::from_error(&error, |param| match param {
                "password" => Some("password"),
                "code" => Some("disable_code"),
                _ => None,
            });
            let view = View {
                errors,
                ..View::default()
            };
            let status = actix_web::ResponseError::status_code(&error);
            security_page(&req, &mut visitor, &pool, (&session, &shop), view, status).await
        }
        Err(error) => Err(PageError(error)),
    }
}
