//! What spans a whole account: deleting a buyer's account. It crosses the
//! auth tables, the orders, the returns and the outbox, so it lives above all
//! of them (none of them calls back here).
//!
//! Decisions:
//! - Only buyers delete their own account, with their password, and only
//!   when nothing is under way: no order awaiting payment or delivery, no
//!   return open (409 `account_busy`, with the counts) — a refund or a parcel
//!   must still reach someone.
//! - The orders stay, as the books require: their email becomes
//!   `deleted-<user id>@deleted.invalid` (a reserved domain, never
//!   delivered), their address fields `(removed)` (the country stays). The
//!   user row stays too, so orders, refunds and the audit log still name an
//!   account; its address, password and second factor are gone, every
//!   session and API key ends, emails still queued to it are withdrawn and
//!   those sent lose their data.
//! - What is not personal data stays: amounts, items, shops, dates, and the
//!   text of return reasons, which describe items.

pub mod http;

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::auth::{self, Caller, RequestContext, UserId};
use crate::db::{write_transaction, DbConnection};
use crate::error::AppError;

/// A deleted account, as the API answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountDeleted {
    pub user_id: UserId,
    /// Orders kept, with the personal data removed.
    pub orders_anonymised: usize,
    /// Emails to the account (sent or withdrawn) whose data was removed.
    pub emails_erased: usize,
}

/// Deletes the caller's buyer account (see the module's decisions).
///
/// # Errors
/// 403 `account_not_deletable` (not a buyer); 422
/// `current_password_incorrect`; 409 `account_busy`; database errors.
pub fn delete_buyer_account(
    conn: &mut DbConnection,
    caller: &Caller,
    password: &str,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<AccountDeleted, AppError> {
    auth::check_deletion(conn, caller, password)?;
    write_transaction(conn, |conn| {
        let user_id = caller.user_id.as_str();
        let orders = crate::orders::privacy::buyer_orders_in_progress(conn, user_id)?;
        let returns = crate::fulfilment::returns::buyer_returns_open(conn, user_id)?;
        if orders > 0 || returns > 0 {
            return Err(AppError::Conflict {
                code: "account_busy",
                message: format!(
                    "{orders} order(s) awaiting payment or delivery and {returns} return(s) under way: the account can be deleted once they are done (or the unpaid orders expire)"
                ),
            });
        }
        let erased = auth::erase_account(conn, &caller.user_id, context, now)?;
        let orders_anonymised =
            crate::orders::privacy::anonymise_buyer(conn, user_id, &erased.placeholder_email)?;
        let emails_erased =
            crate::notify::erase_recipient(conn, &erased.former_email, &erased.placeholder_email)?;
        Ok(AccountDeleted {
            user_id: caller.user_id.clone(),
            orders_anonymised,
            emails_erased,
        })
    })
}
