//! The audit log page: `auth::list_audit_log_where` (behind `GET
//! /v1/audit_log`), narrowed by actor (email), action, subject and period,
//! a page at a time, each actor shown by email and linked to their page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;

use super::{staff, sub_links, SubLink};
use crate::auth::{self, policy, AuditFilter};
use crate::db::{self, DbPool};
use crate::web::forms::FormErrors;
use crate::web::ops::console::{self, Console};
use crate::web::render::{Chrome, Meta, PageError, PageResult};
use crate::web::seller::workspace::{self, encode};
use crate::web::visitor::Visitor;

/// Rows on one page of the log.
const LOG_ROWS: u32 = 50;

/// One row as the page shows it.
struct LogRow {
    when: String,
    actor: Option<(String, String)>,
    /// An actor id whose account is gone (shown as the id).
    actor_id: Option<String>,
    action: String,
    subject: String,
    /// The subject's console page, when its id says what it is.
    subject_href: Option<String>,
    before: String,
    after: String,
}

/// The filter form's values, as typed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LogQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    subject: String,
    /// `YYYY-MM-DD`, from the start of the day (UTC).
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD`, up to the end of the day (UTC).
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

#[derive(Template)]
#[template(path = "ops/audit.html", config = "src/web/askama.toml")]
struct AuditPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    sub: Vec<SubLink>,
    form: LogQuery,
    errors: FormErrors,
    filtered: bool,
    rows: Vec<LogRow>,
    /// The next (older) page's address.
    next: Option<String>,
}

/// A day field: blank, or a date; `end` moves it to the next midnight.
fn day(value: &str, field: &str, end: bool) -> Result<Option<NaiveDateTime>, FormErrors> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| FormErrors::field(field, "Enter a date like 2026-12-31."))?;
    let date = if end {
        date.succ_opt().unwrap_or(date)
    } else {
        date
    };
    Ok(date.and_hms_opt(0, 0, 0))
}

/// Where an audited subject can be looked at in the console, from its id.
fn subject_href(subject: &str) -> Option<String> {
    let console_page = [
        ("ord_", "/ops/orders/"),
        ("shop_", "/ops/shops/"),
        ("usr_", "/ops/users/"),
    ];
    console_page
        .iter()
        .find(|(prefix, _)| subject.starts_with(prefix))
        .map(|(_, base)| format!("{base}{subject}"))
}

/// A before/after state as one line.
fn state(value: Option<&serde_json::Value>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
}

/// The filter as a query string, for the next page's link.
fn query_of(form: &LogQuery) -> String {
    [
        ("actor", &form.actor),
        ("action", &form.action),
        ("subject", &form.subject),
        ("from", &form.from),
        ("to", &form.to),
    ]
    .iter()
    .filter(|(_, v)| !v.trim().is_empty())
    .map(|(k, v)| format!("{k}={}", encode(v.trim())))
    .collect::<Vec<_>>()
    .join("&")
}

/// `GET /ops/operations/audit?actor=&action=&subject=&from=&to=&before=`.
pub(super) async fn list(
    req: HttpRequest,
    mut visitor: Visitor,
    query: web::Query<LogQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let console = match staff(&visitor, "/ops/operations/audit", policy::READ_AUDIT_LOG) {
        Ok(console) => console,
        Err(answer) => return answer,
    };
    let form = query.into_inner();
    let present = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let period = day(&form.from, "from", false)
        .and_then(|from| day(&form.to, "to", true).map(|to| (from, to)));
    let (rows, next, errors, code) = match period {
        Err(errors) => (Vec::new(), None, errors, StatusCode::UNPROCESSABLE_ENTITY),
        Ok((from, to)) => {
            let filter = AuditFilter {
                actor: present(&form.actor),
                action: present(&form.action),
                subject: present(&form.subject),
                from,
                to,
            };
            let before = present(&form.before);
            let found = db::run(&pool, move |conn| {
                let (records, next) =
                    auth::list_audit_log_where(conn, &filter, LOG_ROWS, before.as_deref())?;
                let ids: Vec<&str> = records
                    .iter()
                    .filter_map(|r| r.actor_user_id.as_deref())
                    .collect();
                let emails = auth::actor_emails(conn, &ids)?;
                Ok((records, next, emails))
            })
            .await;
            match found {
                Ok((records, next, emails)) => {
                    let rows = records
                        .into_iter()
                        .map(|r| {
                            let actor = r.actor_user_id.as_ref().and_then(|id| {
                                emails
                                    .get(id)
                                    .map(|email| (email.clone(), format!("/ops/users/{id}")))
                            });
                            LogRow {
                                when: r.at.format("%-d %b %Y, %H:%M:%S UTC").to_string(),
                                actor_id: r.actor_user_id.filter(|_| actor.is_none()),
                                actor,
                                subject_href: subject_href(&r.subject),
                                before: state(r.before.as_ref()),
                                after: state(r.after.as_ref()),
                                action: r.action,
                                subject: r.subject,
                            }
                        })
                        .collect();
                    let filters = query_of(&form);
                    let next = next.map(|cursor| {
                        let joiner = if filters.is_empty() { "" } else { "&" };
                        format!(
                            "/ops/operations/audit?{filters}{joiner}before={}",
                            encode(&cursor)
                        )
                    });
                    (rows, next, FormErrors::none(), StatusCode::OK)
                }
                Err(error) if workspace::is_refusal(&error) => {
                    let errors = FormErrors::from_error(&error, |param| match param {
                        "actor" => Some("actor"),
                        "from" => Some("from"),
                        "to" => Some("to"),
                        _ => None,
                    });
                    let code = actix_web::ResponseError::status_code(&error);
                    (Vec::new(), None, errors, code)
                }
                Err(error) => return Err(PageError(error)),
            }
        }
    };
    let page = AuditPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Audit log — Operations — Bazaar console"),
        sub: sub_links(&console, "audit"),
        console,
        filtered: !query_of(&form).is_empty() || !form.before.is_empty(),
        form,
        errors,
        rows,
        next,
    };
    console::answer(&req, &visitor, &page, code)
}
