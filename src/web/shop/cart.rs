//! The cart page and its forms. A signed-in buyer's cart is the API's
//! (`orders::cart`); a visitor's lives in a cookie, checked by the same
//! rules ([`cart::check_line`]) and moved into the buyer's cart on sign-in.
//! A country chosen on the page (`/cart?country=FR`, a plain GET form) shows
//! each shop's shipping there, as `GET /v1/cart?country=FR` does.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::views::{countries, country_name, CartGroups, Country};
use crate::auth::Role;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::money::Money;
use crate::orders::cart::{self, CartShipping, CartView};
use crate::web::format::price;
use crate::web::forms::sentence;
use crate::web::render::{self, Caching, Chrome, Meta, PageError, PageResult};
use crate::web::visitor::Visitor;

#[derive(Template)]
#[template(path = "shop/cart.html", config = "src/web/askama.toml")]
struct CartPage {
    chrome: Chrome,
    meta: Meta,
    cart: CartGroups,
    /// What just happened (role=status), e.g. "Cart updated".
    notice: String,
    /// What went wrong (role=alert).
    problem: String,
    /// The country select of the shipping form.
    countries: Vec<Country>,
    /// Shipping to the country chosen, if one was.
    shipping: Option<ShippingSummary>,
}

/// One shop's shipping, as the cart and checkout pages show it.
pub(super) struct ShopShippingRow {
    pub shop_id: String,
    pub shop_name: String,
    /// The shop ships there.
    pub ships: bool,
    /// `$5.00`, or `Free`.
    pub shipping: String,
}

/// What shipping the cart to one country costs, for a page.
pub(super) struct ShippingSummary {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub country_name: String,
    pub shops: Vec<ShopShippingRow>,
    /// Items and shipping, one per currency; empty when a shop cannot ship there.
    pub totals: Vec<String>,
    /// Every shop ships there.
    pub ships: bool,
    /// The names of the shops that cannot ship there, joined.
    pub refusing: String,
}

impl ShippingSummary {
    pub(super) fn of(quote: &CartShipping) -> Self {
        let label = |shipping: Option<Money>| match shipping {
            Some(amount) if amount.minor == 0 => "Free".to_owned(),
            Some(amount) => price(amount),
            None => String::new(),
        };
        let refusing: Vec<&str> = quote
            .shops
            .iter()
            .filter(|s| s.cannot_ship.is_some())
            .map(|s| s.shop_name.as_str())
            .collect();
        Self {
            country: quote.country.clone(),
            country_name: country_name(&quote.country),
            shops: quote
                .shops
                .iter()
                .map(|s| ShopShippingRow {
                    shop_id: s.shop_id.clone(),
                    shop_name: s.shop_name.clone(),
                    ships: s.cannot_ship.is_none(),
                    shipping: label(s.shipping),
                })
                .collect(),
            totals: quote.totals.iter().copied().map(price).collect(),
            ships: quote.ships,
            refusing: refusing.join(", "),
        }
    }

    /// The shop's row (the first, in a cart that mixes currencies).
    pub(super) fn shop(&self, shop_id: &str) -> Option<&ShopShippingRow> {
        self.shops.iter().find(|s| s.shop_id == shop_id)
    }
}

/// The signed-in buyer's id, `None` for a visitor; a signed-in account that
/// cannot buy is refused.
fn buyer_of(visitor: &Visitor) -> Result<Option<String>, AppError> {
    match visitor.caller() {
        None => Ok(None),
        Some(caller) => {
            caller.require(&[Role::Buyer])?;
            Ok(Some(caller.user_id.0.clone()))
        }
    }
}

async fn load(pool: &DbPool, visitor: &Visitor) -> Result<CartView, AppError> {
    match buyer_of(visitor)? {
        Some(buyer) => db::run(pool, move |conn| cart::cart(conn, &buyer)).await,
        None => {
            let lines = visitor.guest_cart.clone();
            db::run(pool, move |conn| cart::guest_cart(conn, &lines)).await
        }
    }
}

/// The cart with its shipping to `country` (a code as submitted; anything
/// but a two-letter code: no shipping shown).
pub(super) async fn with_shipping(
    pool: &DbPool,
    cart: CartView,
    country: &str,
) -> Result<CartView, AppError> {
    match crate::shipping::model::parse_country(country) {
        Some(country) if !cart.lines.is_empty() => {
            db::run(pool, move |conn| cart::with_shipping(conn, cart, &country)).await
        }
        _ => Ok(cart),
    }
}

fn render_cart(
    req: &HttpRequest,
    visitor: &mut Visitor,
    cart: &CartView,
    notice: &str,
    problem: &str,
    status: StatusCode,
) -> PageResult {
    let shipping = cart.shipping.as_ref().map(ShippingSummary::of);
    let chosen = shipping.as_ref().map_or("", |s| s.country.as_str());
    let page = CartPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Your cart — Bazaar"),
        cart: CartGroups::of(cart)?,
        notice: notice.to_owned(),
        problem: problem.to_owned(),
        countries: countries(if chosen.is_empty() { "US" } else { chosen }),
        shipping,
    };
    let response = render::page_with(req, &page, Caching::Private, status, render::PAGE_CSP)?;
    Ok(visitor.finish(response))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Flash {
    #[serde(default)]
    done: String,
    /// Show shipping to this country (ISO 3166-1 alpha-2).
    #[serde(default)]
    country: String,
}

pub(super) async fn show(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    flash: web::Query<Flash>,
) -> PageResult {
    let cart = load(&pool, &visitor).await?;
    let cart = with_shipping(&pool, cart, &flash.country).await?;
    let notice = match flash.done.as_str() {
        "added" => "Added to your cart.",
        "updated" => "Cart updated.",
        "removed" => "Removed from your cart.",
        _ => "",
    };
    render_cart(&req, &mut visitor, &cart, notice, "", StatusCode::OK)
}

/// A failed change: the cart as it is, with what went wrong.
async fn refused(
    req: &HttpRequest,
    mut visitor: Visitor,
    pool: &DbPool,
    error: AppError,
) -> PageResult {
    let status = actix_web::ResponseError::status_code(&error);
    if !(status.is_client_error() && status != StatusCode::FORBIDDEN) {
        return Err(PageError(error));
    }
    let cart = load(pool, &visitor).await?;
    render_cart(
        req,
        &mut visitor,
        &cart,
        "",
        &sentence(&error.to_string()),
        status,
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct AddForm {
    #[serde(default)]
    csrf_token: String,
    product_id: String,
    #[serde(default = "one")]
    quantity: i64,
}

fn one() -> i64 {
    1
}

/// Puts `quantity` more of a product into the cart.
pub(super) async fn add(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    form: web::Form<AddForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let outcome: Result<Option<Vec<(String, i64)>>, AppError> = match buyer_of(&visitor)? {
        Some(buyer) => {
            let (product, quantity) = (form.product_id.clone(), form.quantity);
            db::run(&pool, move |conn| {
                cart::add_line(conn, &buyer, &product, quantity)
            })
            .await
            .map(|_| None)
        }
        None => {
            let mut lines = visitor.guest_cart.clone();
            let total = lines
                .iter()
                .find(|(p, _)| *p == form.product_id)
                .map_or(0, |(_, q)| *q)
                .saturating_add(form.quantity);
            let (product, checked) = (form.product_id.clone(), lines.clone());
            db::run(&pool, move |conn| {
                if form.quantity < 1 {
                    // The API's message for a bad quantity.
                    return cart::check_line(conn, &product, form.quantity);
                }
                if !checked.iter().any(|(p, _)| *p == product)
                    && checked.len()
                        >= usize::try_from(crate::orders::model::CART_LINES_MAX).unwrap_or(0)
                {
                    return Err(AppError::Conflict {
                        code: "cart_full",
                        message: format!(
                            "a cart holds at most {} lines",
                            crate::orders::model::CART_LINES_MAX
                        ),
                    });
                }
                cart::check_line(conn, &product, total)
            })
            .await
            .map(|()| {
                match lines.iter_mut().find(|(p, _)| *p == form.product_id) {
                    Some(line) => line.1 = total,
                    None => lines.push((form.product_id.clone(), total)),
                }
                Some(lines)
            })
        }
    };
    match outcome {
        Ok(guest_lines) => {
            let mut response = render::see_other("/cart?done=added").finish();
            if let Some(lines) = guest_lines {
                visitor.store_guest_cart(&mut response, &lines);
            }
            Ok(visitor.finish(response))
        }
        Err(error) => refused(&req, visitor, &pool, error).await,
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct QuantityForm {
    #[serde(default)]
    csrf_token: String,
    quantity: i64,
}

/// Sets a line's quantity.
pub(super) async fn update(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    line: web::Path<String>,
    form: web::Form<QuantityForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let line = line.into_inner();
    let outcome = match buyer_of(&visitor)? {
        Some(buyer) => db::run(&pool, move |conn| {
            cart::set_quantity(conn, &buyer, &line, form.quantity)
        })
        .await
        .map(|_| None),
        None => {
            let mut lines = visitor.guest_cart.clone();
            if !lines.iter().any(|(p, _)| *p == line) {
                return Err(PageError(AppError::NotFound {
                    resource: "cart line",
                }));
            }
            let product = line.clone();
            db::run(&pool, move |conn| {
                cart::check_line(conn, &product, form.quantity)
            })
            .await
            .map(|()| {
                for entry in &mut lines {
                    if entry.0 == line {
                        entry.1 = form.quantity;
                    }
                }
                Some(lines)
            })
        }
    };
    changed(req, visitor, &pool, outcome, "updated").await
}

#[derive(Debug, Deserialize)]
pub(super) struct TokenForm {
    #[serde(default)]
    csrf_token: String,
}

/// Removes a line.
pub(super) async fn remove(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    line: web::Path<String>,
    form: web::Form<TokenForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let line = line.into_inner();
    let outcome = match buyer_of(&visitor)? {
        Some(buyer) => db::run(&pool, move |conn| cart::remove_line(conn, &buyer, &line))
            .await
            .map(|_| None),
        None => {
            let mut lines = visitor.guest_cart.clone();
            let before = lines.len();
            lines.retain(|(p, _)| *p != line);
            if lines.len() == before {
                Err(AppError::NotFound {
                    resource: "cart line",
                })
            } else {
                Ok(Some(lines))
            }
        }
    };
    changed(req, visitor, &pool, outcome, "removed").await
}

async fn changed(
    req: HttpRequest,
    visitor: Visitor,
    pool: &DbPool,
    outcome: Result<Option<Vec<(String, i64)>>, AppError>,
    done: &str,
) -> PageResult {
    match outcome {
        Ok(guest_lines) => {
            let mut response: HttpResponse =
                render::see_other(&format!("/cart?done={done}")).finish();
            if let Some(lines) = guest_lines {
                visitor.store_guest_cart(&mut response, &lines);
            }
            Ok(visitor.finish(response))
        }
        Err(error) => refused(&req, visitor, pool, error).await,
    }
}
