//! A shop's notices: the in-app list of what the marketplace told its seller
//! by email (a new order, a refund or a dispute taking money back, a part to
//! ship soon or late, a payout, the shop's standing).
//!
//! Each notice is written by [`tell_owner`] in the transaction that queues its
//! email, under the email's outbox cause, so the list and the outbox agree:
//! a change that rolls back leaves neither, a change replayed leaves one of
//! each. The title is the email's subject; the body is one sentence from the
//! same message, so the list can only show the numbers the email shows.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::shop_notices;
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::notify::{self, Message};

/// Most notices one page holds.
pub const NOTICES_PAGE_MAX: i64 = 100;
/// Notices a page holds unless asked otherwise.
pub const NOTICES_PAGE_DEFAULT: i64 = 50;
/// Most ids one "mark read" names.
pub const NOTICE_IDS_MAX: usize = 100;
/// Longest title kept, in characters (the email subject is capped below it).
const TITLE_CHARS_MAX: usize = 200;

/// One notice, as the seller sees it.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = shop_notices)]
pub struct Notice {
    pub id: String,
    /// The email's template: `seller_refund`, `dispute_opened`, `part_late`, …
    pub kind: String,
    pub title: String,
    pub body: String,
    /// The workspace page the notice is about (an order, a payout, the shop).
    pub link_path: String,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    #[schema(value_type = String)]
    pub created_at: NaiveDateTime,
    /// `null` until the seller marked it read.
    #[serde(serialize_with = "crate::db::serialize_rfc3339_option")]
    #[schema(value_type = Option<String>)]
    pub read_at: Option<NaiveDateTime>,
}

/// The workspace page of one of `shop_id`'s orders.
pub fn order_path(shop_id: &str, order_id: &str) -> String {
    format!("/seller/shops/{shop_id}/orders/{order_id}")
}

/// The workspace page of one of `shop_id`'s payouts.
pub fn payout_path(shop_id: &str, payout_id: &str) -> String {
    format!("/seller/shops/{shop_id}/money/payouts/{payout_id}")
}

/// The shop's home in the workspace.
pub fn shop_path(shop_id: &str) -> String {
    format!("/seller/shops/{shop_id}")
}

/// Records a notice for `shop_id`, once per `cause`, in the caller's
/// transaction. Returns whether it was written.
///
/// # Errors
/// A database failure.
pub fn record(
    conn: &mut DbConnection,
    shop_id: &str,
    kind: &str,
    cause: &str,
    title: &str,
    body: &str,
    link_path: &str,
) -> Result<bool, AppError> {
    assert!(link_path.starts_with('/'), "a local path: {link_path:?}");
    let known: i64 = shop_notices::table
        .filter(shop_notices::cause.eq(cause))
        .count()
        .get_result(conn)?;
    if known > 0 {
        return Ok(false);
    }
    let title: String = title.chars().take(TITLE_CHARS_MAX).collect();
    diesel::insert_into(shop_notices::table)
        .values((
            shop_notices::id.eq(format!("ntc_{}", uuid::Uuid::new_v4().simple())),
            shop_notices::shop_id.eq(shop_id),
            shop_notices::kind.eq(kind),
            shop_notices::cause.eq(cause),
            shop_notices::title.eq(&title),
            shop_notices::body.eq(body),
            shop_notices::link_path.eq(link_path),
            shop_notices::created_at.eq(db::now()),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Tells `shop`'s owner: queues the email `message` to them once per `cause`
/// and records the same news in the shop's list, leading to `link_path`.
/// A shop whose owner's account is gone still gets its notice.
///
/// # Errors
/// A database failure; a subject that does not render (a bug).
pub fn tell_owner(
    conn: &mut DbConnection,
    shop_id: &str,
    owner_user_id: &str,
    cause: &str,
    message: &Message,
    link_path: &str,
) -> Result<(), AppError> {
    if let Some(owner) = owner_email(conn, shop_id, owner_user_id)? {
        notify::enqueue(conn, cause, &owner, message)?;
    }
    let title = notify::templates::subject(message)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("notice {}: {e}", message.template())))?;
    record(
        conn,
        shop_id,
        message.template(),
        cause,
        &title,
        &summary(message),
        link_path,
    )?;
    Ok(())
}

/// The address a shop's emails go to: its owner's account, or `None` when
/// that account is gone (the change still happens; there is nobody to tell).
///
/// # Errors
/// A database failure.
pub fn owner_email(
    conn: &mut DbConnection,
    shop_id: &str,
    owner_user_id: &str,
) -> Result<Option<String>, AppError> {
    let owner = crate::auth::UserId(owner_user_id.to_owned());
    match crate::auth::get_user(conn, &owner) {
        Ok(user) => Ok(Some(user.email)),
        Err(AppError::NotFound { .. }) => {
            tracing::warn!(shop_id, "shop owner not found; email skipped");
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

/// One sentence of what `message` tells the seller.
fn summary(message: &Message) -> String {
    match message {
        Message::SellerNewOrder(order) => format!(
            "New order {}: {} sold, you are owed {}.",
            order.order_id, order.subtotal, order.seller_amount
        ),
        Message::SellerRefund(refund) => format!(
            "Refund of {} on order {}: {} comes out of your share.",
            refund.amount, refund.order_id, refund.seller_share
        ),
        Message::DisputeOpened(dispute) => format!(
            "The buyer disputed order {}: {} is taken back from your share until the dispute is decided.",
            dispute.order_id, dispute.taken
        ),
        Message::DisputeClosed(dispute) if dispute.won => format!(
            "The dispute on order {} was won: {} is given back to you.",
            dispute.order_id, dispute.taken
        ),
        Message::DisputeClosed(dispute) => format!(
            "The dispute on order {} was lost: the {} taken back stays with the buyer.",
            dispute.order_id, dispute.taken
        ),
        Message::PartShipSoon(part) => format!(
            "Order {} must ship by {}.",
            part.order_id, part.ship_by
        ),
        Message::PartLate(late) => format!(
            "Order {} was due to ship by {} and has not shipped; the buyer may cancel it.",
            late.order_id, late.ship_by
        ),
        Message::SellerPartCanceled(cancel) => format!(
            "Your part of order {} was cancelled: {}.",
            cancel.order_id, cancel.reason
        ),
        Message::PayoutPaid(payout) => format!(
            "Payout {} of {} is on its way, expected {}.",
            payout.payout_id, payout.amount, payout.arrival_date
        ),
        Message::PayoutFailed(payout) => format!(
            "Payout {} of {} failed: {}.",
            payout.payout_id,
            payout.amount,
            payout.action.as_deref().unwrap_or("check the bank account")
        ),
        Message::ReturnRequested(notice) => format!(
            "The buyer asks to return items of order {} (return {}).",
            notice.order_id, notice.return_id
        ),
        Message::ReturnShippedBack(notice) => format!(
            "The buyer sent back items of order {} (return {}).",
            notice.order_id, notice.return_id
        ),
        Message::AccountRestricted(_) => {
            "The payments provider restricted the shop: update your details at the provider."
                .to_owned()
        }
        Message::OnboardingIncomplete(_) => {
            "The payments provider needs more details before the shop can sell again.".to_owned()
        }
        other => notify::templates::subject(other).unwrap_or_default(),
    }
}

/// A page of `shop_id`'s notices, newest first: after the notice `before`
/// (the last one of the previous page), only unread ones if asked.
///
/// # Errors
/// 400 `invalid_query` when `before` is not one of the shop's notices; a
/// database failure.
pub fn page(
    conn: &mut DbConnection,
    shop_id: &str,
    unread_only: bool,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Notice>, AppError> {
    let mut query = shop_notices::table
        .filter(shop_notices::shop_id.eq(shop_id))
        .select(Notice::as_select())
        .order((shop_notices::created_at.desc(), shop_notices::id.desc()))
        .limit(limit.clamp(1, NOTICES_PAGE_MAX))
        .into_boxed();
    if unread_only {
        query = query.filter(shop_notices::read_at.is_null());
    }
    if let Some(before) = before {
        let at: NaiveDateTime = shop_notices::table
            .filter(shop_notices::shop_id.eq(shop_id))
            .filter(shop_notices::id.eq(before))
            .select(shop_notices::created_at)
            .first(conn)
            .optional()?
            .ok_or_else(|| {
                AppError::bad_request(
                    "invalid_query",
                    "before is the id of one of this shop's notices",
                    Some("before".into()),
                )
            })?;
        query = query.filter(
            shop_notices::created_at.lt(at).or(shop_notices::created_at
                .eq(at)
                .and(shop_notices::id.lt(before.to_owned()))),
        );
    }
    Ok(query.load(conn)?)
}

/// How many of `shop_id`'s notices are unread.
///
/// # Errors
/// A database failure.
pub fn unread_count(conn: &mut DbConnection, shop_id: &str) -> Result<i64, AppError> {
    Ok(shop_notices::table
        .filter(shop_notices::shop_id.eq(shop_id))
        .filter(shop_notices::read_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Marks `shop_id`'s notices read: those in `ids`, or all of them. Ids of
/// other shops' notices change nothing. Returns how many were unread.
///
/// # Errors
/// 422 for more than [`NOTICE_IDS_MAX`] ids; a database failure.
pub fn mark_read(
    conn: &mut DbConnection,
    shop_id: &str,
    ids: Option<&[String]>,
) -> Result<usize, AppError> {
    let unread = shop_notices::table
        .filter(shop_notices::shop_id.eq(shop_id))
        .filter(shop_notices::read_at.is_null());
    let now = db::now();
    let changed = match ids {
        None => diesel::update(unread)
            .set(shop_notices::read_at.eq(now))
            .execute(conn)?,
        Some(ids) if ids.len() > NOTICE_IDS_MAX => {
            return Err(AppError::unprocessable(
                "too_many_ids",
                format!("at most {NOTICE_IDS_MAX} ids at once"),
                Some("ids".into()),
            ))
        }
        Some(ids) => diesel::update(unread.filter(shop_notices::id.eq_any(ids)))
            .set(shop_notices::read_at.eq(now))
            .execute(conn)?,
    };
    Ok(changed)
}
