//! Operations: the job queue and the email outbox, with their dead letters
//! replayed (the functions behind `POST /v1/jobs/{id}/replay`,
//! `/v1/jobs/replay`, `/v1/emails/{id}/replay` and `/v1/emails/replay`),
//! and the audit log ([`audit`]). Each page and action takes the rule its
//! API endpoint takes: reading jobs `READ_JOBS`, emails `READ_EMAILS`, the
//! log `READ_AUDIT_LOG`, replaying `REPLAY_JOBS`.

mod audit;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::console::{self, Console};
use crate::auth::{policy, RequestContext, Role};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::query;
use crate::jobs::{self, Job};
use crate::notify::{self, EmailView};
use crate::web::forms::FormErrors;
use crate::web::render::{self, Chrome, Meta, PageError, PageResult};
use crate::web::seller::workspace;
use crate::web::visitor::Visitor;

/// Rows on a jobs or emails page.
const LIST_ROWS: i64 = 50;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ops/operations").get(index))
        .service(web::resource("/ops/operations/jobs").get(jobs_list))
        .service(web::resource("/ops/operations/jobs/replay").post(replay_all_jobs))
        .service(web::resource("/ops/operations/jobs/{id}/replay").post(replay_job))
        .service(web::resource("/ops/operations/emails").get(emails_list))
        .service(web::resource("/ops/operations/emails/replay").post(replay_all_emails))
        .service(web::resource("/ops/operations/emails/{id}/replay").post(replay_email))
        .service(web::resource("/ops/operations/audit").get(audit::list));
}

/// A link of the operations section's own navigation.
pub(super) struct SubLink {
    label: &'static str,
    href: &'static str,
    current: bool,
}

/// The operations pages `console`'s role may open; `here` is current.
pub(super) fn sub_links(console: &Console, here: &str) -> Vec<SubLink> {
    [
        ("jobs", "Jobs", "/ops/operations/jobs", policy::READ_JOBS),
        (
            "emails",
            "Emails",
            "/ops/operations/emails",
            policy::READ_EMAILS,
        ),
        (
            "audit",
            "Audit log",
            "/ops/operations/audit",
            policy::READ_AUDIT_LOG,
        ),
    ]
    .into_iter()
    .filter(|(_, _, _, rule)| console.may(rule))
    .map(|(name, label, href, _)| SubLink {
        label,
        href,
        current: name == here,
    })
    .collect()
}

/// The signed-in staff member on an operations page that takes `rule`.
#[allow(clippy::result_large_err)]
fn staff(visitor: &Visitor, here: &str, rule: &[Role]) -> Result<Console, PageResult> {
    console::staff(visitor, here, rule).map(|session| Console::of(&session.caller, "operations"))
}

/// An option of a status filter.
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

fn choices(
    all: &[&'static str],
    label: fn(&str) -> &'static str,
    chosen: Option<&str>,
) -> Vec<Choice> {
    all.iter()
        .map(|value| Choice {
            value,
            label: label(value),
            selected: chosen == Some(*value),
        })
        .collect()
}

/// One section of the index.
struct Area {
    href: &'static str,
    label: &'static str,
    about: &'static str,
    /// Dead letters waiting, where the area has them.
    dead: Option<i64>,
}

#[derive(Template)]
#[template(path = "ops/operations.html", config = "src/web/askama.toml")]
struct IndexPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    areas: Vec<Area>,
}

/// `GET /ops/operations`: the jobs, emails and audit log this role may open.
pub(super) async fn index(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
) -> PageResult {
    let console = match staff(&visitor, "/ops/operations", policy::CONSOLE) {
        Ok(console) => console,
        Err(answer) => return answer,
    };
    let (jobs, emails, log) = (
        console.may(policy::READ_JOBS),
        console.may(policy::READ_EMAILS),
        console.may(policy::READ_AUDIT_LOG),
    );
    if !(jobs || emails || log) {
        return Err(PageError(AppError::ForbiddenWith {
            code: "forbidden",
            message: "your role cannot open the operations pages; ask an operator if you need them"
                .into(),
        }));
    }
    let (dead_jobs, dead_emails) = db::run(&pool, move |conn| {
        let dead_jobs = jobs.then(|| jobs::count(conn, "dead")).transpose()?;
        let dead_emails = emails.then(|| notify::dead_count(conn)).transpose()?;
        Ok((dead_jobs, dead_emails))
    })
    .await?;
    let mut areas = Vec::new();
    if jobs {
        areas.push(Area {
            href: "/ops/operations/jobs",
            label: "Jobs",
            about: "What the marketplace does after it answered: provider events, emails. A job that fails is retried, then dead until someone replays it.",
            dead: dead_jobs,
        });
    }
    if emails {
        areas.push(Area {
            href: "/ops/operations/emails",
            label: "Emails",
            about: "The outbox: what was sent to whom, and what could not be sent.",
            dead: dead_emails,
        });
    }
    if log {
        areas.push(Area {
            href: "/ops/operations/audit",
            label: "Audit log",
            about: "Who did what to what, when, from where, with the state before and after.",
            dead: None,
        });
    }
    let page = IndexPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Operations — Bazaar console"),
        console,
        areas,
    };
    console::answer(&req, &visitor, &page, StatusCode::OK)
}

// ---------------------------------------------------------------- jobs

const JOB_STATUSES: [&str; 4] = ["dead", "queued", "running", "done"];

fn job_status_label(status: &str) -> &'static str {
    match status {
        "dead" => "Dead: out of retries",
        "queued" => "Queued",
        "running" => "Running",
        "done" => "Done",
        _ => "Unknown",
    }
}

/// When a job runs next, as the list shows it.
fn next_run(job: &Job) -> String {
    let at = || job.run_after.format("%-d %b %Y, %H:%M:%S UTC").to_string();
    match job.status.as_str() {
        "queued" => at(),
        "running" => "Now".into(),
        "dead" => "Not until replayed".into(),
        _ => "No more runs".into(),
    }
}

struct JobRow {
    id: String,
    kind: String,
    subject: String,
    status: &'static str,
    dead: bool,
    attempts: i32,
    last_error: String,
    next_run: String,
}

#[derive(Template)]
#[template(path = "ops/jobs.html", config = "src/web/askama.toml")]
struct JobsPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    sub: Vec<SubLink>,
    choices: Vec<Choice>,
    filtered: bool,
    rows: Vec<JobRow>,
    dead: i64,
    may_replay: bool,
    news: Option<String>,
    errors: FormErrors,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    done: String,
    #[serde(default)]
    count: Option<i64>,
}

/// News after a replay, from the redirect's query.
fn news(done: &str, count: Option<i64>, one: &str, many: &str) -> Option<String> {
    match (done, count) {
        ("replayed", _) => Some(one.to_owned()),
        ("replayed_all", Some(n)) => Some(many.replace("{n}", &n.to_string())),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
async fn jobs_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    console: Console,
    status: Option<&'static str>,
    news: Option<String>,
    errors: FormErrors,
    code: StatusCode,
) -> PageResult {
    let (found, dead) = db::run(pool, move |conn| {
        Ok((
            jobs::overview(conn, status, LIST_ROWS)?,
            jobs::count(conn, "dead")?,
        ))
    })
    .await?;
    let rows = found
        .into_iter()
        .map(|job| JobRow {
            next_run: next_run(&job),
            status: job_status_label(&job.status),
            dead: job.status == "dead",
            last_error: job.last_error.unwrap_or_default(),
            id: job.id,
            kind: job.kind,
            subject: job.subject,
            attempts: job.attempts,
        })
        .collect();
    let page = JobsPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Jobs — Operations — Bazaar console"),
        sub: sub_links(&console, "jobs"),
        may_replay: console.may(policy::REPLAY_JOBS),
        console,
        choices: choices(&JOB_STATUSES, job_status_label, status),
        filtered: status.is_some(),
        rows,
        dead,
        news,
        errors,
    };
    console::answer(req, visitor, &page, code)
}

/// The status filter's value: one of `allowed`, or any for blank.
///
/// # Errors
/// 400 `invalid_query` naming `status`.
fn status_of(value: &str, allowed: &[&'static str]) -> Result<Option<&'static str>, AppError> {
    let value = Some(value.trim()).filter(|v| !v.is_empty());
    query::one_of("status", value, allowed)?;
    Ok(value.and_then(|v| allowed.iter().copied().find(|a| *a == v)))
}

/// `GET /ops/operations/jobs?status=`: dead first, then by next run.
pub(super) async fn jobs_list(
    req: HttpRequest,
    mut visitor: Visitor,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let console = match staff(&visitor, "/ops/operations/jobs", policy::READ_JOBS) {
        Ok(console) => console,
        Err(answer) => return answer,
    };
    let status = status_of(&query.status, &JOB_STATUSES)?;
    let news = news(
        &query.done,
        query.count,
        "The job is queued again; it runs shortly.",
        "{n} dead jobs are queued again; they run shortly.",
    );
    jobs_page(
        &req,
        &mut visitor,
        &pool,
        console,
        status,
        news,
        FormErrors::none(),
        StatusCode::OK,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /ops/operations/jobs/{id}/replay`: as `POST /v1/jobs/{id}/replay`.
pub(super) async fn replay_job(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let console = match staff(&visitor, "/ops/operations/jobs", policy::REPLAY_JOBS) {
        Ok(console) => console,
        Err(answer) => return answer,
    };
    let (id, actor) = (path.into_inner(), console.caller.user_id.clone());
    let replayed = db::run(&pool, move |conn| {
        db::write_transaction(conn, |conn| {
            jobs::replay_audited(conn, &id, &actor, &context)
        })
    })
    .await;
    match replayed {
        Ok(_) => {
            Ok(visitor.finish(render::see_other("/ops/operations/jobs?done=replayed").finish()))
        }
        Err(error) if workspace::is_refusal(&error) => {
            let code = actix_web::ResponseError::status_code(&error);
            let errors = FormErrors::from_error(&error, |_| None);
            jobs_page(&req, &mut visitor, &pool, console, None, None, errors, code).await
        }
        Err(error) => Err(PageError(error)),
    }
}

/// `POST /ops/operations/jobs/replay`: as `POST /v1/jobs/replay`.
pub(super) async fn replay_all_jobs(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    pool: web::Data<DbPool>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let console = match staff(&visitor, "/ops/operations/jobs", policy::REPLAY_JOBS) {
        Ok(console) => console,
        Err(answer) => return answer,
    };
    let actor = console.caller.user_id.clone();
    let (replayed, _) = db::run(&pool, move |conn| {
        db::write_transaction(conn, |conn| jobs::replay_all_dead(conn, &actor, &context))
    })
    .await?;
    let location = format!(
        "/ops/operations/jobs?done=replayed_all&count={}",
        replayed.len()
    );
    Ok(visitor.finish(render::see_other(&location).finish()))
}

// -------------------------------------------------------------- emails

const EMAIL_STATUSES: [&str; 4] = ["dead", "queued", "sent", "withdrawn"];

fn email_status_label(status: &str) -> &'static str {
    match status {
        "dead" => "Not sent: out of retries",
        "queued" => "Waiting to be sent",
        "sent" => "Sent",
        "withdrawn" => "Withdrawn",
        _ => "Unknown",
    }
}

/// An email's state: a queued one whose job is dead is a dead letter.
fn email_state(email: &EmailView) -> &'static str {
    if email.status == "queued" && email.job_status.as_deref() == Some("dead") {
        "dead"
    } else {
        match email.status.as_str() {
            "queued" => "queued",
            "sent" => "sent",
            "withdrawn" => "withdrawn",
            _ => "unknown",
        }
    }
}

struct EmailRow {
    id: String,
    to: String,
    /// The recipient's console page, when the address has an account.
    to_href: Option<String>,
    template: String,
    subject: String,
    status: &'static str,
    dead: bool,
    attempts: i32,
    last_error: String,
    created: String,
}

#[derive(Template)]
#[template(path = "ops/emails.html", config = "src/web/askama.toml")]
struct EmailsPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    sub: Vec<SubLink>,
    choices: Vec<Choice>,
    filtered: bool,
    rows: Vec<EmailRow>,
    dead: i64,
    may_replay: bool,
    news: Option<String>,
    errors: FormErrors,
}

#[allow(clippy::too_many_arguments)]
async fn emails_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    console: Console,
    status: Option<&'static str>,
    news: Option<String>,
    errors: FormErrors,
    code: StatusCode,
) -> PageResult {
    let (found, dead, accounts) = db::run(pool, move |conn| {
        let found = notify::overview(conn, status, LIST_ROWS)?;
        let addresses: Vec<&str> = found.iter().map(|e| e.to.as_str()).collect();
        let accounts = crate::auth::accounts_by_email(conn, &addresses)?;
        Ok((found, notify::dead_count(conn)?, accounts))
    })
    .await?;
    let rows = found
        .into_iter()
        .map(|email| {
            let state = email_state(&email);
            EmailRow {
                to_href: accounts.get(&email.to).map(|id| format!("/ops/users/{id}")),
                status: email_status_label(state),
                dead: state == "dead",
                attempts: email.attempts,
                last_error: email.last_error.unwrap_or_default(),
                created: crate::web::format::date_of(&email.created_at),
                id: email.id,
                to: email.to,
                template: email.template.replace('_', " "),
                subject: email.subject,
            }
        })
        .collect();
    let page = EmailsPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Emails — Operations — Bazaar console"),
        sub: sub_links(&console, "emails"),
        may_replay: console.may(policy::REPLAY_JOBS),
        console,
        choices: choices(&EMAIL_STATUSES, email_status_label, status),
        filtered: status.is_some(),
        rows,
        dead,
        news,
        errors,
    };
    console::answer(req, visitor, &page, code)
}

/// `GET /ops/operations/emails?status=`: dead letters first, then newest.
pub(super) async fn emails_list(
    req: HttpRequest,
    mut visitor: Visitor,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let console = match staff(&visitor, "/ops/operations/emails", policy::READ_EMAILS) {
        Ok(console) => console,
        Err(answer) => return answer,
    };
    let status = status_of(&query.status, &EMAIL_STATUSES)?;
    let news = news(
        &query.done,
        query.count,
        "The email is queued again; it is sent shortly.",
        "{n} emails are queued again; they are sent shortly.",
    );
    emails_page(
        &req,
        &mut visitor,
        &pool,
        console,
        status,
        news,
        FormErrors::none(),
        StatusCode::OK,
    )
    .await
}

/// `POST /ops/operations/emails/{id}/replay`: as `POST /v1/emails/{id}/replay`.
pub(super) async fn replay_email(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let console = match staff(&visitor, "/ops/operations/emails", policy::REPLAY_JOBS) {
        Ok(console) => console,
        Err(answer) => return answer,
    };
    let (id, actor) = (path.into_inner(), console.caller.user_id.clone());
    let replayed = db::run(&pool, move |conn| {
        db::write_transaction(conn, |conn| {
            notify::replay_audited(conn, &id, &actor, &context)
        })
    })
    .await;
    match replayed {
        Ok(_) => {
            Ok(visitor.finish(render::see_other("/ops/operations/emails?done=replayed").finish()))
        }
        Err(error) if workspace::is_refusal(&error) => {
            let code = actix_web::ResponseError::status_code(&error);
            let errors = FormErrors::from_error(&error, |_| None);
            emails_page(&req, &mut visitor, &pool, console, None, None, errors, code).await
        }
        Err(error) => Err(PageError(error)),
    }
}

/// `POST /ops/operations/emails/replay`: as `POST /v1/emails/replay`.
pub(super) async fn replay_all_emails(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    pool: web::Data<DbPool>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let console = match staff(&visitor, "/ops/operations/emails", policy::REPLAY_JOBS) {
        Ok(console) => console,
        Err(answer) => return answer,
    };
    let actor = console.caller.user_id.clone();
    let (replayed, _) = db::run(&pool, move |conn| {
        db::write_transaction(conn, |conn| notify::replay_all_dead(conn, &actor, &context))
    })
    .await?;
    let location = format!(
        "/ops/operations/emails?done=replayed_all&count={}",
        replayed.len()
    );
    Ok(visitor.finish(render::see_other(&location).finish()))
}
