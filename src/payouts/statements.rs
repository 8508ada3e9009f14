//! Seller statements: what makes up a payout, line by line (each balance
//! transaction of the payout with the order part, fees and take-backs behind
//! it, summing exactly to the payout), and a running statement of a shop's
//! ledger accounts over a period.

use diesel::prelude::*;
use serde::Serialize;

use super::funds::{self, PayoutLine, PayoutLineJson};
use super::schema::payouts;
use super::{PayoutJson, PayoutRow};
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::ledger::{self, AccountBalance, ShopPosting};
use crate::money::{Currency, Money};
use crate::orders::schema::{order_parts, part_movements, part_recoveries};
use crate::payments::Provider;

/// Most postings a statement answers in JSON (the CSV has them all).
pub const STATEMENT_ROWS_MAX: i64 = 1000;

/// Longest period one statement covers, in days.
pub const PERIOD_DAYS_MAX: i64 = 366;

/// Money a part's seller gave back: a refund's or a dispute's share.
#[derive(Debug, Clone)]
pub struct TakenBack {
    /// `refund`, `dispute`, `dispute_fee`, or `dispute_won` (negative: given back).
    pub cause_kind: String,
    pub cause_id: String,
    pub seller_minor: i64,
}

/// The order part behind a transfer or reversal line.
#[derive(Debug, Clone)]
pub struct PartDetail {
    pub order_id: String,
    pub part_id: String,
    pub movement_id: String,
    /// `transfer` or `reversal`.
    pub movement: String,
    pub subtotal_minor: i64,
    pub platform_fee_minor: i64,
    /// The processing fee share the seller bore (0 when the platform bears it).
    pub processing_fee_minor: i64,
    pub seller_amount_minor: i64,
    pub taken_back: Vec<TakenBack>,
}

/// One balance transaction of a payout and what it was.
#[derive(Debug, Clone)]
pub struct StatementLine {
    pub line: PayoutLine,
    pub part: Option<PartDetail>,
}

/// A payout and everything that makes it up, in the payout's currency.
#[derive(Debug, Clone)]
pub struct PayoutStatement {
    pub payout: PayoutRow,
    pub lines: Vec<StatementLine>,
    /// Σ of the lines' nets: equal to the payout's amount.
    pub total_minor: i64,
}

/// Money a part's seller gave back.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TakenBack)]
pub struct TakenBackJson<'a> {
    /// `refund`, `dispute`, `dispute_fee`, or `dispute_won` (negative: given back).
    pub cause_kind: &'a str,
    pub cause_id: &'a str,
    pub seller: Money,
}

/// The order part behind a transfer or reversal line.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PartDetail)]
pub struct PartDetailJson<'a> {
    pub order_id: &'a str,
    pub part_id: &'a str,
    pub movement_id: &'a str,
    /// `transfer` or `reversal`.
    pub movement: &'a str,
    pub subtotal: Money,
    pub platform_fee: Money,
    /// The processing fee share the seller bore (0 when the platform bears it).
    pub processing_fee: Money,
    pub seller_amount: Money,
    pub taken_back: Vec<TakenBackJson<'a>>,
}

/// One balance transaction of a payout and what it was.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = StatementLine)]
pub struct StatementLineJson<'a> {
    #[serde(flatten)]
    pub line: PayoutLineJson<'a>,
    pub part: Option<PartDetailJson<'a>>,
}

/// A payout and everything that makes it up.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PayoutStatement)]
pub struct PayoutStatementJson<'a> {
    pub payout: PayoutJson<'a>,
    pub lines: Vec<StatementLineJson<'a>>,
    /// Σ of the lines' nets: equal to the payout's amount.
    pub total: Money,
}

impl PayoutStatement {
    /// The statement as answers show it.
    ///
    /// # Errors
    /// As [`PayoutRow::json`].
    pub fn json(&self) -> Result<PayoutStatementJson<'_>, AppError> {
        let currency = self.payout.currency()?;
        Ok(PayoutStatementJson {
            payout: self.payout.json()?,
            lines: self
                .lines
                .iter()
                .map(|l| StatementLineJson {
                    line: l.line.json(currency),
                    part: l.part.as_ref().map(|p| p.json(currency)),
                })
                .collect(),
            total: Money::new(self.total_minor, currency),
        })
    }
}

crate::http::json::answered_as!(PayoutStatement => PayoutStatementJson);

impl PartDetail {
    /// The part as answers show it, in its payout's `currency`.
    pub fn json(&self, currency: Currency) -> PartDetailJson<'_> {
        let money = |minor| Money::new(minor, currency);
        PartDetailJson {
            order_id: &self.order_id,
            part_id: &self.part_id,
            movement_id: &self.movement_id,
            movement: &self.movement,
            subtotal: money(self.subtotal_minor),
            platform_fee: money(self.platform_fee_minor),
            processing_fee: money(self.processing_fee_minor),
            seller_amount: money(self.seller_amount_minor),
            taken_back: self
                .taken_back
                .iter()
                .map(|t| TakenBackJson {
                    cause_kind: &t.cause_kind,
                    cause_id: &t.cause_id,
                    seller: money(t.seller_minor),
                })
                .collect(),
        }
    }
}

/// The payout of a shop, or 404.
///
/// # Errors
/// 404 when the shop has no such payout.
pub fn payout_of_shop(
    conn: &mut DbConnection,
    shop_id: &str,
    payout_id: &str,
) -> Result<PayoutRow, AppError> {
    payouts::table
        .find(payout_id)
        .filter(payouts::shop_id.eq(shop_id))
        .select(PayoutRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound { resource: "payout" })
}

type PartRow = (String, String, i64, i64, i64, i64, String, String);

/// A payout's statement from its stored lines (see [`funds::match_lines`]).
///
/// # Errors
/// 404 when the shop has no such payout; a database failure.
pub fn payout_statement(
    conn: &mut DbConnection,
    shop_id: &str,
    payout_id: &str,
) -> Result<PayoutStatement, AppError> {
    let payout = payout_of_shop(conn, shop_id, payout_id)?;
    let lines = funds::lines(conn, payout_id)?;
    let sources: Vec<String> = lines.iter().filter_map(|l| l.source.clone()).collect();
    let parts: Vec<(String, PartRow)> = part_movements::table
        .inner_join(order_parts::table)
        .filter(part_movements::destination_ref.eq_any(&sources))
        .filter(order_parts::shop_id.eq(shop_id))
        .select((
            part_movements::destination_ref.assume_not_null(),
            (
                order_parts::order_id,
                order_parts::id,
                order_parts::subtotal_minor,
                order_parts::fee_minor,
                order_parts::processing_fee_minor,
                order_parts::seller_amount_minor,
                part_movements::id,
                part_movements::kind,
            ),
        ))
        .load(conn)?;
    let part_ids: Vec<&str> = parts.iter().map(|(_, p)| p.1.as_str()).collect();
    let recoveries: Vec<(String, String, String, i64)> = part_recoveries::table
        .filter(part_recoveries::part_id.eq_any(&part_ids))
        .order(part_recoveries::created_at.asc())
        .select((
            part_recoveries::part_id,
            part_recoveries::cause_kind,
            part_recoveries::cause_id,
            part_recoveries::seller_minor,
        ))
        .load(conn)?;
    let total_minor = lines.iter().map(|l| l.net_minor).sum();
    let lines = lines
        .into_iter()
        .map(|line| {
            let part = parts
                .iter()
                .find(|(source, _)| Some(source) == line.source.as_ref())
                .map(|(_, p)| PartDetail {
                    order_id: p.0.clone(),
                    part_id: p.1.clone(),
                    subtotal_minor: p.2,
                    platform_fee_minor: p.3,
                    processing_fee_minor: p.2 - p.3 - p.5,
                    seller_amount_minor: p.5,
                    movement_id: p.6.clone(),
                    movement: p.7.clone(),
                    taken_back: recoveries
                        .iter()
                        .filter(|r| r.0 == p.1)
                        .map(|r| TakenBack {
                            cause_kind: r.1.clone(),
                            cause_id: r.2.clone(),
                            seller_minor: r.3,
                        })
                        .collect(),
                });
            StatementLine { line, part }
        })
        .collect();
    Ok(PayoutStatement {
        payout,
        lines,
        total_minor,
    })
}

/// A payout's statement, with its lines first fetched from the provider and
/// stored when none are yet (a payout seen paid before its lines could be
/// matched): what the API and the seller's pages show.
///
/// # Errors
/// 404 when the shop has no such payout; provider or database failures.
pub async fn payout_statement_complete(
    pool: &DbPool,
    provider: &dyn Provider,
    shop_id: &str,
    payout_id: &str,
) -> Result<PayoutStatement, AppError> {
    let (shop, wanted) = (shop_id.to_owned(), payout_id.to_owned());
    let (payout, stored) = db::run(pool, move |conn| {
        let payout = payout_of_shop(conn, &shop, &wanted)?;
        let stored = funds::lines(conn, &payout.id)?.len();
        Ok((payout, stored))
    })
    .await?;
    if stored == 0 {
        funds::match_lines(pool, provider, &payout.account_id, shop_id, &payout.id).await?;
    }
    let (shop, wanted) = (shop_id.to_owned(), payout_id.to_owned());
    db::run(pool, move |conn| payout_statement(conn, &shop, &wanted)).await
}

/// A shop's accounts over `[from, to)`: balances at the start, every posting
/// in between (oldest first, at most [`STATEMENT_ROWS_MAX`]), and balances at
/// the end — each account's opening plus its postings is its closing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeriodStatement {
    pub shop_id: String,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub from: chrono::NaiveDateTime,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub to: chrono::NaiveDateTime,
    pub opening: Vec<AccountBalance>,
    pub postings: Vec<ShopPosting>,
    /// More postings than one answer holds: the CSV export has them all.
    pub has_more: bool,
    pub closing: Vec<AccountBalance>,
}

/// The running statement of a shop for a period.
///
/// # Errors
/// A database failure.
pub fn period_statement(
    conn: &mut DbConnection,
    shop_id: &str,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
) -> Result<PeriodStatement, AppError> {
    let opening = ledger::shop_balances_before(conn, shop_id, Some(from))?;
    let mut postings =
        ledger::shop_postings(conn, shop_id, from, to, None, STATEMENT_ROWS_MAX + 1)?;
    let has_more = postings.len() > usize::try_from(STATEMENT_ROWS_MAX).unwrap_or(usize::MAX);
    postings.truncate(usize::try_from(STATEMENT_ROWS_MAX).unwrap_or(usize::MAX));
    let closing = ledger::shop_balances_before(conn, shop_id, Some(to))?;
    Ok(PeriodStatement {
        shop_id: shop_id.to_owned(),
        from,
        to,
        opening,
        postings,
        has_more,
        closing,
    })
}
