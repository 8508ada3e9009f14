//! The demo catalog (`fixtures/demo_catalog.json`): shops and their products,
//! loaded by `bazaar demo --seed`.
//!
//! Loading is all-or-nothing (one write transaction) and can be repeated: a
//! shop whose slug exists already is reused, a product whose SKU its shop has
//! already is skipped. Shops are created without a provider account; making
//! them sellable (onboarding) is the seed command's job.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::model::{CreateProductRequest, ImageRequest, NewProduct};
use super::store::insert_product;
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::sellers::schema::shops;
use crate::sellers::shops::{create_shop, find_shop, NewShop, Shop};

/// The demo catalog as embedded in the binary.
pub const DEMO_CATALOG_JSON: &str = include_str!("../../fixtures/demo_catalog.json");

/// Most shops and products a demo file may hold (it is loaded in one transaction).
const DEMO_SHOPS_MAX: usize = 100;
const DEMO_PRODUCTS_MAX: usize = 10_000;

/// The file's shape: shops, and products naming their shop by slug.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoCatalog {
    pub shops: Vec<DemoShop>,
    pub products: Vec<DemoProduct>,
}

/// A shop of the demo catalog.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoShop {
    pub slug: String,
    pub name: String,
    pub country: String,
    pub default_currency: String,
    pub support_email: String,
}

/// A product of the demo catalog; `shop` is its shop's slug.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoProduct {
    pub shop: String,
    pub sku: String,
    pub title: String,
    pub description: String,
    pub price_minor: i64,
    pub currency: String,
    pub stock: i64,
    pub category: String,
    pub images: Vec<DemoImage>,
}

/// An image of a demo product.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoImage {
    pub url: String,
    pub alt: String,
}

impl DemoCatalog {
    /// Parses a demo file.
    ///
    /// # Errors
    /// 422 naming the offending field, as for an API request body.
    pub fn parse(json: &str) -> Result<Self, AppError> {
        let catalog: Self = crate::http::json::parse(json.as_bytes())?;
        if catalog.shops.len() > DEMO_SHOPS_MAX || catalog.products.len() > DEMO_PRODUCTS_MAX {
            return Err(AppError::unprocessable(
                "invalid_value",
                format!(
                    "a demo catalog has at most {DEMO_SHOPS_MAX} shops \
                     and {DEMO_PRODUCTS_MAX} products"
                ),
                None,
            ));
        }
        Ok(catalog)
    }
}

/// What a load did.
#[derive(Debug, Clone)]
pub struct DemoLoaded {
    /// Every shop of the file, created now or found by slug.
    pub shops: Vec<Shop>,
    /// Products created by this load.
    pub products_inserted: usize,
    /// Products skipped because their shop had the SKU already.
    pub products_skipped: usize,
}

fn shop_by_slug(conn: &mut DbConnection, slug: &str) -> Result<Option<Shop>, AppError> {
    let id: Option<String> = shops::table
        .filter(shops::slug.eq(slug))
        .select(shops::id)
        .first(conn)
        .optional()?;
    match id {
        Some(id) => find_shop(conn, &id),
        None => Ok(None),
    }
}

fn in_item(index: usize, kind: &str, error: AppError) -> AppError {
    match error {
        AppError::Unprocessable {
            code,
            message,
            param,
        } => AppError::Unprocessable {
            code,
            message: format!("{kind}[{index}]: {message}"),
            param: Some(format!("{kind}[{index}].{}", param.unwrap_or_default())),
        },
        other => other,
    }
}

/// Loads a demo catalog: creates its shops (owned by `owner_for_shop(slug)`,
/// a user id) unless their slug exists, then inserts their products.
///
/// # Errors
/// 422 for a malformed file or an invalid shop or product (param names it,
/// e.g. `products[3].price_minor`); nothing is written then.
pub fn load_demo_catalog(
    conn: &mut DbConnection,
    owner_for_shop: impl Fn(&str) -> String,
    json: &str,
) -> Result<DemoLoaded, AppError> {
    let catalog = DemoCatalog::parse(json)?;
    db::write_transaction(conn, |conn| {
        let mut loaded = DemoLoaded {
            shops: Vec::with_capacity(catalog.shops.len()),
            products_inserted: 0,
            products_skipped: 0,
        };
        for (i, demo) in catalog.shops.iter().enumerate() {
            let shop = match shop_by_slug(conn, &demo.slug)? {
                Some(shop) => shop,
                None => {
                    let new = NewShop::parse(
                        &demo.name,
                        &demo.slug,
                        &demo.country,
                        &demo.default_currency,
                        &demo.support_email,
                    )
                    .map_err(|e| in_item(i, "shops", e))?;
                    create_shop(conn, &owner_for_shop(&demo.slug), &new)?
                }
            };
            loaded.shops.push(shop);
        }
        for (i, demo) in catalog.products.iter().enumerate() {
            let shop = loaded
                .shops
                .iter()
                .find(|shop| shop.slug == demo.shop)
                .ok_or_else(|| {
                    AppError::unprocessable(
                        "invalid_value",
                        format!(
                            "products[{i}]: no shop with slug `{}` in the file",
                            demo.shop
                        ),
                        Some(format!("products[{i}].shop")),
                    )
                })?;
            let new = NewProduct::try_from(CreateProductRequest {
                sku: demo.sku.clone(),
                title: demo.title.clone(),
                description: demo.description.clone(),
                price_minor: demo.price_minor,
                currency: demo.currency.clone(),
                stock: demo.stock,
                category: demo.category.clone(),
                images: demo
                    .images
                    .iter()
                    .map(|image| ImageRequest {
                        url: image.url.clone(),
                        alt: image.alt.clone(),
                    })
                    .collect(),
                active: true,
            })
            .map_err(|e| in_item(i, "products", e))?;
            // A savepoint per product: on PostgreSQL a failed statement aborts the
            // enclosing transaction, so a taken SKU must roll back only itself.
            match db::write_transaction(conn, |conn| insert_product(conn, shop, &new)) {
                Ok(_) => loaded.products_inserted += 1,
                Err(AppError::Conflict {
                    code: "sku_taken", ..
                }) => loaded.products_skipped += 1,
                Err(other) => return Err(in_item(i, "products", other)),
            }
        }
        Ok(loaded)
    })
}
