//! Shipping rates and returns policies in the database: reading a shop's,
//! replacing them as a whole, and quoting the parts of a cart.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::{Destination, ShippingRate, ShopShipping};
use super::quote::{quote, Quote};
use super::schema::{shipping_rates, shop_return_policies};
use super::{return_policy, ReturnPolicy};
use crate::db::DbConnection;
use crate::error::AppError;
use crate::money::{Currency, Money};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = shipping_rates)]
struct RateRow {
    id: String,
    shop_id: String,
    destination: String,
    currency: String,
    first_item_minor: i64,
    additional_item_minor: i64,
    free_above_minor: Option<i64>,
    handling_days: i32,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

fn corrupt(what: &str, id: &str) -> AppError {
    AppError::Internal(anyhow::anyhow!(
        "stored shipping rate is invalid: {what} of {id}"
    ))
}

impl TryFrom<RateRow> for ShippingRate {
    type Error = AppError;

    fn try_from(row: RateRow) -> Result<Self, AppError> {
        let destination = Destination::parse("destination", &row.destination)
            .map_err(|_| corrupt("destination", &row.id))?;
        let currency = Currency::parse(&row.currency).map_err(|_| corrupt("currency", &row.id))?;
        Ok(Self {
            destination,
            currency,
            first_item_minor: row.first_item_minor,
            additional_item_minor: row.additional_item_minor,
            free_above_minor: row.free_above_minor,
            handling_days: row.handling_days,
        })
    }
}

/// The rates of each of `shop_ids` (a shop without rates is absent), each
/// shop's by destination then currency.
///
/// # Errors
/// A database failure, or a stored rate out of shape (500).
pub fn rates_of_shops(
    conn: &mut DbConnection,
    shop_ids: &[&str],
) -> Result<HashMap<String, Vec<ShippingRate>>, AppError> {
    let mut by_shop: HashMap<String, Vec<ShippingRate>> = HashMap::new();
    if shop_ids.is_empty() {
        return Ok(by_shop);
    }
    // At most RATES_MAX rows per shop (the PUT refuses more).
    let rows: Vec<RateRow> = shipping_rates::table
        .filter(shipping_rates::shop_id.eq_any(shop_ids))
        .select(RateRow::as_select())
        .load(conn)?;
    for row in rows {
        let shop_id = row.shop_id.clone();
        by_shop
            .entry(shop_id)
            .or_default()
            .push(ShippingRate::try_from(row)?);
    }
    for rates in by_shop.values_mut() {
        rates.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    }
    Ok(by_shop)
}

/// A shop's rates and returns policy (no rates: none; no policy: the defaults).
///
/// # Errors
/// A database failure.
pub fn shop_shipping(conn: &mut DbConnection, shop_id: &str) -> Result<ShopShipping, AppError> {
    let rates = rates_of_shops(conn, &[shop_id])?
        .remove(shop_id)
        .unwrap_or_default();
    Ok(ShopShipping {
        rates,
        returns: return_policy(conn, shop_id)?,
    })
}

/// Replaces every rate of the shop and its returns policy with `shipping`.
/// Call inside a write transaction: the old set and the new never mix.
///
/// # Errors
/// A database failure (a concurrent writer of the same shop's rates fails on
/// the unique (shop, destination, currency) index: 409).
#[tracing::instrument(skip(conn, shipping))]
pub fn replace_shop_shipping(
    conn: &mut DbConnection,
    shop_id: &str,
    shipping: &ShopShipping,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::delete(shipping_rates::table.filter(shipping_rates::shop_id.eq(shop_id)))
        .execute(conn)?;
    // One row per statement: the MultiConnection derive has no multi-row insert.
    for rate in &shipping.rates {
        diesel::insert_into(shipping_rates::table)
            .values(RateRow {
                id: format!("shr_{}", uuid::Uuid::new_v4().simple()),
                shop_id: shop_id.to_owned(),
                destination: rate.destination.as_str().to_owned(),
                currency: rate.currency.code().to_owned(),
                first_item_minor: rate.first_item_minor,
                additional_item_minor: rate.additional_item_minor,
                free_above_minor: rate.free_above_minor,
                handling_days: rate.handling_days,
                created_at: now,
                updated_at: now,
            })
            .execute(conn)?;
    }
    let ReturnPolicy {
        window_days,
        refunds_shipping,
    } = shipping.returns;
    // No ON CONFLICT through the MultiConnection derive: update, else insert
    // (the write transaction keeps the two from racing).
    let updated = diesel::update(shop_return_policies::table.find(shop_id))
        .set((
            shop_return_policies::window_days.eq(window_days),
            shop_return_policies::refunds_shipping.eq(refunds_shipping),
            shop_return_policies::updated_at.eq(now),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(shop_return_policies::table)
            .values((
                shop_return_policies::shop_id.eq(shop_id),
                shop_return_policies::window_days.eq(window_days),
                shop_return_policies::refunds_shipping.eq(refunds_shipping),
                shop_return_policies::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// One shop's part of a cart or order, as shipping prices it.
#[derive(Debug, Clone, Copy)]
pub struct PartToShip<'a> {
    pub shop_id: &'a str,
    /// What the part's items come to.
    pub items: Money,
    /// How many units the part holds (≥ 1).
    pub units: i64,
}

/// The quote of each part (in the same order) to `country`, each under its
/// shop's rates as stored now: see [`quote`].
///
/// # Errors
/// A database failure; 422 `amount_overflow` for an amount that does not fit.
pub fn quote_parts(
    conn: &mut DbConnection,
    country: &str,
    parts: &[PartToShip<'_>],
) -> Result<Vec<Quote>, AppError> {
    let shop_ids: Vec<&str> = parts.iter().map(|p| p.shop_id).collect();
    let rates = rates_of_shops(conn, &shop_ids)?;
    parts
        .iter()
        .map(|part| {
            let shop_rates = rates.get(part.shop_id).map_or(&[][..], Vec::as_slice);
            Ok(quote(shop_rates, country, part.items, part.units)?)
        })
        .collect()
}
