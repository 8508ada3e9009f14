//! Checkout: the cart becomes one order with one part per shop, stock reserved
//! atomically, each part's shipping priced by its shop's rates to the buyer's
//! country and its fee by the fee rule in force, and one PaymentIntent on the
//! platform account for the order total (items and shipping).
//!
//! Three steps, none holding a transaction across the provider call:
//! 1. one write transaction reserves every line's stock (conditional updates:
//!    no oversell, on either database) and writes the order, its parts and
//!    lines — or nothing, if any line cannot be had;
//! 2. the PaymentIntent is created with a key derived from the order id;
//! 3. the intent is recorded — or, if the provider failed, the order is
//!    cancelled, its stock released and its lines put back in the cart in one
//!    transaction, and its idempotency key freed, so no order is left between.

use std::collections::BTreeMap;

use diesel::prelude::*;

use super::cart::{cart_rows, CartLineRow};
use super::events::Seen;
use super::model::{CheckoutRequest, OrderStatus, OrderView};
use super::schema::{cart_lines, order_lines, order_parts, orders};
use super::store::{self, new_id, LineRow, OrderRow, PartRow};
use super::{payment, release_order_stock};
use crate::catalog::{self, Product};
use crate::config::{OrderSettings, ReleasePolicy};
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::events::types::EventType;
use crate::fees;
use crate::money::{Currency, Money, MoneyError};
use crate::payments::{IdempotencyKey, NewPaymentIntent, PaymentIntent, Provider, ProviderError};
use crate::shipping::{self, PartToShip, Quote};

/// Who is checking out.
#[derive(Debug, Clone)]
pub struct Buyer {
    pub user_id: String,
    pub email: String,
}

/// What checkout answers: the order, and whether it was a replay of an
/// earlier request under the same key.
#[derive(Debug)]
pub struct CheckoutOutcome {
    pub order: OrderView,
    pub replayed: bool,
}

enum Reserved {
    Existing(String),
    New { order_id: String, total: Money },
}

/// What checkout takes from the settings: how long an unpaid order holds its
/// stock, and the release terms of parts whose fee rule sets none.
#[derive(Debug, Clone, Copy)]
struct Terms {
    ttl: chrono::Duration,
    release_policy: ReleasePolicy,
    release_after_days: i32,
}

/// One shop's part of the cart being checked out, before it is priced.
struct PartDraft<'a> {
    shop_id: &'a str,
    /// The place of the part's first line in the cart.
    position: i32,
    /// Each of its lines' product and amount.
    lines: Vec<(&'a Product, i64)>,
    /// What its items come to.
    items: Money,
    /// How many units it holds.
    units: i64,
}

fn idempotency_conflict() -> AppError {
    AppError::Conflict {
        code: "idempotency_key_reused",
        message: "this Idempotency-Key was used with a different request; use a new key".into(),
    }
}

/// The order already made under `key` by this buyer, if any.
fn existing_order(
    conn: &mut DbConnection,
    buyer: &str,
    key: &str,
    hash: &str,
) -> Result<Option<String>, AppError> {
    let found: Option<(String, String)> = orders::table
        .filter(orders::buyer_user_id.eq(buyer))
        .filter(orders::idempotency_key.eq(key))
        .select((orders::id, orders::request_hash))
        .first(conn)
        .optional()?;
    match found {
        Some((id, stored)) if stored == hash => Ok(Some(id)),
        Some(_) => Err(idempotency_conflict()),
        None => Ok(None),
    }
}

fn line_label(product: &Product, line: &CartLineRow) -> String {
    format!("`{}` (cart line {})", product.title, line.id)
}

/// Checks every cart line and returns its product, refusing a cart that mixes
/// currencies with a message naming the lines of each currency.
fn checked_lines(
    conn: &mut DbConnection,
    lines: &[CartLineRow],
) -> Result<(Currency, Vec<Product>), AppError> {
    let mut products = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let product =
            catalog::visible_product(conn, &line.product_id).map_err(|error| match error {
                AppError::NotFound { .. } => AppError::unprocessable(
                    "product_unavailable",
                    format!(
                        "cart line {} is for a product that cannot be bought now; remove it",
                        line.id
                    ),
                    Some(format!("lines[{i}]")),
                ),
                other => other,
            })?;
        products.push(product);
    }
    let mut by_currency: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (product, line) in products.iter().zip(lines) {
        by_currency
            .entry(product.price.currency.code())
            .or_default()
            .push(line_label(product, line));
    }
    if by_currency.len() > 1 {
        let listing: Vec<String> = by_currency
            .iter()
            .map(|(code, labels)| format!("{code}: {}", labels.join(", ")))
            .collect();
        return Err(AppError::unprocessable(
            "mixed_currencies",
            format!(
                "an order is paid in one currency; this cart mixes {} — {}",
                by_currency.len(),
                listing.join("; ")
            ),
            Some("lines".into()),
        ));
    }
    let currency = products[0].price.currency;
    Ok((currency, products))
}

/// The category a part is priced under: its largest line's (ties: the
/// earliest), since one part has one fee rule version.
fn part_category<'a>(lines: &[(&'a Product, i64)]) -> &'a str {
    let mut best: Option<(&'a Product, i64)> = None;
    for &(product, amount) in lines {
        if best.is_none_or(|(_, top)| amount > top) {
            best = Some((product, amount));
        }
    }
    &best.expect("a part has lines").0.category
}

/// Each line's amount, and the cart's lines grouped into one part per shop,
/// in the order the shops first appear in the cart.
fn part_drafts<'a>(
    lines: &[CartLineRow],
    products: &'a [Product],
    currency: Currency,
) -> Result<(Vec<i64>, Vec<PartDraft<'a>>), AppError> {
    let mut amounts = Vec::with_capacity(lines.len());
    let mut drafts: Vec<PartDraft<'a>> = Vec::new();
    for (position, (line, product)) in lines.iter().zip(products).enumerate() {
        let amount = product
            .price
            .minor
            .checked_mul(line.quantity)
            .ok_or(MoneyError::Overflow)?;
        amounts.push(amount);
        let index = match drafts.iter().position(|d| d.shop_id == product.shop_id) {
            Some(index) => index,
            None => {
                drafts.push(PartDraft {
                    shop_id: &product.shop_id,
                    position: i32::try_from(position).expect("a cart has few lines"),
                    lines: Vec::new(),
                    items: Money::zero(currency),
                    units: 0,
                });
                drafts.len() - 1
            }
        };
        let draft = &mut drafts[index];
        draft.lines.push((product, amount));
        draft.items = draft.items.checked_add(Money::new(amount, currency))?;
        draft.units = draft
            .units
            .checked_add(line.quantity)
            .ok_or(MoneyError::Overflow)?;
    }
    Ok((amounts, drafts))
}

/// Each part's shipping and handling days to `country`.
///
/// # Errors
/// 422 `cannot_ship_to` (param `shipping.country`) naming every line whose
/// shop has rates but none for the country in the cart's currency.
fn part_shipping(
    conn: &mut DbConnection,
    drafts: &[PartDraft<'_>],
    lines: &[CartLineRow],
    products: &[Product],
    country: &str,
) -> Result<Vec<(Money, i32)>, AppError> {
    let to_ship: Vec<PartToShip<'_>> = drafts
        .iter()
        .map(|d| PartToShip {
            shop_id: d.shop_id,
            items: d.items,
            units: d.units,
        })
        .collect();
    let quotes = shipping::quote_parts(conn, country, &to_ship)?;
    let mut priced = Vec::with_capacity(drafts.len());
    let mut refused = Vec::new();
    for (draft, quote) in drafts.iter().zip(quotes) {
        match quote {
            Quote::Ships {
                shipping,
                handling_days,
            } => priced.push((shipping, handling_days)),
            Quote::CannotShip => refused.extend(
                lines
                    .iter()
                    .zip(products)
                    .filter(|(_, p)| p.shop_id == draft.shop_id)
                    .map(|(line, product)| line_label(product, line)),
            ),
        }
    }
    if !refused.is_empty() {
        return Err(AppError::unprocessable(
            "cannot_ship_to",
            format!(
                "cannot ship to {country}: {} — the shop does not deliver there; remove these lines or choose another address",
                refused.join(", ")
            ),
            Some("shipping.country".into()),
        ));
    }
    Ok(priced)
}

fn reserve(
    conn: &mut DbConnection,
    buyer: &Buyer,
    key: &str,
    hash: &str,
    request: &CheckoutRequest,
    terms: Terms,
) -> Result<Reserved, AppError> {
    db::write_transaction(conn, |conn| {
        // A buyer's checkouts run one at a time: a retry sent while the first
        // attempt is still writing then finds its order (and replays it)
        // instead of an emptied cart.
        db::serialize_on(conn, &format!("checkout:{}", buyer.user_id))?;
        if let Some(id) = existing_order(conn, &buyer.user_id, key, hash)? {
            return Ok(Reserved::Existing(id));
        }
        let lines = cart_rows(conn, &buyer.user_id)?;
        if lines.is_empty() {
            return Err(AppError::unprocessable(
                "cart_empty",
                "the cart is empty; add products before checking out",
                None,
            ));
        }
        let (currency, products) = checked_lines(conn, &lines)?;
        let (amounts, drafts) = part_drafts(&lines, &products, currency)?;
        let shipping_by_part =
            part_shipping(conn, &drafts, &lines, &products, &request.shipping.country)?;
        // The cart is consumed first, in this transaction: of two checkouts of
        // one cart racing each other, the second deletes nothing once the
        // first commits (PostgreSQL makes it wait on the rows) and stops here.
        let cart_line_ids: Vec<&str> = lines.iter().map(|l| l.id.as_str()).collect();
        let consumed =
            diesel::delete(cart_lines::table.filter(cart_lines::id.eq_any(&cart_line_ids)))
                .execute(conn)?;
        if consumed != lines.len() {
            return Err(AppError::unprocessable(
                "cart_empty",
                "the cart was checked out by another request meanwhile",
                None,
            ));
        }
        // In product-id order, so two carts holding the same products in
        // another order cannot deadlock on PostgreSQL's row locks.
        let mut by_product: Vec<(usize, &CartLineRow, &Product)> = lines
            .iter()
            .zip(&products)
            .enumerate()
            .map(|(i, (line, product))| (i, line, product))
            .collect();
        by_product.sort_by(|a, b| a.2.id.cmp(&b.2.id));
        for (i, line, product) in by_product {
            if !catalog::reserve_stock(conn, &product.id, line.quantity)? {
                // Returning the error rolls back the reservations made so far.
                return Err(AppError::Conflict {
                    code: "out_of_stock",
                    message: format!(
                        "not enough stock for {} (line {i}): {} asked for",
                        line_label(product, line),
                        line.quantity
                    ),
                });
            }
        }
        let now = db::now();
        let order_id = new_id("ord");
        let mut part_rows = Vec::with_capacity(drafts.len());
        let mut line_rows = Vec::with_capacity(lines.len());
        let mut total = Money::zero(currency);
        for (draft, (shipping, handling_days)) in drafts.iter().zip(shipping_by_part) {
            let (shop_id, part_position) = (draft.shop_id, draft.position);
            let part_id = new_id("opt");
            // What the buyer pays for the part: its items and its shipping,
            // all the seller's; every later split of the part covers both.
            let subtotal = draft.items.checked_add(shipping)?;
            let category = part_category(&draft.lines);
            let version = fees::rule_in_force(conn, shop_id, Some(category), currency, now)?;
            let base = version.terms.fee_base(draft.items, shipping)?;
            let priced = fees::fee_for(base, &version)?;
            assert_eq!(
                priced.fee.minor + priced.seller_share.minor,
                base.minor,
                "fee + seller share = the fee's base"
            );
            assert!(
                base.minor <= subtotal.minor,
                "the fee's base is within the part"
            );
            assert!(
                priced.fee.minor <= subtotal.minor,
                "a fee never exceeds its part"
            );
            total = total.checked_add(subtotal)?;
            for (position, ((line, product), amount)) in
                lines.iter().zip(&products).zip(&amounts).enumerate()
            {
                if product.shop_id != shop_id {
                    continue;
                }
                line_rows.push(LineRow {
                    id: new_id("oln"),
                    order_id: order_id.clone(),
                    part_id: part_id.clone(),
                    product_id: product.id.clone(),
                    position: i32::try_from(position).expect("a cart has few lines"),
                    sku: product.sku.clone(),
                    title: product.title.clone(),
                    category: product.category.clone(),
                    unit_price_minor: product.price.minor,
                    quantity: line.quantity,
                    amount_minor: *amount,
                    refunded_quantity: 0,
                    restocked_quantity: 0,
                    shipped_quantity: 0,
                });
            }
            part_rows.push(PartRow {
                id: part_id,
                order_id: order_id.clone(),
                shop_id: shop_id.to_owned(),
                subtotal_minor: subtotal.minor,
                fee_minor: priced.fee.minor,
                fee_rule_version_id: version.id.clone(),
                processing_fee_payer: version.terms.processing_fee_payer.as_str().to_owned(),
                refund_fee_proportionally: version.terms.refund_fee_proportionally,
                kept_processing_fee_payer: version
                    .terms
                    .kept_processing_fee_payer
                    .as_str()
                    .to_owned(),
                position: part_position,
                processing_fee_minor: 0,
                seller_amount_minor: 0,
                refunded_minor: 0,
                hold_reason: None,
                needs_settlement: false,
                created_at: now,
                updated_at: now,
                shipping_minor: shipping.minor,
                shipping_refunded_minor: 0,
                handling_days,
                // Frozen here: a later change of the rule or the setting
                // never changes when this part's money is released.
                release_policy: version
                    .terms
                    .release_policy
                    .unwrap_or(terms.release_policy)
                    .as_str()
                    .to_owned(),
                release_after_days: version
                    .terms
                    .release_after_days
                    .unwrap_or(terms.release_after_days),
                fulfilment_status: "unfulfilled".into(),
                ship_by: None,
                shipped_at: None,
                delivered_at: None,
                delivered_by: None,
                released_at: None,
                late_notified_at: None,
                canceled_at: None,
                cancel_reason: None,
            });
        }
        if let Some(expected) = request.expected_total_minor {
            if expected != total.minor {
                // Returning the error rolls back the cart and the stock taken above.
                return Err(AppError::Conflict {
                    code: "price_changed",
                    message: format!(
                        "prices changed since you looked: the total is now {total} (not {}); check the cart and check out again",
                        Money::new(expected, currency)
                    ),
                });
            }
        }
        let shipping = serde_json::to_string(&request.shipping).expect("an address serializes");
        let order = OrderRow {
            id: order_id.clone(),
            buyer_user_id: buyer.user_id.clone(),
            buyer_email: buyer.email.clone(),
            currency: currency.code().to_owned(),
            total_minor: total.minor,
            status: OrderStatus::AwaitingPayment.as_str().to_owned(),
            cancel_reason: None,
            idempotency_key: Some(key.to_owned()),
            request_hash: hash.to_owned(),
            shipping,
            payment_intent_id: None,
            client_secret: None,
            payment_status: None,
            last_payment_error: None,
            charge_id: None,
            processing_fee_minor: None,
            refunded_minor: 0,
            late_payment_refund_id: None,
            expires_at: now + terms.ttl,
            paid_at: None,
            created_at: now,
            updated_at: now,
            checkout_payment_method: request.payment_method.clone(),
        };
        diesel::insert_into(orders::table)
            .values(&order)
            .execute(conn)?;
        // One row per statement: MultiConnection has no multi-row insert.
        for part in &part_rows {
            diesel::insert_into(order_parts::table)
                .values(part)
                .execute(conn)?;
        }
        for line in &line_rows {
            diesel::insert_into(order_lines::table)
                .values(line)
                .execute(conn)?;
        }
        super::events::emit_order(conn, &order_id, EventType::OrderCreated, Seen::ByEveryShop)?;
        Ok(Reserved::New { order_id, total })
    })
}

/// Records the PaymentIntent on the order.
fn record_intent(
    conn: &mut DbConnection,
    order_id: &str,
    intent: &PaymentIntent,
) -> Result<(), AppError> {
    diesel::update(orders::table.find(order_id))
        .set((
            orders::payment_intent_id.eq(&intent.id),
            orders::client_secret.eq(&intent.client_secret),
            orders::payment_status.eq(payment::status_name(intent.status)),
            orders::last_payment_error.eq(&intent.last_error),
            orders::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Puts an order's lines back into its buyer's cart (a line the buyer added
/// again meanwhile is left as it is).
fn restore_cart(conn: &mut DbConnection, order_id: &str, buyer: &str) -> Result<(), AppError> {
    let lines: Vec<(String, i64)> = order_lines::table
        .filter(order_lines::order_id.eq(order_id))
        .order(order_lines::position.asc())
        .select((order_lines::product_id, order_lines::quantity))
        .load(conn)?;
    let now = db::now();
    for (product_id, quantity) in lines {
        let present: i64 = cart_lines::table
            .filter(cart_lines::buyer_user_id.eq(buyer))
            .filter(cart_lines::product_id.eq(&product_id))
            .count()
            .get_result(conn)?;
        if present == 0 {
            diesel::insert_into(cart_lines::table)
                .values((
                    cart_lines::id.eq(new_id("cln")),
                    cart_lines::buyer_user_id.eq(buyer),
                    cart_lines::product_id.eq(&product_id),
                    cart_lines::quantity.eq(quantity),
                    cart_lines::created_at.eq(now),
                    cart_lines::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Cancels an order whose PaymentIntent could not be created: stock back,
/// lines back in the cart, key freed so the buyer may try again with it.
fn cancel_unpaid(
    conn: &mut DbConnection,
    order_id: &str,
    buyer: &str,
    reason: &str,
) -> Result<(), AppError> {
    db::write_transaction(conn, |conn| {
        let updated = diesel::update(
            orders::table
                .find(order_id)
                .filter(orders::status.eq(OrderStatus::AwaitingPayment.as_str())),
        )
        .set((
            orders::status.eq(OrderStatus::Canceled.as_str()),
            orders::cancel_reason.eq(reason),
            orders::idempotency_key.eq(None::<String>),
            orders::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
        if updated == 1 {
            release_order_stock(conn, order_id)?;
            restore_cart(conn, order_id, buyer)?;
            super::events::emit_order(conn, order_id, EventType::OrderCanceled, Seen::ByEveryShop)?;
        }
        Ok(())
    })
}

/// Turns the buyer's cart into an order and its PaymentIntent. `settings`
/// gives how long the order holds its stock unpaid, and the release terms
/// of parts whose fee rule sets none.
///
/// # Errors
/// 422 `cart_empty`, `product_unavailable`, `mixed_currencies`,
/// `cannot_ship_to`, `no_fee_rule`; 409 `out_of_stock`, `price_changed`,
/// `idempotency_key_reused`; the provider's refusal (422 `provider_rejected`)
/// or absence (503) — in which case the order is cancelled and its stock
/// released before answering.
#[tracing::instrument(skip(pool, provider, settings, request), fields(buyer = %buyer.user_id))]
pub async fn checkout(
    pool: &DbPool,
    provider: &dyn Provider,
    settings: &OrderSettings,
    buyer: Buyer,
    key: String,
    request: CheckoutRequest,
) -> Result<CheckoutOutcome, AppError> {
    let hash = super::model::request_hash(&request);
    let terms = Terms {
        ttl: chrono::Duration::from_std(settings.unpaid_ttl)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("unpaid ttl: {e}")))?,
        release_policy: settings.release,
        release_after_days: settings.release_after_days,
    };
    let reserved = {
        let buyer = buyer.clone();
        let request = request.clone();
        db::run(pool, move |conn| {
            reserve(conn, &buyer, &key, &hash, &request, terms)
        })
        .await?
    };
    let (order_id, total, replayed) = match reserved {
        Reserved::Existing(order_id) => {
            // A checkout that died between writing its order and recording
            // its PaymentIntent left an order nobody can pay; its retry
            // finishes it. The intent's idempotency key is the order's, so
            // the provider answers with the intent it may already have made.
            let id = order_id.clone();
            let found = db::run(pool, move |conn| unfinished(conn, &id)).await?;
            let Some((total, _)) = found else {
                return Ok(CheckoutOutcome {
                    order: view(pool, &order_id).await?,
                    replayed: true,
                });
            };
            tracing::info!(
                order_id,
                "checkout retried on an order without its PaymentIntent; creating it"
            );
            (order_id, total, true)
        }
        Reserved::New { order_id, total } => (order_id, total, false),
    };
    let intent = Intent {
        buyer_user_id: &buyer.user_id,
        order_id: &order_id,
        total,
        payment_method: request.payment_method.as_deref(),
    };
    attach_intent(pool, provider, intent, Unreachable::Cancel).await?;
    Ok(CheckoutOutcome {
        order: view(pool, &order_id).await?,
        replayed,
    })
}

/// The total and the row of `order_id` when it awaits payment and has no
/// PaymentIntent.
fn unfinished(
    conn: &mut DbConnection,
    order_id: &str,
) -> Result<Option<(Money, OrderRow)>, AppError> {
    let Some(order) = store::find_order_row(conn, order_id)? else {
        return Ok(None);
    };
    if order.status != OrderStatus::AwaitingPayment.as_str() || order.payment_intent_id.is_some() {
        return Ok(None);
    }
    let currency = Currency::parse(&order.currency)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("order {order_id}: {e}")))?;
    Ok(Some((Money::new(order.total_minor, currency), order)))
}

/// How long a checkout may take to create its order's PaymentIntent before
/// the sweep finishes it: longer than any checkout request runs.
pub const UNFINISHED_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Finishes `order_id`'s checkout if it died between writing the order and
/// recording its PaymentIntent: creates the intent with the checkout's own
/// request (its idempotency key and payment method), so the provider answers
/// with the intent it may already have made — paid, if the checkout's
/// payment method was confirmed — and records it. Nothing to do otherwise.
///
/// # Errors
/// The provider's refusal (the order is then cancelled) or absence (the
/// order stays as it is, for the next try); a database failure.
pub async fn finish_checkout(
    pool: &DbPool,
    provider: &dyn Provider,
    order_id: &str,
) -> Result<(), AppError> {
    let id = order_id.to_owned();
    let Some((total, order)) = db::run(pool, move |conn| unfinished(conn, &id)).await? else {
        return Ok(());
    };
    tracing::info!(order_id, "finishing a checkout that has no PaymentIntent");
    let intent = Intent {
        buyer_user_id: &order.buyer_user_id,
        order_id,
        total,
        payment_method: order.checkout_payment_method.as_deref(),
    };
    attach_intent(pool, provider, intent, Unreachable::Keep).await
}

/// Finishes the checkouts (at most `limit`) whose orders have had no
/// PaymentIntent since `UNFINISHED_AFTER` before `now`; returns how many
/// were looked at and the first error met.
pub async fn finish_unfinished(
    pool: &DbPool,
    provider: &dyn Provider,
    now: chrono::NaiveDateTime,
    limit: i64,
) -> (usize, Option<AppError>) {
    let listed = db::run(pool, move |conn| {
        Ok(orders::table
            .filter(orders::status.eq(OrderStatus::AwaitingPayment.as_str()))
            .filter(orders::payment_intent_id.is_null())
            .filter(orders::created_at.le(now - UNFINISHED_AFTER))
            .select(orders::id)
            .order(orders::created_at.asc())
            .limit(limit)
            .load::<String>(conn)?)
    })
    .await;
    super::sweep_each::each_id_logged(listed, "checkout not finished yet", |id| async move {
        finish_checkout(pool, provider, &id).await
    })
    .await
}

/// The PaymentIntent an order needs.
struct Intent<'a> {
    buyer_user_id: &'a str,
    order_id: &'a str,
    total: Money,
    /// Confirmed with at once when the checkout named one.
    payment_method: Option<&'a str>,
}

/// What a provider that cannot be reached does to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unreachable {
    /// The buyer is waiting: cancel, release the stock and say so.
    Cancel,
    /// Nobody waits (the sweep): leave the order for the next try.
    Keep,
}

/// Creates the order's PaymentIntent (confirmed at once when a payment
/// method is given), records it, and settles an order paid at once. A
/// provider that refuses cancels the order and releases its stock before the
/// error is returned; one that cannot be reached does too, or not, as
/// `unreachable` says.
async fn attach_intent(
    pool: &DbPool,
    provider: &dyn Provider,
    intent: Intent<'_>,
    unreachable: Unreachable,
) -> Result<(), AppError> {
    let order_id = intent.order_id.to_owned();
    let buyer = intent.buyer_user_id.to_owned();
    let new_intent = NewPaymentIntent {
        amount: intent.total,
        transfer_group: order_id.clone(),
        metadata: [
            ("order_id".to_owned(), order_id.clone()),
            ("buyer_user_id".to_owned(), buyer.clone()),
        ]
        .into(),
        confirm_with: intent.payment_method.map(str::to_owned),
    };
    let key = IdempotencyKey::derive("payment_intent", &order_id);
    let intent = match provider.create_payment_intent(&new_intent, &key).await {
        Ok(intent) => intent,
        Err(ProviderError::CardDeclined {
            payment_intent: Some(intent_id),
            ..
        }) => {
            // The intent exists and awaits another payment method: the order
            // keeps its reservation until it is paid or expires.
            provider.retrieve_payment_intent(&intent_id).await?
        }
        Err(error) if error.is_transient() && unreachable == Unreachable::Keep => {
            return Err(error.into());
        }
        Err(error) => {
            tracing::warn!(%error, order_id, "payment intent not created; order cancelled");
            let reason = if error.is_transient() {
                "provider_unavailable"
            } else {
                "provider_rejected"
            };
            let id = order_id.clone();
            db::run(pool, move |conn| cancel_unpaid(conn, &id, &buyer, reason)).await?;
            return Err(error.into());
        }
    };
    {
        let id = order_id.clone();
        let intent = intent.clone();
        db::run(pool, move |conn| record_intent(conn, &id, &intent)).await?;
    }
    if intent.status == crate::payments::PaymentStatus::Succeeded {
        // Confirmed server-side and paid at once: mark it paid and route the
        // shares now; the webhook that follows finds nothing left to do.
        if let Err(error) = payment::apply_intent(pool, provider, &intent).await {
            tracing::warn!(%error, order_id, "paid order not settled yet; the sweep finishes it");
        }
    }
    Ok(())
}

/// The whole order, as staff see it.
///
/// # Errors
/// 404 for an unknown order; a database failure.
pub async fn view(pool: &DbPool, order_id: &str) -> Result<OrderView, AppError> {
    let id = order_id.to_owned();
    db::run(pool, move |conn| {
        store::load_order(conn, &id)?
            .ok_or_else(store::order_not_found)?
            .view()
    })
    .await
}
