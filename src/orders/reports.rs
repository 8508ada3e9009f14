//! What staff read across orders: fee revenue by shop and by category, an
//! order's ledger causes, and the rows of the orders and fees exports.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::model::OrderStatus;
use super::schema::{disputes, order_lines, order_parts, orders, part_movements, refunds};
use crate::db::DbConnection;
use crate::error::AppError;
use crate::money::Money;

/// Fee revenue of one shop or category, in one currency. Answers show it as
/// [`FeeRevenueJson`].
#[derive(Debug, Clone, Default)]
pub struct FeeRevenue {
    /// The shop id or the category.
    pub key: String,
    /// The shop's name (rows by shop only).
    pub shop_name: Option<String>,
    pub currency: String,
    pub parts: i64,
    pub subtotal_minor: i64,
    pub fees_minor: i64,
}

/// Fee revenue of one shop or category, in one currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = FeeRevenue)]
pub struct FeeRevenueJson<'a> {
    /// The shop id or the category.
    pub key: &'a str,
    /// The shop's name (rows by shop only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shop_name: Option<&'a str>,
    /// Order parts counted.
    pub parts: i64,
    pub subtotal: Money,
    pub fees: Money,
}

impl FeeRevenue {
    /// The row as answers show it.
    ///
    /// # Errors
    /// A stored currency that is no currency: a corrupt row.
    pub fn json(&self) -> Result<FeeRevenueJson<'_>, AppError> {
        let currency = crate::ledger::stored_currency(&self.currency, &self.key)?;
        Ok(FeeRevenueJson {
            key: &self.key,
            shop_name: self.shop_name.as_deref(),
            parts: self.parts,
            subtotal: Money::new(self.subtotal_minor, currency),
            fees: Money::new(self.fees_minor, currency),
        })
    }
}

crate::http::json::answered_as!(FeeRevenue => FeeRevenueJson);

/// Fee revenue of the orders paid in a period, by shop and by category.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeeRevenueReport {
    pub by_shop: Vec<FeeRevenue>,
    /// A part counts under the category its fee was priced by: its largest
    /// line's (see the README's fee rules).
    pub by_category: Vec<FeeRevenue>,
}

fn add(
    into: &mut BTreeMap<(String, String), FeeRevenue>,
    key: &str,
    currency: &str,
    subtotal: i64,
    fee: i64,
) {
    let row = into
        .entry((key.to_owned(), currency.to_owned()))
        .or_insert_with(|| FeeRevenue {
            key: key.to_owned(),
            currency: currency.to_owned(),
            ..FeeRevenue::default()
        });
    row.parts += 1;
    row.subtotal_minor += subtotal;
    row.fees_minor += fee;
}

/// Fee revenue of the parts of orders paid in `[from, to)`.
///
/// # Errors
/// A database failure.
pub fn fee_revenue(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<FeeRevenueReport, AppError> {
    let parts: Vec<(String, String, String, i64, i64)> = order_parts::table
        .inner_join(orders::table)
        .filter(orders::status.eq(OrderStatus::Paid.as_str()))
        .filter(orders::paid_at.ge(from))
        .filter(orders::paid_at.lt(to))
        .select((
            order_parts::id,
            order_parts::shop_id,
            orders::currency,
            order_parts::subtotal_minor,
            order_parts::fee_minor,
        ))
        .load(conn)?;
    // The lines of the same orders, by a subquery rather than a list of part
    // ids (a busy period has more parts than a statement may bind), grouped
    // by part once (a day of 10,000 orders has ~20,000 parts).
    let paid_orders = orders::table
        .filter(orders::status.eq(OrderStatus::Paid.as_str()))
        .filter(orders::paid_at.ge(from))
        .filter(orders::paid_at.lt(to))
        .select(orders::id);
    let lines: Vec<(String, String, i64, i32)> = order_lines::table
        .filter(order_lines::order_id.eq_any(paid_orders))
        .select((
            order_lines::part_id,
            order_lines::category,
            order_lines::amount_minor,
            order_lines::position,
        ))
        .load(conn)?;
    let mut largest: std::collections::HashMap<&str, (i64, i32, &str)> =
        std::collections::HashMap::new();
    for (part_id, category, amount, position) in &lines {
        let best =
            largest
                .entry(part_id.as_str())
                .or_insert((*amount, *position, category.as_str()));
        // The largest line, the first of equal ones.
        if (*amount, -*position) > (best.0, -best.1) {
            *best = (*amount, *position, category.as_str());
        }
    }
    let mut by_shop = BTreeMap::new();
    let mut by_category = BTreeMap::new();
    for (part_id, shop_id, currency, subtotal, fee) in &parts {
        let category = largest
            .get(part_id.as_str())
            .map_or("uncategorized", |l| l.2);
        add(&mut by_shop, shop_id, currency, *subtotal, *fee);
        add(&mut by_category, category, currency, *subtotal, *fee);
    }
    let mut by_shop: Vec<FeeRevenue> = by_shop.into_values().collect();
    let ids: Vec<&str> = by_shop.iter().map(|r| r.key.as_str()).collect();
    let names = crate::sellers::public::shop_names(conn, &ids)?;
    drop(ids);
    for row in &mut by_shop {
        row.shop_name = names.get(&row.key).cloned();
    }
    Ok(FeeRevenueReport {
        by_shop,
        by_category: by_category.into_values().collect(),
    })
}

/// Every ledger cause an order's facts posted under.
///
/// # Errors
/// A database failure.
pub fn ledger_causes(conn: &mut DbConnection, order_id: &str) -> Result<Vec<String>, AppError> {
    let charge: Option<Option<String>> = orders::table
        .find(order_id)
        .select(orders::charge_id)
        .first(conn)
        .optional()?;
    let Some(charge) = charge else {
        return Err(super::store::order_not_found());
    };
    let mut causes = vec![
        format!("allocation:{order_id}"),
        format!("late_payment:{order_id}"),
    ];
    causes.extend(charge.map(|c| format!("charge:{c}")));
    let movements: Vec<String> = part_movements::table
        .inner_join(order_parts::table)
        .filter(order_parts::order_id.eq(order_id))
        .select(part_movements::id)
        .load(conn)?;
    causes.extend(movements.into_iter().map(|m| format!("movement:{m}")));
    let refund_ids: Vec<String> = refunds::table
        .filter(refunds::order_id.eq(order_id))
        .select(refunds::id)
        .load(conn)?;
    causes.extend(refund_ids.into_iter().map(|r| format!("refund:{r}")));
    let dispute_ids: Vec<String> = disputes::table
        .filter(disputes::order_id.eq(order_id))
        .select(disputes::id)
        .load(conn)?;
    for dispute in dispute_ids {
        for kind in [
            "dispute_opened",
            "dispute_fee",
            "dispute_won",
            "dispute_lost",
        ] {
            causes.push(format!("{kind}:{dispute}"));
        }
    }
    Ok(causes)
}

/// One row of the orders export.
pub type OrderExportRow = (
    String,
    NaiveDateTime,
    String,
    String,
    String,
    i64,
    Option<i64>,
    i64,
    Option<NaiveDateTime>,
);

/// A page of orders for the export, newest first, before the cursor.
///
/// # Errors
/// A database failure.
pub fn orders_page(
    conn: &mut DbConnection,
    status: Option<OrderStatus>,
    from: NaiveDateTime,
    to: NaiveDateTime,
    before: Option<&(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<OrderExportRow>, AppError> {
    let mut query = orders::table
        .filter(orders::created_at.ge(from))
        .filter(orders::created_at.lt(to))
        .select((
            orders::id,
            orders::created_at,
            orders::status,
            orders::buyer_email,
            orders::currency,
            orders::total_minor,
            orders::processing_fee_minor,
            orders::refunded_minor,
            orders::paid_at,
        ))
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(orders::status.eq(status.as_str()));
    }
    if let Some((at, id)) = before {
        query = query.filter(
            orders::created_at
                .lt(*at)
                .or(orders::created_at.eq(*at).and(orders::id.lt(id.clone()))),
        );
    }
    Ok(query
        .order((orders::created_at.desc(), orders::id.desc()))
        .limit(limit)
        .load(conn)?)
}

/// One row of the fees export: a part of a paid order.
#[derive(Debug, Clone, Queryable)]
pub struct FeeExportRow {
    pub part_id: String,
    pub created_at: NaiveDateTime,
    pub order_id: String,
    pub shop_id: String,
    pub paid_at: Option<NaiveDateTime>,
    pub currency: String,
    pub subtotal_minor: i64,
    pub fee_minor: i64,
    pub processing_fee_minor: i64,
    pub seller_amount_minor: i64,
    pub fee_rule_version_id: String,
    pub processing_fee_payer: String,
}

/// A page of parts of orders paid in `[from, to)`, oldest first, after the cursor.
///
/// # Errors
/// A database failure.
pub fn fees_page(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
    after: Option<&(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<FeeExportRow>, AppError> {
    let mut query = order_parts::table
        .inner_join(orders::table)
        .filter(orders::status.eq(OrderStatus::Paid.as_str()))
        .filter(orders::paid_at.ge(from))
        .filter(orders::paid_at.lt(to))
        .select((
            order_parts::id,
            order_parts::created_at,
            order_parts::order_id,
            order_parts::shop_id,
            orders::paid_at,
            orders::currency,
            order_parts::subtotal_minor,
            order_parts::fee_minor,
            order_parts::processing_fee_minor,
            order_parts::seller_amount_minor,
            order_parts::fee_rule_version_id,
            order_parts::processing_fee_payer,
        ))
        .into_boxed();
    if let Some((at, id)) = after {
        query = query.filter(
            order_parts::created_at.gt(*at).or(order_parts::created_at
                .eq(*at)
                .and(order_parts::id.gt(id.clone()))),
        );
    }
    Ok(query
        .order((order_parts::created_at.asc(), order_parts::id.asc()))
        .limit(limit)
        .load(conn)?)
}
