//! What buyers may know of a shop: its public profile. Only shops that can
//! sell have one; a shop that is frozen or not onboarded is not found, so
//! buyers never see a shop whose products they could not buy.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::profile::{profile_of, ShopProfile};
use super::schema::shops;
use super::shops::{find_shop, sellable_shop_ids, Shop, ShopRow, LIST_LIMIT_MAX};
use crate::db::{self, DbConnection};
use crate::error::AppError;

/// A shop as buyers see it: no owner, no provider state, no support address
/// beyond what the shop chose to publish; its description, logo and return
/// policy are the seller's own ([`super::profile`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PublicShop {
    pub id: String,
    pub name: String,
    pub slug: String,
    /// ISO 3166-1 alpha-2: where the shop ships from.
    pub country: String,
    /// The shop's own address for buyers' questions.
    pub support_email: String,
    /// When the shop joined, RFC 3339.
    pub member_since: String,
    /// Plain text (line breaks kept); empty when the seller wrote none.
    pub description: String,
    /// An http(s) URL or a `/media/…` path; `null` when the shop has no logo.
    pub logo_url: Option<String>,
    /// Plain text (line breaks kept); empty when the seller wrote none.
    pub return_policy: String,
}

impl PublicShop {
    /// The public face of `shop` with its seller-written `profile`.
    fn of(shop: &Shop, profile: ShopProfile) -> Self {
        Self {
            id: shop.id.clone(),
            name: shop.name.clone(),
            slug: shop.slug.clone(),
            country: shop.country.clone(),
            support_email: shop.support_email.clone(),
            member_since: db::rfc3339(shop.created_at),
            description: profile.description,
            logo_url: profile.logo_url,
            return_policy: profile.return_policy,
        }
    }
}

/// The public profile of a shop that can sell ([`Shop::can_sell`]).
///
/// # Errors
/// 404 `not_found` for an unknown shop or one that cannot sell now.
pub fn public_shop(conn: &mut DbConnection, id: &str) -> Result<PublicShop, AppError> {
    match find_shop(conn, id)? {
        Some(shop) if shop.can_sell() => {
            let profile = profile_of(conn, id)?.ok_or(AppError::NotFound { resource: "shop" })?;
            Ok(PublicShop::of(&shop, profile))
        }
        _ => Err(AppError::NotFound { resource: "shop" }),
    }
}

/// Every shop that can sell, by name (at most [`LIST_LIMIT_MAX`]).
///
/// # Errors
/// A database failure.
pub fn public_shops(conn: &mut DbConnection) -> Result<Vec<PublicShop>, AppError> {
    let rows: Vec<(ShopRow, ShopProfile)> = shops::table
        .filter(shops::id.eq_any(sellable_shop_ids_owned(conn)?))
        .order((shops::name.asc(), shops::id.asc()))
        .limit(LIST_LIMIT_MAX)
        .select((ShopRow::as_select(), ShopProfile::as_select()))
        .load(conn)?;
    let mut shops = Vec::with_capacity(rows.len());
    for (row, profile) in rows {
        let shop = Shop::try_from(row)?;
        if shop.can_sell() {
            shops.push(PublicShop::of(&shop, profile));
        }
    }
    Ok(shops)
}

/// The ids of the shops that can sell, loaded (a table cannot be its own
/// subquery through diesel's `MultiConnection`).
fn sellable_shop_ids_owned(conn: &mut DbConnection) -> Result<Vec<String>, AppError> {
    Ok(sellable_shop_ids().load(conn)?)
}

/// The names of these shops, whatever their state (an order keeps showing
/// the shop it was bought from after the shop stops selling).
///
/// # Errors
/// A database failure.
pub fn shop_names(
    conn: &mut DbConnection,
    ids: &[&str],
) -> Result<HashMap<String, String>, AppError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(shops::table
        .filter(shops::id.eq_any(ids))
        .select((shops::id, shops::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}
