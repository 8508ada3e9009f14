//! The console's users: the list and its search (`auth::search_users`,
//! behind `GET /v1/users/search`), the stale accounts (the same search with
//! `stale`), and one user's page (`auth::user_details`, behind `GET
//! /v1/users/{id}`) with its forms: change the role (`auth::change_role`),
//! disable (`auth::disable_user`) and enable (`auth::enable_user`), each
//! shown only to a role that may, and checked again by its handler.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::console::{self, Console};
use crate::auth::{self, policy, BrowserSession, RequestContext, Role, UserId, UserSearch};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::web::forms::FormErrors;
use crate::web::render::{self, Chrome, Meta, PageError, PageResult};
use crate::web::seller::workspace::{encode, is_refusal};
use crate::web::visitor::Visitor;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ops/users").get(list))
        .service(web::resource("/ops/users/stale").get(stale))
        .service(web::resource("/ops/users/{id}").get(show))
        .service(web::resource("/ops/users/{id}/role").post(change_role))
        .service(web::resource("/ops/users/{id}/disable").post(disable))
        .service(web::resource("/ops/users/{id}/enable").post(enable));
}

/// A role as the console names it.
fn role_label(role: Role) -> &'static str {
    match role {
        Role::Buyer => "Buyer",
        Role::Seller => "Seller",
        Role::Operator => "Operator",
        Role::Finance => "Finance",
        Role::Support => "Support",
    }
}

/// An instant to the minute.
fn when(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

fn user_href(id: &UserId) -> String {
    format!("/ops/users/{}", encode(id.as_str()))
}

/// An account's state in words (never a colour alone).
fn state_label(user: &auth::UserSummary) -> &'static str {
    if user.deleted_at.is_some() {
        "Deleted"
    } else if user.disabled_at.is_some() {
        "Disabled"
    } else {
        "Active"
    }
}

/// One row of a list.
struct Row {
    href: String,
    email: String,
    role: &'static str,
    created: String,
    last_sign_in: String,
    state: &'static str,
}

impl Row {
    fn of(user: &auth::UserSummary) -> Self {
        Self {
            href: user_href(&user.id),
            email: user.email.clone(),
            role: role_label(user.role),
            created: when(user.created_at),
            last_sign_in: user
                .last_sign_in_at
                .map_or_else(|| "Never".to_owned(), when),
            state: state_label(user),
        }
    }
}

/// An option of a role select.
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

fn role_choices(selected: &str) -> Vec<Choice> {
    Role::ALL
        .into_iter()
        .map(|role| Choice {
            value: role.as_str(),
            label: role_label(role),
            selected: role.as_str() == selected,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "ops/users.html", config = "src/web/askama.toml")]
struct UsersPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    heading: &'static str,
    /// The stale list has no search form, only its explanation.
    stale: bool,
    stale_after_days: u32,
    email_contains: String,
    choices: Vec<Choice>,
    errors: FormErrors,
    rows: Vec<Row>,
    filtered: bool,
    next: Option<String>,
}

/// The list's address with the search (and `after`) in its query.
fn list_href(base: &str, search: &UserSearch, after: Option<&str>) -> String {
    let mut query = Vec::new();
    if let Some(text) = search.email_contains.as_deref().filter(|t| !t.is_empty()) {
        query.push(format!("email_contains={}", encode(text)));
    }
    if let Some(role) = search.role.as_deref().filter(|r| !r.is_empty()) {
        query.push(format!("role={}", encode(role)));
    }
    if let Some(after) = after {
        query.push(format!("after={}", encode(after)));
    }
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", query.join("&"))
    }
}

async fn list_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    settings: &Settings,
    (session, here): (&BrowserSession, &'static str),
    search: UserSearch,
) -> PageResult {
    let caller = session.caller.clone();
    let stale_after_days = settings.auth.stale_after_days;
    let query = search.clone();
    let found = db::run(pool, move |conn| {
        auth::search_users(conn, &caller, &query, stale_after_days, db::now())
    })
    .await;
    let (rows, next, errors, status) = match found {
        Ok(page) => (
            page.data.iter().map(Row::of).collect(),
            page.next_after
                .as_deref()
                .map(|after| list_href(here, &search, Some(after))),
            FormErrors::none(),
            StatusCode::OK,
        ),
        Err(error) if is_refusal(&error) && error.param().is_some() => {
            let errors = FormErrors::from_error(&error, |param| match param {
                "email_contains" => Some("email_contains"),
                "role" => Some("role"),
                _ => None,
            });
            let status = actix_web::ResponseError::status_code(&error);
            (Vec::new(), None, errors, status)
        }
        Err(error) => return Err(PageError(error)),
    };
    let heading = if search.stale {
        "Stale accounts"
    } else {
        "Users"
    };
    let page = UsersPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("{heading} — Console — Bazaar")),
        console: Console::of(&session.caller, "users"),
        heading,
        stale: search.stale,
        stale_after_days,
        email_contains: search.email_contains.clone().unwrap_or_default(),
        choices: role_choices(search.role.as_deref().unwrap_or_default()),
        errors,
        rows,
        filtered: search
            .email_contains
            .as_deref()
            .is_some_and(|t| !t.is_empty())
            || search.role.as_deref().is_some_and(|r| !r.is_empty())
            || search.after.is_some(),
        next,
    };
    console::answer(req, visitor, &page, status)
}

/// `GET /ops/users?email_contains=&role=&after=`.
pub(super) async fn list(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    query: web::Query<UserSearch>,
) -> PageResult {
    let session = match console::staff(&visitor, "/ops/users", policy::FIND_USERS) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let search = UserSearch {
        stale: false,
        ..query.into_inner()
    };
    list_page(
        &req,
        &mut visitor,
        &pool,
        &settings,
        (&session, "/ops/users"),
        search,
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StaleQuery {
    #[serde(default)]
    after: Option<String>,
}

/// `GET /ops/users/stale?after=`.
pub(super) async fn stale(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    query: web::Query<StaleQuery>,
) -> PageResult {
    let session = match console::staff(&visitor, "/ops/users/stale", policy::FIND_USERS) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let search = UserSearch {
        stale: true,
        after: query.into_inner().after,
        ..UserSearch::default()
    };
    list_page(
        &req,
        &mut visitor,
        &pool,
        &settings,
        (&session, "/ops/users/stale"),
        search,
    )
    .await
}

/// A live session as the page shows it.
struct SessionRow {
    created: String,
    expires: String,
    ip: String,
}

/// An API key as the page shows it.
struct KeyRow {
    name: String,
    starts_with: String,
    created: String,
    last_used: String,
    expires: String,
    revoked: String,
}

#[derive(Template)]
#[template(path = "ops/user.html", config = "src/web/askama.toml")]
struct UserPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    id: String,
    email: String,
    role: &'static str,
    created: String,
    verified: String,
    totp: &'static str,
    last_sign_in: String,
    state: &'static str,
    disabled_since: String,
    disabled_reason: String,
    sessions: Vec<SessionRow>,
    keys: Vec<KeyRow>,
    notice: &'static str,
    errors: FormErrors,
    /// The forms this staff member may use on this account.
    may_change_role: bool,
    may_disable: bool,
    /// Why the forms are not offered, when the role would allow them.
    own_account: bool,
    deleted: bool,
    disabled: bool,
    choices: Vec<Choice>,
    reason: String,
    reason_hint: String,
}

/// What one answer adds to the stored account.
#[derive(Default)]
struct View {
    notice: &'static str,
    errors: FormErrors,
    /// The role the form asked for, to select it again after a refusal.
    role: Option<String>,
    reason: String,
}

async fn user_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    session: &BrowserSession,
    id: UserId,
    view: View,
    status: StatusCode,
) -> PageResult {
    let caller = session.caller.clone();
    let details = db::run(pool, move |conn| {
        auth::user_details(conn, &caller, &id, db::now())
    })
    .await?;
    let console = Console::of(&session.caller, "users");
    let user = &details.user;
    let selected = view.role.unwrap_or_else(|| user.role.as_str().to_owned());
    let page = UserPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("{} — Users — Console — Bazaar", user.email)),
        may_change_role: console.may(policy::CHANGE_ROLE),
        may_disable: console.may(policy::DISABLE_USER),
        own_account: session.caller.user_id == user.id,
        deleted: user.deleted_at.is_some(),
        disabled: user.disabled_at.is_some(),
        console,
        id: user.id.as_str().to_owned(),
        email: user.email.clone(),
        role: role_label(user.role),
        created: when(user.created_at),
        verified: details
            .email_verified_at
            .map_or_else(|| "Not yet".to_owned(), when),
        totp: if details.totp_enrolled { "On" } else { "Off" },
        last_sign_in: user
            .last_sign_in_at
            .map_or_else(|| "Never".to_owned(), when),
        state: state_label(user),
        disabled_since: user.disabled_at.map(when).unwrap_or_default(),
        disabled_reason: details.disabled_reason.clone().unwrap_or_default(),
        sessions: details
            .sessions
            .iter()
            .map(|s| SessionRow {
                created: when(s.created_at),
                expires: when(s.expires_at),
                ip: s.ip.clone().unwrap_or_else(|| "Unknown".to_owned()),
            })
            .collect(),
        keys: details
            .api_keys
            .iter()
            .map(|key| KeyRow {
                name: key.name.clone(),
                starts_with: format!("{}{}", auth::API_KEY_PREFIX, key.prefix),
                created: when(key.created_at),
                last_used: key.last_used_at.map_or_else(|| "Never".to_owned(), when),
                expires: key.expires_at.map_or_else(|| "Never".to_owned(), when),
                revoked: key.revoked_at.map_or_else(|| "No".to_owned(), when),
            })
            .collect(),
        notice: view.notice,
        errors: view.errors,
        choices: role_choices(&selected),
        reason: view.reason,
        reason_hint: format!(
            "One line, up to {} characters. Staff see it on this page and in the audit log.",
            auth::DISABLE_REASON_CHARS_MAX
        ),
    };
    console::answer(req, visitor, &page, status)
}

fn here(id: &str) -> String {
    format!("/ops/users/{}", encode(id))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ShowQuery {
    #[serde(default)]
    done: String,
}

/// `GET /ops/users/{id}`.
pub(super) async fn show(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<ShowQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let session = match console::staff(&visitor, &here(&id), policy::FIND_USERS) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let notice = match query.done.as_str() {
        "role" => "The role is changed. It applies from the account's next request.",
        "disabled" => {
            "The account is disabled: its sessions are ended, its API keys and sign-ins refused."
        }
        "enabled" => "The account is enabled again: it can sign in, and its API keys work.",
        _ => "",
    };
    let view = View {
        notice,
        ..View::default()
    };
    user_page(
        &req,
        &mut visitor,
        &pool,
        &session,
        UserId(id),
        view,
        StatusCode::OK,
    )
    .await
}

/// The answer to an action: back to the user's page, or its refusal on
/// the page beside the field it names.
async fn after_action(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    session: &BrowserSession,
    id: String,
    outcome: Result<&'static str, AppError>,
    view: View,
) -> PageResult {
    match outcome {
        Ok(done) => {
            let location = format!("{}?done={done}", here(&id));
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error) if is_refusal(&error) && error.code() != "not_found" => {
            let errors = FormErrors::from_error(&error, |param| match param {
                "role" => Some("role"),
                "reason" => Some("reason"),
                _ => None,
            });
            let status = actix_web::ResponseError::status_code(&error);
            let view = View { errors, ..view };
            user_page(req, visitor, pool, session, UserId(id), view, status).await
        }
        Err(error) => Err(PageError(error)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RoleForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    role: String,
}

/// `POST /ops/users/{id}/role`: `auth::change_role`, as `POST
/// /v1/users/{id}/role`.
pub(super) async fn change_role(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    form: web::Form<RoleForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let session = match console::staff(&visitor, &here(&id), policy::CHANGE_ROLE) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let outcome = match auth::parse_role(&form.role) {
        Ok(role) => {
            let caller = session.caller.clone();
            let target = UserId(id.clone());
            let auth_settings = settings.auth.clone();
            db::run(&pool, move |conn| {
                auth::change_role(
                    conn,
                    &caller,
                    &target,
                    role,
                    &auth_settings,
                    &context,
                    db::now(),
                )
            })
            .await
            .map(|_| "role")
        }
        Err(error) => Err(error),
    };
    let view = View {
        role: Some(form.role),
        ..View::default()
    };
    after_action(&req, &mut visitor, &pool, &session, id, outcome, view).await
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DisableForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    reason: String,
}

/// `POST /ops/users/{id}/disable`: `auth::disable_user`, as `POST
/// /v1/users/{id}/disable`.
pub(super) async fn disable(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    form: web::Form<DisableForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let session = match console::staff(&visitor, &here(&id), policy::DISABLE_USER) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let caller = session.caller.clone();
    let target = UserId(id.clone());
    let reason = form.reason.clone();
    let outcome = db::run(&pool, move |conn| {
        auth::disable_user(conn, &caller, &target, &reason, &context, db::now())
    })
    .await
    .map(|_| "disabled");
    let view = View {
        reason: form.reason,
        ..View::default()
    };
    after_action(&req, &mut visitor, &pool, &session, id, outcome, view).await
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /ops/users/{id}/enable`: `auth::enable_user`, as `POST
/// /v1/users/{id}/enable`.
pub(super) async fn enable(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let session = match console::staff(&visitor, &here(&id), policy::DISABLE_USER) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let caller = session.caller.clone();
    let target = UserId(id.clone());
    let outcome = db::run(&pool, move |conn| {
        auth::enable_user(conn, &caller, &target, &context, db::now())
    })
    .await
    .map(|_| "enabled");
    after_action(
        &req,
        &mut visitor,
        &pool,
        &session,
        id,
        outcome,
        View::default(),
    )
    .await
}
