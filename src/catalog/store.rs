//! Products in the database: create, read with visibility rules, update, and
//! the atomic stock operations checkout relies on.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::cache;
use super::model::{new_product_id, Image, NewProduct, Product, ProductPatch, QUANTITY_MAX};
use super::schema::products;
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::events::outbox::{self, NewEvent};
use crate::events::types::EventType;
use crate::money::{Currency, Money};
use crate::sellers::shops::{self, Shop};

/// A product as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = products)]
pub(crate) struct ProductRow {
    id: String,
    shop_id: String,
    sku: String,
    title: String,
    description: String,
    price_minor: i64,
    currency: String,
    stock: i64,
    category: String,
    images: String,
    active: bool,
    archived_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl ProductRow {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

impl TryFrom<ProductRow> for Product {
    type Error = AppError;

    fn try_from(row: ProductRow) -> Result<Self, AppError> {
        let corrupt = |what: &str| {
            AppError::Internal(anyhow::anyhow!(
                "product {}: stored {what} is invalid",
                row.id
            ))
        };
        let currency = Currency::parse(&row.currency).map_err(|_| corrupt("currency"))?;
        let images: Vec<Image> =
            serde_json::from_str(&row.images).map_err(|_| corrupt("images"))?;
        // The CHECK constraints promise these; a row that breaks them is a bug.
        assert!(row.stock >= 0, "product {}: negative stock", row.id);
        assert!(
            row.price_minor > 0,
            "product {}: non-positive price",
            row.id
        );
        Ok(Self {
            price: Money::new(row.price_minor, currency),
            images,
            id: row.id,
            shop_id: row.shop_id,
            sku: row.sku,
            title: row.title,
            description: row.description,
            stock: row.stock,
            category: row.category,
            active: row.active,
            archived_at: row.archived_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// What a case-insensitive search matches against: title and description,
/// lowercased once here so queries need no `lower()` or `ilike`.
pub(crate) fn search_text(title: &str, description: &str) -> String {
    format!("{title}\n{description}").to_lowercase()
}

fn sku_taken(sku: &str) -> AppError {
    AppError::Conflict {
        code: "sku_taken",
        message: format!("this shop already has a product with SKU `{sku}`"),
    }
}

/// Saves a new product of `shop`. This is the one way products are created
/// (the HTTP endpoint and the demo loader both come here).
///
/// # Errors
/// 422 `currency_mismatch` (param `currency`) when the price is not in the
/// shop's default currency; 409 `sku_taken` when the shop has the SKU already.
#[tracing::instrument(skip(conn, shop, new), fields(shop_id = %shop.id, sku = new.sku.as_str()))]
pub fn insert_product(
    conn: &mut DbConnection,
    shop: &Shop,
    new: &NewProduct,
) -> Result<Product, AppError> {
    if new.price.currency != shop.default_currency {
        return Err(AppError::unprocessable(
            "currency_mismatch",
            format!(
                "this shop sells in {}; the price is in {}",
                shop.default_currency, new.price.currency
            ),
            Some("currency".into()),
        ));
    }
    let product = db::write_transaction(conn, |conn| {
        let product = insert_product_row(conn, shop, new)?;
        emit_product_event(conn, EventType::ProductCreated, &product)?;
        Ok::<_, AppError>(product)
    })?;
    cache::invalidate(&product.id);
    Ok(product)
}

fn insert_product_row(
    conn: &mut DbConnection,
    shop: &Shop,
    new: &NewProduct,
) -> Result<Product, AppError> {
    let id = new_product_id();
    let now = db::now();
    let inserted = diesel::insert_into(products::table)
        .values((
            products::id.eq(&id),
            products::shop_id.eq(&shop.id),
            products::sku.eq(new.sku.as_str()),
            products::title.eq(new.title.as_str()),
            products::description.eq(new.description.as_str()),
            products::price_minor.eq(new.price.minor),
            products::currency.eq(new.price.currency.code()),
            products::stock.eq(new.stock.get()),
            products::category.eq(new.category.as_str()),
            products::images.eq(new.images.to_json()),
            products::active.eq(new.active),
            products::search_text.eq(search_text(new.title.as_str(), new.description.as_str())),
            products::created_at.eq(now),
            products::updated_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => {}
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => return Err(sku_taken(new.sku.as_str())),
        Err(other) => return Err(other.into()),
    }
    find_product(conn, &id)?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("product {id} vanished after insert")))
}

/// Records `kind` about `product`, with the product as the API answers it
/// as the payload; its shop's feed sees it too. Call inside the write
/// transaction of the change.
pub(crate) fn emit_product_event(
    conn: &mut DbConnection,
    kind: EventType,
    product: &Product,
) -> Result<(), AppError> {
    let data = serde_json::to_value(product.view())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("product payload: {e}")))?;
    outbox::emit(conn, NewEvent::new(kind, data).shop(&product.shop_id))?;
    Ok(())
}

/// `product.updated` for a seller's or operator's write, then
/// `product.out_of_stock` when that write took the last units away.
pub(crate) fn emit_product_written(
    conn: &mut DbConnection,
    stock_before: i64,
    product: &Product,
) -> Result<(), AppError> {
    emit_product_event(conn, EventType::ProductUpdated, product)?;
    if stock_before > 0 && product.stock == 0 {
        emit_product_event(conn, EventType::ProductOutOfStock, product)?;
    }
    Ok(())
}

/// Creates a product in the shop `shop_id` if `viewer` owns it (or is staff).
///
/// # Errors
/// 404 when the shop does not exist or belongs to someone else; otherwise as
/// [`insert_product`].
pub fn create_product(
    conn: &mut DbConnection,
    shop_id: &str,
    viewer: &str,
    staff: bool,
    new: &NewProduct,
) -> Result<Product, AppError> {
    let shop = shops::shop_for(conn, shop_id, viewer, staff)?;
    insert_product(conn, &shop, new)
}

/// The product with this id, whatever its state.
///
/// # Errors
/// A database failure.
pub fn find_product(conn: &mut DbConnection, id: &str) -> Result<Option<Product>, AppError> {
    products::table
        .find(id)
        .select(ProductRow::as_select())
        .first(conn)
        .optional()?
        .map(Product::try_from)
        .transpose()
}

pub(crate) fn product_not_found() -> AppError {
    AppError::NotFound {
        resource: "product",
    }
}

/// The product, if `viewer` owns its shop or is staff; anyone else gets 404,
/// not 403, so product ids cannot be probed.
///
/// # Errors
/// 404 `not_found`.
pub fn product_for(
    conn: &mut DbConnection,
    id: &str,
    viewer: &str,
    staff: bool,
) -> Result<Product, AppError> {
    let product = find_product(conn, id)?.ok_or_else(product_not_found)?;
    if !staff {
        shops::shop_for(conn, &product.shop_id, viewer, staff).map_err(|_| product_not_found())?;
    }
    Ok(product)
}

/// The product as buyers see it: active, in a shop that can sell.
///
/// # Errors
/// 404 `not_found` for unknown or inactive products and unsellable shops.
pub fn visible_product(conn: &mut DbConnection, id: &str) -> Result<Product, AppError> {
    products::table
        .find(id)
        .filter(products::active.eq(true))
        .filter(products::shop_id.eq_any(shops::sellable_shop_ids()))
        .select(ProductRow::as_select())
        .first(conn)
        .optional()?
        .map(Product::try_from)
        .transpose()?
        .ok_or_else(product_not_found)
}

/// The columns a patch may set; `None` leaves a column alone.
#[derive(AsChangeset)]
#[diesel(table_name = products)]
struct Changes<'a> {
    title: Option<&'a str>,
    description: Option<&'a str>,
    price_minor: Option<i64>,
    stock: Option<i64>,
    category: Option<&'a str>,
    images: Option<String>,
    active: Option<bool>,
    archived_at: Option<Option<NaiveDateTime>>,
    search_text: Option<String>,
    updated_at: NaiveDateTime,
}

/// Applies a partial update to a product `viewer` may manage. Price changes
/// affect future orders only: orders keep the price they were placed at.
/// Setting `stock` states the count on hand (a restock or a recount).
///
/// # Errors
/// 404 when the product does not exist or belongs to another seller's shop.
#[tracing::instrument(skip(conn, patch))]
pub fn update_product(
    conn: &mut DbConnection,
    id: &str,
    viewer: &str,
    staff: bool,
    patch: &ProductPatch,
) -> Result<Product, AppError> {
    let updated = db::write_transaction(conn, |conn| {
        let current = product_for(conn, id, viewer, staff)?;
        if patch.is_empty() {
            return Ok(current);
        }
        let search = (patch.title.is_some() || patch.description.is_some()).then(|| {
            search_text(
                patch.title.as_ref().map_or(&current.title, |t| t.as_str()),
                patch
                    .description
                    .as_ref()
                    .map_or(&current.description, |d| d.as_str()),
            )
        });
        diesel::update(products::table.find(id))
            .set(Changes {
                title: patch.title.as_ref().map(|t| t.as_str()),
                description: patch.description.as_ref().map(|d| d.as_str()),
                price_minor: patch.price_minor.map(|p| p.get()),
                stock: patch.stock.map(|s| s.get()),
                category: patch.category.as_ref().map(|c| c.as_str()),
                images: patch.images.as_ref().map(|i| i.to_json()),
                active: patch.active,
                // Setting a product active again is how it is unarchived.
                archived_at: (patch.active == Some(true)).then_some(None),
                search_text: search,
                updated_at: db::now(),
            })
            .execute(conn)?;
        let product = find_product(conn, id)?.ok_or_else(product_not_found)?;
        emit_product_written(conn, current.stock, &product)?;
        Ok(product)
    });
    cache::invalidate(id);
    updated
}

fn check_quantity(quantity: i64) -> Result<(), AppError> {
    if (1..=QUANTITY_MAX).contains(&quantity) {
        Ok(())
    } else {
        Err(AppError::unprocessable(
            "invalid_value",
            format!("quantity must be between 1 and {QUANTITY_MAX}"),
            Some("quantity".into()),
        ))
    }
}

/// Takes `quantity` units of an active product out of stock, atomically: one
/// conditional `UPDATE`, so racing buyers can never drive stock below zero.
/// Returns `true` when reserved, `false` when there is not enough stock (or
/// the product is inactive or unknown). Nothing else decrements stock.
/// Whether the shop may sell is the caller's check (checkout reads the product
/// and its shop first); this is only about units.
///
/// # Errors
/// 422 `invalid_value` (param `quantity`) outside 1..=[`QUANTITY_MAX`].
#[tracing::instrument(skip(conn))]
pub fn reserve_stock(
    conn: &mut DbConnection,
    product_id: &str,
    quantity: i64,
) -> Result<bool, AppError> {
    check_quantity(quantity)?;
    // Its own transaction when called alone (a savepoint inside checkout's):
    // the last unit's `product.out_of_stock` is written with the reservation.
    db::write_transaction(conn, |conn| reserve_in(conn, product_id, quantity))
}

fn reserve_in(conn: &mut DbConnection, product_id: &str, quantity: i64) -> Result<bool, AppError> {
    let updated = diesel::update(
        products::table
            .find(product_id)
            .filter(products::stock.ge(quantity))
            .filter(products::active.eq(true)),
    )
    .set((
        products::stock.eq(products::stock - quantity),
        products::updated_at.eq(db::now()),
    ))
    .execute(conn)?;
    assert!(updated <= 1, "a primary key matched {updated} rows");
    cache::invalidate_stock(product_id);
    if updated == 1 {
        // The row is locked by the UPDATE until the checkout commits: the
        // stock read is this reservation's result, and only the reservation
        // that took the last unit sees 0. A checkout is not a seller's
        // write, so no `product.updated`: one per order line would drown
        // the feed.
        let product = find_product(conn, product_id)?.ok_or_else(product_not_found)?;
        if product.stock == 0 {
            emit_product_event(conn, EventType::ProductOutOfStock, &product)?;
        }
    }
    Ok(updated == 1)
}

/// Puts `quantity` units back (an order cancelled or a reservation expired),
/// whether or not the product is still active.
///
/// # Errors
/// 422 `invalid_value` (param `quantity`) outside 1..=[`QUANTITY_MAX`];
/// 404 when the product does not exist.
#[tracing::instrument(skip(conn))]
pub fn release_stock(
    conn: &mut DbConnection,
    product_id: &str,
    quantity: i64,
) -> Result<(), AppError> {
    check_quantity(quantity)?;
    let updated = diesel::update(products::table.find(product_id))
        .set((
            products::stock.eq(products::stock + quantity),
            products::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    assert!(updated <= 1, "a primary key matched {updated} rows");
    cache::invalidate_stock(product_id);
    if updated == 0 {
        return Err(product_not_found());
    }
    Ok(())
}
