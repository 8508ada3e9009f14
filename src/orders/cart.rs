//! The buyer's cart: lines of products from any number of shops. Adding a line
//! checks the product is buyable and in stock now; checkout checks again and
//! reserves, since stock and shops change meanwhile.

use diesel::prelude::*;
use serde::Serialize;

use super::model::CART_LINES_MAX;
use super::schema::cart_lines;
use super::store::{has_id_shape, new_id};
use crate::catalog::{self, Product, QUANTITY_MAX};
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::money::Money;
use crate::shipping::{self, PartToShip, Quote};

/// A cart line with what the buyer needs to see of its product now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CartLineView {
    pub id: String,
    pub product_id: String,
    pub shop_id: String,
    /// The shop's name: buyers see whom they buy from.
    pub shop_name: String,
    pub title: String,
    pub unit_price: Money,
    pub quantity: i64,
    pub amount: Money,
    /// Whether checkout would accept the line as it stands.
    pub available: bool,
}

/// A cart: its lines and a total per currency (a cart may mix currencies;
/// checkout refuses that, naming the lines).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CartView {
    pub lines: Vec<CartLineView>,
    /// What the items come to, per currency (shipping not included).
    pub totals: Vec<Money>,
    /// Shipping to the country asked for (`GET /v1/cart?country=FR`); absent
    /// when none was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping: Option<CartShipping>,
}

/// What shipping the cart to one country costs, shop by shop, as checkout
/// would price it now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CartShipping {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// One per shop (and currency), in the order the shops first appear.
    pub shops: Vec<ShopShippingView>,
    /// Items and shipping, per currency: what checkout would charge. Empty
    /// when a shop cannot ship to the country (checkout would refuse it).
    pub totals: Vec<Money>,
    /// Whether every shop ships to the country.
    pub ships: bool,
}

/// One shop's lines of the cart, shipped to the country quoted.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShopShippingView {
    pub shop_id: String,
    pub shop_name: String,
    /// What the shop's lines come to.
    pub items: Money,
    /// `null` when the shop cannot ship there (see `cannot_ship`).
    pub shipping: Option<Money>,
    /// Items + shipping; `null` when the shop cannot ship there.
    pub total: Option<Money>,
    /// Days from payment until the shop ships; `null` when it cannot ship there.
    pub handling_days: Option<i32>,
    /// The country, when the shop has rates and none for it in this
    /// currency: checkout would refuse its lines (`cannot_ship_to`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cannot_ship: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cart_lines)]
pub(crate) struct CartLineRow {
    pub id: String,
    pub product_id: String,
    pub quantity: i64,
}

fn check_quantity(quantity: i64) -> Result<(), AppError> {
    if (1..=QUANTITY_MAX).contains(&quantity) {
        Ok(())
    } else {
        Err(AppError::unprocessable(
            "invalid_value",
            format!("quantity is 1 to {QUANTITY_MAX}"),
            Some("quantity".into()),
        ))
    }
}

fn line_not_found() -> AppError {
    AppError::NotFound {
        resource: "cart line",
    }
}

/// The product as a buyer may buy it: visible and with `quantity` units in stock.
fn buyable(conn: &mut DbConnection, product_id: &str, quantity: i64) -> Result<Product, AppError> {
    let product = catalog::visible_product(conn, product_id).map_err(|error| match error {
        AppError::NotFound { .. } => AppError::unprocessable(
            "product_unavailable",
            "this product does not exist or cannot be bought now",
            Some("product_id".into()),
        ),
        other => other,
    })?;
    if product.stock < quantity {
        return Err(AppError::Conflict {
            code: "out_of_stock",
            message: format!(
                "only {} of `{}` in stock, {quantity} asked for",
                product.stock, product.title
            ),
        });
    }
    Ok(product)
}

pub(crate) fn cart_rows(
    conn: &mut DbConnection,
    buyer: &str,
) -> Result<Vec<CartLineRow>, AppError> {
    Ok(cart_lines::table
        .filter(cart_lines::buyer_user_id.eq(buyer))
        .order((cart_lines::created_at.asc(), cart_lines::id.asc()))
        .limit(CART_LINES_MAX)
        .select(CartLineRow::as_select())
        .load(conn)?)
}

/// The buyer's cart as it stands.
///
/// # Errors
/// A database failure.
pub fn cart(conn: &mut DbConnection, buyer: &str) -> Result<CartView, AppError> {
    let rows = cart_rows(conn, buyer)?;
    view_rows(conn, rows)
}

/// A cart kept outside the database (a visitor's, before signing in) as the
/// same view: `(product id, quantity)` pairs, each line's id its product's id.
/// Unknown products are left out; at most [`CART_LINES_MAX`] lines.
///
/// # Errors
/// A database failure.
pub fn guest_cart(conn: &mut DbConnection, lines: &[(String, i64)]) -> Result<CartView, AppError> {
    let rows = lines
        .iter()
        .take(usize::try_from(CART_LINES_MAX).unwrap_or(usize::MAX))
        .filter(|(product_id, _)| catalog::model::is_product_id(product_id))
        .map(|(product_id, quantity)| CartLineRow {
            id: product_id.clone(),
            product_id: product_id.clone(),
            quantity: *quantity,
        })
        .collect();
    view_rows(conn, rows)
}

/// Whether a cart kept outside the database may hold `quantity` units of the
/// product: the rules [`add_line`] and [`set_quantity`] apply.
///
/// # Errors
/// As [`add_line`].
pub fn check_line(
    conn: &mut DbConnection,
    product_id: &str,
    quantity: i64,
) -> Result<(), AppError> {
    check_quantity(quantity)?;
    buyable(conn, product_id, quantity).map(|_| ())
}

fn view_rows(conn: &mut DbConnection, rows: Vec<CartLineRow>) -> Result<CartView, AppError> {
    let mut lines = Vec::with_capacity(rows.len());
    let mut totals: Vec<Money> = Vec::new();
    let mut shop_names = std::collections::HashMap::new();
    for row in rows {
        // A line whose product was deleted from under it cannot exist (foreign key).
        let Some(product) = catalog::find_product(conn, &row.product_id)? else {
            continue;
        };
        let available = catalog::visible_product(conn, &row.product_id).is_ok()
            && product.stock >= row.quantity;
        let amount = Money::new(
            product
                .price
                .minor
                .checked_mul(row.quantity)
                .ok_or(crate::money::MoneyError::Overflow)?,
            product.price.currency,
        );
        match totals.iter_mut().find(|t| t.currency == amount.currency) {
            Some(total) => *total = total.checked_add(amount)?,
            None => totals.push(amount),
        }
        if !shop_names.contains_key(&product.shop_id) {
            let names = crate::sellers::shop_names(conn, &[product.shop_id.as_str()])?;
            shop_names.extend(names);
        }
        lines.push(CartLineView {
            id: row.id,
            shop_name: shop_names
                .get(&product.shop_id)
                .cloned()
                .unwrap_or_default(),
            product_id: product.id,
            shop_id: product.shop_id,
            title: product.title,
            unit_price: product.price,
            quantity: row.quantity,
            amount,
            available,
        });
    }
    Ok(CartView {
        lines,
        totals,
        shipping: None,
    })
}

/// The cart with what shipping it to `country` (uppercase ISO 3166-1
/// alpha-2) costs, shop by shop, under the shops' rates now: the rule
/// checkout applies (`shipping::quote`), over every line, available or not.
///
/// # Errors
/// A database failure; an amount that does not fit (422).
pub fn with_shipping(
    conn: &mut DbConnection,
    mut cart: CartView,
    country: &str,
) -> Result<CartView, AppError> {
    // Parts as checkout would make them: per shop (and, in a cart that mixes
    // them, per currency), in the order they first appear.
    let mut parts: Vec<(&CartLineView, Money, i64)> = Vec::new();
    for line in &cart.lines {
        let part = parts.iter_mut().find(|(first, _, _)| {
            first.shop_id == line.shop_id && first.amount.currency == line.amount.currency
        });
        match part {
            Some((_, items, units)) => {
                *items = items.checked_add(line.amount)?;
                *units = units
                    .checked_add(line.quantity)
                    .ok_or(crate::money::MoneyError::Overflow)?;
            }
            None => parts.push((line, line.amount, line.quantity)),
        }
    }
    let to_ship: Vec<PartToShip<'_>> = parts
        .iter()
        .map(|(line, items, units)| PartToShip {
            shop_id: &line.shop_id,
            items: *items,
            units: *units,
        })
        .collect();
    let quotes = shipping::quote_parts(conn, country, &to_ship)?;
    let mut shops = Vec::with_capacity(parts.len());
    let mut totals: Vec<Money> = Vec::new();
    for ((line, items, _), quote) in parts.iter().zip(quotes) {
        let (shipping, handling_days) = match quote {
            Quote::Ships {
                shipping,
                handling_days,
            } => (Some(shipping), Some(handling_days)),
            Quote::CannotShip => (None, None),
        };
        let total = shipping.map(|s| items.checked_add(s)).transpose()?;
        if let Some(total) = total {
            match totals.iter_mut().find(|t| t.currency == total.currency) {
                Some(sum) => *sum = sum.checked_add(total)?,
                None => totals.push(total),
            }
        }
        shops.push(ShopShippingView {
            shop_id: line.shop_id.clone(),
            shop_name: line.shop_name.clone(),
            items: *items,
            shipping,
            total,
            handling_days,
            cannot_ship: shipping.is_none().then(|| country.to_owned()),
        });
    }
    let ships = shops.iter().all(|s| s.cannot_ship.is_none());
    if !ships {
        totals.clear();
    }
    cart.shipping = Some(CartShipping {
        country: country.to_owned(),
        shops,
        totals,
        ships,
    });
    Ok(cart)
}

/// Adds `quantity` units of a product; a product already in the cart gets its
/// line's quantity raised.
///
/// # Errors
/// 422 `invalid_value` (quantity), `product_unavailable`; 409 `out_of_stock`
/// (for the new total quantity), `cart_full` past [`CART_LINES_MAX`] lines.
#[tracing::instrument(skip(conn))]
pub fn add_line(
    conn: &mut DbConnection,
    buyer: &str,
    product_id: &str,
    quantity: i64,
) -> Result<CartView, AppError> {
    check_quantity(quantity)?;
    db::write_transaction(conn, |conn| {
        let existing: Option<CartLineRow> = cart_lines::table
            .filter(cart_lines::buyer_user_id.eq(buyer))
            .filter(cart_lines::product_id.eq(product_id))
            .select(CartLineRow::as_select())
            .first(conn)
            .optional()?;
        let now = db::now();
        match existing {
            Some(line) => {
                let total = line.quantity + quantity;
                check_quantity(total)?;
                buyable(conn, product_id, total)?;
                diesel::update(cart_lines::table.find(&line.id))
                    .set((
                        cart_lines::quantity.eq(total),
                        cart_lines::updated_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            None => {
                buyable(conn, product_id, quantity)?;
                let count: i64 = cart_lines::table
                    .filter(cart_lines::buyer_user_id.eq(buyer))
                    .count()
                    .get_result(conn)?;
                if count >= CART_LINES_MAX {
                    return Err(AppError::Conflict {
                        code: "cart_full",
                        message: format!("a cart holds at most {CART_LINES_MAX} lines"),
                    });
                }
                diesel::insert_into(cart_lines::table)
                    .values((
                        cart_lines::id.eq(new_id("cln")),
                        cart_lines::buyer_user_id.eq(buyer),
                        cart_lines::product_id.eq(product_id),
                        cart_lines::quantity.eq(quantity),
                        cart_lines::created_at.eq(now),
                        cart_lines::updated_at.eq(now),
                    ))
                    .execute(conn)?;
            }
        }
        Ok(())
    })?;
    cart(conn, buyer)
}

/// Sets a line's quantity.
///
/// # Errors
/// 404 for a line not in this buyer's cart; as [`add_line`] otherwise.
pub fn set_quantity(
    conn: &mut DbConnection,
    buyer: &str,
    line_id: &str,
    quantity: i64,
) -> Result<CartView, AppError> {
    check_quantity(quantity)?;
    if !has_id_shape(line_id, "cln") {
        return Err(line_not_found());
    }
    db::write_transaction(conn, |conn| {
        let line: CartLineRow = cart_lines::table
            .find(line_id)
            .filter(cart_lines::buyer_user_id.eq(buyer))
            .select(CartLineRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(line_not_found)?;
        buyable(conn, &line.product_id, quantity)?;
        diesel::update(cart_lines::table.find(line_id))
            .set((
                cart_lines::quantity.eq(quantity),
                cart_lines::updated_at.eq(db::now()),
            ))
            .execute(conn)?;
        Ok::<_, AppError>(())
    })?;
    cart(conn, buyer)
}

/// Removes a line.
///
/// # Errors
/// 404 for a line not in this buyer's cart.
pub fn remove_line(
    conn: &mut DbConnection,
    buyer: &str,
    line_id: &str,
) -> Result<CartView, AppError> {
    let deleted = diesel::delete(
        cart_lines::table
            .find(line_id)
            .filter(cart_lines::buyer_user_id.eq(buyer)),
    )
    .execute(conn)?;
    if deleted == 0 {
        return Err(line_not_found());
    }
    cart(conn, buyer)
}

/// Empties the cart.
///
/// # Errors
/// A database failure.
pub fn clear(conn: &mut DbConnection, buyer: &str) -> Result<CartView, AppError> {
    diesel::delete(cart_lines::table.filter(cart_lines::buyer_user_id.eq(buyer))).execute(conn)?;
    cart(conn, buyer)
}

/// Moves a visitor's cart into the buyer's, line by line through
/// [`add_line`]; a line that cannot be added now (sold out, gone, the cart
/// full) is left out. Returns how many lines were left out.
///
/// # Errors
/// A database failure.
pub fn merge_guest_cart(
    conn: &mut DbConnection,
    buyer: &str,
    lines: &[(String, i64)],
) -> Result<usize, AppError> {
    let mut left_out = 0;
    for (product_id, quantity) in lines {
        match add_line(conn, buyer, product_id, *quantity) {
            Ok(_) => {}
            Err(AppError::Internal(error)) => return Err(AppError::Internal(error)),
            Err(error) => {
                tracing::debug!(%error, product_id, "guest cart line not moved");
                left_out += 1;
            }
        }
    }
    Ok(left_out)
}
