//! Stock stated as a difference ("received 12", "2 damaged"), with its
//! reason kept: the seller's side of the one rule that stock never goes
//! negative. A decrease is one conditional `UPDATE`, like checkout's
//! [`super::reserve_stock`], so the two can race without either driving the
//! count below zero.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::cache;
use super::model::STOCK_MAX;
use super::schema::{products, stock_adjustments};
use super::store::{emit_product_written, find_product, product_for, product_not_found};
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::http::text::{display_text, Lines};

/// Largest change one adjustment may state, either way.
pub const STOCK_DELTA_MAX: i64 = 1_000_000;
/// Longest note on an adjustment, in characters.
pub const NOTE_CHARS_MAX: usize = 200;
/// Most adjustments one listing returns (the newest).
pub const ADJUSTMENTS_LIMIT_MAX: i64 = 100;

/// Why a seller changed the count on hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentReason {
    Received,
    Damaged,
    Lost,
    Returned,
    Recount,
    Other,
}

impl AdjustmentReason {
    /// Every reason, in the order a form lists them.
    pub const ALL: [Self; 6] = [
        Self::Received,
        Self::Damaged,
        Self::Lost,
        Self::Returned,
        Self::Recount,
        Self::Other,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Damaged => "damaged",
            Self::Lost => "lost",
            Self::Returned => "returned",
            Self::Recount => "recount",
            Self::Other => "other",
        }
    }

    /// Parses a stored or submitted name.
    ///
    /// # Errors
    /// 422 `invalid_value`, param `reason`.
    pub fn parse(value: &str) -> Result<Self, AppError> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str() == value)
            .ok_or_else(|| {
                AppError::unprocessable(
                    "invalid_value",
                    "reason is one of received, damaged, lost, returned, recount, other",
                    Some("reason".into()),
                )
            })
    }
}

/// `POST /v1/products/{id}/stock_adjustments`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockAdjustmentRequest {
    /// Units added (positive) or taken away (negative); not zero, at most 1 000 000 either way.
    pub delta: i64,
    /// `received`, `damaged`, `lost`, `returned`, `recount` or `other`.
    pub reason: String,
    /// Up to 200 characters on one line.
    #[serde(default)]
    pub note: Option<String>,
}

/// A validated adjustment, not yet applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAdjustment {
    pub delta: i64,
    pub reason: AdjustmentReason,
    pub note: String,
}

impl NewAdjustment {
    /// Checks each field, naming the first bad one.
    ///
    /// # Errors
    /// 422 `invalid_value` with param `delta`, `reason` or `note`.
    pub fn parse(delta: i64, reason: &str, note: &str) -> Result<Self, AppError> {
        if delta == 0 || !(-STOCK_DELTA_MAX..=STOCK_DELTA_MAX).contains(&delta) {
            return Err(AppError::unprocessable(
                "invalid_value",
                format!("delta is a change of 1 to {STOCK_DELTA_MAX} units, up or down"),
                Some("delta".into()),
            ));
        }
        Ok(Self {
            delta,
            reason: AdjustmentReason::parse(reason)?,
            note: display_text("note", note, 0, NOTE_CHARS_MAX, Lines::Single)?,
        })
    }
}

impl TryFrom<StockAdjustmentRequest> for NewAdjustment {
    type Error = AppError;

    fn try_from(request: StockAdjustmentRequest) -> Result<Self, AppError> {
        Self::parse(
            request.delta,
            &request.reason,
            request.note.as_deref().unwrap_or(""),
        )
    }
}

/// An adjustment as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = stock_adjustments)]
pub struct StockAdjustment {
    pub id: String,
    pub product_id: String,
    pub shop_id: String,
    pub delta: i64,
    pub reason: String,
    pub note: String,
    /// The product's stock right after this adjustment.
    pub stock_after: i64,
    pub actor_user_id: String,
    pub created_at: NaiveDateTime,
}

/// The JSON shape of an adjustment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StockAdjustmentView<'a> {
    pub id: &'a str,
    pub product_id: &'a str,
    pub delta: i64,
    pub reason: &'a str,
    pub note: &'a str,
    /// The product's stock right after this adjustment.
    pub stock_after: i64,
    /// Who made it.
    pub actor_user_id: &'a str,
    pub created_at: String,
}

impl StockAdjustment {
    /// The adjustment's JSON shape.
    pub fn view(&self) -> StockAdjustmentView<'_> {
        StockAdjustmentView {
            id: &self.id,
            product_id: &self.product_id,
            delta: self.delta,
            reason: &self.reason,
            note: &self.note,
            stock_after: self.stock_after,
            actor_user_id: &self.actor_user_id,
            created_at: db::rfc3339(self.created_at),
        }
    }
}

/// Adds `adjustment.delta` to the stock of a product `viewer` may manage and
/// records it, in one transaction. The change is one conditional `UPDATE`
/// (`stock + delta` between 0 and [`STOCK_MAX`]), so a checkout reserving
/// units at the same moment can make it fail, never go negative.
///
/// # Errors
/// 404 for a product of another seller's shop; 409 `insufficient_stock`
/// when the decrease is more than the units on hand; 422 `invalid_value`
/// (param `delta`) when the stock would pass [`STOCK_MAX`].
#[tracing::instrument(skip(conn, adjustment), fields(delta = adjustment.delta))]
pub fn adjust_stock(
    conn: &mut DbConnection,
    product_id: &str,
    viewer: &str,
    staff: bool,
    adjustment: &NewAdjustment,
) -> Result<StockAdjustment, AppError> {
    let delta = adjustment.delta;
    let recorded = db::write_transaction(conn, |conn| {
        let product = product_for(conn, product_id, viewer, staff)?;
        let now = db::now();
        let updated = diesel::update(
            products::table
                .find(product_id)
                .filter((products::stock + delta).ge(0))
                .filter((products::stock + delta).le(STOCK_MAX)),
        )
        .set((
            products::stock.eq(products::stock + delta),
            products::updated_at.eq(now),
        ))
        .execute(conn)?;
        assert!(updated <= 1, "a primary key matched {updated} rows");
        let stock_after: i64 = products::table
            .find(product_id)
            .select(products::stock)
            .first(conn)
            .optional()?
            .ok_or_else(product_not_found)?;
        if updated == 0 {
            return Err(if delta < 0 {
                AppError::Conflict {
                    code: "insufficient_stock",
                    message: format!(
                        "only {stock_after} in stock: {} cannot be taken away",
                        -delta
                    ),
                }
            } else {
                AppError::unprocessable(
                    "invalid_value",
                    format!("stock would pass {STOCK_MAX}; it is {stock_after}"),
                    Some("delta".into()),
                )
            });
        }
        // The CHECK constraint promises this; a failure is a bug, not input.
        assert!(stock_after >= 0, "product {product_id}: negative stock");
        let row = StockAdjustment {
            id: format!("sadj_{}", uuid::Uuid::new_v4().simple()),
            product_id: product.id,
            shop_id: product.shop_id,
            delta,
            reason: adjustment.reason.as_str().to_owned(),
            note: adjustment.note.clone(),
            stock_after,
            actor_user_id: viewer.to_owned(),
            created_at: now,
        };
        diesel::insert_into(stock_adjustments::table)
            .values((
                stock_adjustments::id.eq(&row.id),
                stock_adjustments::product_id.eq(&row.product_id),
                stock_adjustments::shop_id.eq(&row.shop_id),
                stock_adjustments::delta.eq(row.delta),
                stock_adjustments::reason.eq(&row.reason),
                stock_adjustments::note.eq(&row.note),
                stock_adjustments::stock_after.eq(row.stock_after),
                stock_adjustments::actor_user_id.eq(&row.actor_user_id),
                stock_adjustments::created_at.eq(row.created_at),
            ))
            .execute(conn)?;
        let product = find_product(conn, product_id)?.ok_or_else(product_not_found)?;
        emit_product_written(conn, stock_after - delta, &product)?;
        Ok(row)
    });
    cache::invalidate_stock(product_id);
    recorded
}

/// The newest `limit` adjustments (1..=[`ADJUSTMENTS_LIMIT_MAX`]) of a
/// product `viewer` may manage, newest first.
///
/// # Errors
/// 404 for a product of another seller's shop; 422 `invalid_value` (param
/// `limit`) out of range.
pub fn list_stock_adjustments(
    conn: &mut DbConnection,
    product_id: &str,
    viewer: &str,
    staff: bool,
    limit: i64,
) -> Result<Vec<StockAdjustment>, AppError> {
    if !(1..=ADJUSTMENTS_LIMIT_MAX).contains(&limit) {
        return Err(AppError::unprocessable(
            "invalid_value",
            format!("limit must be between 1 and {ADJUSTMENTS_LIMIT_MAX}"),
            Some("limit".into()),
        ));
    }
    let product = product_for(conn, product_id, viewer, staff)?;
    Ok(stock_adjustments::table
        .filter(stock_adjustments::product_id.eq(&product.id))
        .order((
            stock_adjustments::created_at.desc(),
            stock_adjustments::id.desc(),
        ))
        .limit(limit)
        .select(StockAdjustment::as_select())
        .load(conn)?)
}
