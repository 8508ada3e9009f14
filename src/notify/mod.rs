//! Emails: written to the outbox with the change that causes them, sent by the
//! job queue after that change committed.
//!
//! A capability that changes state (an order paid, a refund issued, a payout
//! paid or failed, a shop restricted) calls [`enqueue`] inside its own write
//! transaction: the outbox row and its `email` job commit or roll back with
//! the change, so no email is sent for a change that did not happen, and none
//! is lost for one that did. The job ([`deliver`]) renders the templates,
//! sends through the configured [`Mailer`] and marks the row sent; a relay
//! that is down fails the job, which the queue retries with backoff and, after
//! `jobs.attempts_max`, keeps as a dead letter for an operator to replay. A
//! crash between sending and marking sent sends again on retry, with the same
//! `Message-ID`, so receiving servers can drop the copy.
//!
//! This module knows no orders, payouts or shops: callers hand it a
//! [`Message`] (one type per template) and a cause that names their change.

mod dead;
mod http;
pub mod messages;
pub mod schema;
pub mod templates;
mod transport;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lettre::message::{Mailbox, MultiPart};
use serde::Serialize;

pub use dead::{dead_count, overview, replay_all_dead, replay_audited};
pub use http::routes;
pub use messages::Message;
use schema::outbox;
pub use transport::Mailer;

use crate::config::Settings;
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::payments::Provider;

/// The job kind that sends one outbox row.
pub const EMAIL_JOB: &str = "email";
/// Most emails one list call returns.
pub const EMAILS_PAGE_MAX: i64 = 100;
/// Longest cause, in bytes (callers build it from ids).
const CAUSE_BYTES_MAX: usize = 200;

/// Makes the single-use token an account email's link carries, when the
/// email is sent: `(connection, user id, purpose)` → the token, or `None`
/// when the link is no longer wanted (the account is gone, or already
/// verified), and the email is withdrawn. Handed in by the application, so
/// this module stays below the one that owns accounts.
pub type MintAccountToken = std::sync::Arc<
    dyn Fn(&mut DbConnection, &str, &str) -> Result<Option<String>, AppError> + Send + Sync,
>;

/// What sending needs: the mailer, where onboarding links lead back to, the
/// storefront's address and how account links get their tokens.
#[derive(Clone)]
pub struct Notifier {
    mailer: Mailer,
    onboarding_refresh_url: String,
    onboarding_return_url: String,
    public_url: String,
    mint_account_token: MintAccountToken,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("mailer", &self.mailer)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// From the `[email]` and `[provider]` settings; account links lead to
    /// `public_url` (no trailing `/`).
    ///
    /// # Errors
    /// As [`Mailer::new`].
    pub fn new(
        settings: &Settings,
        public_url: String,
        mint_account_token: MintAccountToken,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            mailer: Mailer::new(&settings.email)?,
            onboarding_refresh_url: settings.provider.connect_onboarding_refresh_url.clone(),
            onboarding_return_url: settings.provider.connect_onboarding_return_url.clone(),
            public_url,
            mint_account_token,
        })
    }
}

/// The storefront page an account link opens, by purpose.
fn account_link_path(purpose: &str) -> &'static str {
    match purpose {
        "verify_email" => "/verify-email",
        _ => "/reset-password",
    }
}

/// Queues `message` to `to`, once per `cause`, in the caller's transaction.
/// Returns whether it was queued (`false`: this cause already has its email,
/// or the address cannot receive mail).
///
/// An address that does not parse is logged and skipped rather than failing
/// the change: addresses are validated when accounts are made, so this is a
/// record from before a rule, and the order or payout must still go through.
///
/// # Errors
/// A database failure; a template whose data does not render (a bug).
pub fn enqueue(
    conn: &mut DbConnection,
    cause: &str,
    to: &str,
    message: &Message,
) -> Result<bool, AppError> {
    assert!(
        !cause.is_empty() && cause.len() <= CAUSE_BYTES_MAX,
        "cause {cause:?}"
    );
    let template = message.template();
    if to.parse::<lettre::Address>().is_err() {
        tracing::error!(
            cause,
            template,
            "email skipped: the recipient address does not parse"
        );
        return Ok(false);
    }
    let queued: i64 = outbox::table
        .filter(outbox::cause.eq(cause))
        .count()
        .get_result(conn)?;
    if queued > 0 {
        return Ok(false);
    }
    let data = message.data();
    let subject = templates::subject(message)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("email {template} subject: {e:#}")))?;
    let id = format!("eml_{}", uuid::Uuid::new_v4().simple());
    let now = db::now();
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(&id),
            outbox::cause.eq(cause),
            outbox::template.eq(template),
            outbox::to_address.eq(to),
            outbox::subject.eq(&subject),
            outbox::data.eq(data.to_string()),
            outbox::status.eq("queued"),
            outbox::message_id.eq(""),
            outbox::created_at.eq(now),
        ))
        .execute(conn)?;
    crate::jobs::enqueue(conn, EMAIL_JOB, &id)?;
    Ok(true)
}

/// An outbox row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
struct OutboxRow {
    id: String,
    cause: String,
    template: String,
    to_address: String,
    subject: String,
    data: String,
    status: String,
    message_id: String,
    sent_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
}

/// Sends one outbox row (the `email` job). Sending a row already sent does
/// nothing.
///
/// # Errors
/// The row is unknown, the relay is unreachable or refuses, the onboarding
/// link cannot be made (provider down): each fails the job, which is retried.
#[tracing::instrument(skip(pool, provider, notifier))]
pub async fn deliver(
    pool: &DbPool,
    provider: &dyn Provider,
    notifier: &Notifier,
    id: &str,
) -> Result<(), AppError> {
    let key = id.to_owned();
    let row: Option<OutboxRow> = db::run(pool, move |conn| {
        Ok(outbox::table
            .find(&key)
            .select(OutboxRow::as_select())
            .first(conn)
            .optional()?)
    })
    .await?;
    let Some(row) = row else {
        return Err(AppError::NotFound { resource: "email" });
    };
    // Sent, or withdrawn because its recipient deleted the account.
    if row.status != "queued" {
        return Ok(());
    }
    let message = Message::from_stored(&row.template, &row.data)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("email {} data: {e:#}", row.id)))?;
    let url = if let Some(account) = message.onboarding_account() {
        Some(
            provider
                .create_account_link(
                    account,
                    &notifier.onboarding_refresh_url,
                    &notifier.onboarding_return_url,
                )
                .await?
                .url,
        )
    } else if let Some((link, purpose)) = message.account_link() {
        // A retry after a failed send makes another token; the unsent one is
        // never seen and expires.
        let mint = std::sync::Arc::clone(&notifier.mint_account_token);
        let user_id = link.user_id.clone();
        let token = db::run(pool, move |conn| mint(conn, &user_id, purpose)).await?;
        let Some(token) = token else {
            let key = row.id.clone();
            db::run(pool, move |conn| withdraw(conn, &key)).await?;
            tracing::info!(
                email = row.id,
                "email withdrawn: its link is no longer wanted"
            );
            return Ok(());
        };
        let mut url = url::Url::parse(&format!(
            "{}{}",
            notifier.public_url,
            account_link_path(purpose)
        ))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("server.public_url: {e}")))?;
        url.query_pairs_mut().append_pair("token", &token);
        if let Some(next) = &link.next {
            url.query_pairs_mut().append_pair("next", next);
        }
        Some(url.to_string())
    } else if matches!(
        message,
        Message::AccountExists(_) | Message::PasswordChanged(_)
    ) {
        Some(format!("{}/forgot-password", notifier.public_url))
    } else {
        None
    };
    let (text, html) = templates::bodies(&message, url.as_deref())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("email {}: {e:#}", row.template)))?;
    let message_id = format!("<{}@{}>", row.id, notifier.mailer.domain());
    let to: lettre::Address = row
        .to_address
        .parse()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("email {} recipient: {e}", row.id)))?;
    let message = lettre::Message::builder()
        .from(notifier.mailer.from.clone())
        .to(Mailbox::new(None, to))
        .subject(&row.subject)
        .message_id(Some(message_id.clone()))
        .date_now()
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("email {}: {e}", row.id)))?;
    notifier
        .mailer
        .send(&message, &row.id)
        .await
        .map_err(|e| AppError::Unavailable {
            message: format!("email not sent: {e:#}"),
        })?;
    let key = row.id.clone();
    db::run(pool, move |conn| {
        diesel::update(outbox::table.find(&key).filter(outbox::status.eq("queued")))
            .set((
                outbox::status.eq("sent"),
                outbox::message_id.eq(&message_id),
                outbox::sent_at.eq(db::now()),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await?;
    tracing::info!(email = row.id, template = row.template, "email sent");
    Ok(())
}

fn withdraw(conn: &mut DbConnection, id: &str) -> Result<(), AppError> {
    diesel::update(outbox::table.find(id).filter(outbox::status.eq("queued")))
        .set(outbox::status.eq("withdrawn"))
        .execute(conn)?;
    Ok(())
}

/// Erases an address from the outbox when its account is deleted: rows to it
/// keep their id, cause and template (the record that an email existed) but
/// name `replacement` and lose their data; those still queued are withdrawn
/// rather than sent. Returns how many rows changed. Runs in the caller's
/// transaction.
///
/// # Errors
/// A database failure.
pub fn erase_recipient(
    conn: &mut DbConnection,
    address: &str,
    replacement: &str,
) -> Result<usize, AppError> {
    diesel::update(
        outbox::table
            .filter(outbox::to_address.eq(address))
            .filter(outbox::status.eq("queued")),
    )
    .set(outbox::status.eq("withdrawn"))
    .execute(conn)?;
    Ok(
        diesel::update(outbox::table.filter(outbox::to_address.eq(address)))
            .set((outbox::to_address.eq(replacement), outbox::data.eq("{}")))
            .execute(conn)?,
    )
}

/// An email as operators and support see it, with its job's state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EmailView {
    pub id: String,
    pub cause: String,
    pub template: String,
    pub to: String,
    pub subject: String,
    /// `queued` until the relay accepted it, then `sent`; `withdrawn` when
    /// the recipient deleted the account (or the link it carried was no
    /// longer wanted) before it went out.
    pub status: String,
    pub message_id: Option<String>,
    /// Sending attempts so far, and the last one's error.
    pub attempts: i32,
    pub last_error: Option<String>,
    /// The job's status: `dead` means retries ran out (replay it at
    /// `POST /v1/jobs/{job_id}/replay`).
    pub job_id: Option<String>,
    pub job_status: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

/// Emails newest first, optionally to one address or in one status:
/// `queued`, `sent`, `withdrawn`, or `dead` (queued, but its job ran out of
/// retries).
///
/// # Errors
/// A database failure.
pub fn list(
    conn: &mut DbConnection,
    to: Option<&str>,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<EmailView>, AppError> {
    use crate::jobs::schema::jobs;
    let mut query = outbox::table
        .select(OutboxRow::as_select())
        .order((outbox::created_at.desc(), outbox::id.desc()))
        .limit(limit.clamp(1, EMAILS_PAGE_MAX))
        .into_boxed();
    if let Some(to) = to {
        query = query.filter(outbox::to_address.eq(to.to_owned()));
    }
    if status == Some("dead") {
        let dead_jobs = jobs::table
            .filter(jobs::kind.eq(EMAIL_JOB))
            .filter(jobs::status.eq("dead"))
            .select(jobs::subject);
        query = query
            .filter(outbox::status.eq("queued"))
            .filter(outbox::id.eq_any(dead_jobs));
    } else if let Some(status) = status {
        query = query.filter(outbox::status.eq(status.to_owned()));
    }
    let rows: Vec<OutboxRow> = query.load(conn)?;
    views(conn, rows)
}

/// One email as staff see it, if there is one with this id.
///
/// # Errors
/// A database failure.
pub fn view_of(conn: &mut DbConnection, id: &str) -> Result<Option<EmailView>, AppError> {
    let rows: Vec<OutboxRow> = outbox::table
        .find(id)
        .select(OutboxRow::as_select())
        .load(conn)?;
    Ok(views(conn, rows)?.into_iter().next())
}

/// The rows with their jobs' state.
fn views(conn: &mut DbConnection, rows: Vec<OutboxRow>) -> Result<Vec<EmailView>, AppError> {
    use crate::jobs::schema::jobs;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let job_rows: Vec<(String, String, String, i32, Option<String>)> = jobs::table
        .filter(jobs::kind.eq(EMAIL_JOB))
        .filter(jobs::subject.eq_any(&ids))
        .select((
            jobs::subject,
            jobs::id,
            jobs::status,
            jobs::attempts,
            jobs::last_error,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let job = job_rows.iter().find(|j| j.0 == row.id);
            EmailView {
                message_id: Some(row.message_id).filter(|m| !m.is_empty()),
                attempts: job.map_or(0, |j| j.3),
                last_error: job.and_then(|j| j.4.clone()),
                job_id: job.map(|j| j.1.clone()),
                job_status: job.map(|j| j.2.clone()),
                id: row.id,
                cause: row.cause,
                template: row.template,
                to: row.to_address,
                subject: row.subject,
                status: row.status,
                created_at: db::rfc3339(row.created_at),
                sent_at: row.sent_at.map(db::rfc3339),
            }
        })
        .collect())
}
