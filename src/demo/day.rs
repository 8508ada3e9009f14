//! The day: buyers check out their carts and pay (one card declined, two
//! payments disputed), the operator refunds a line, the platform's evidence
//! wins one dispute and loses the other. One shop's share is held until
//! delivery: it ships its parts, a buyer confirms one ("I received it") and
//! sends a line of it back. Then the sandbox's clock moves on, the sellers are
//! paid out (one payout failing on its bank account) and the parcels nobody
//! confirmed count as delivered, releasing the rest of the held money.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use super::client::{wait_for, Api, Session};
use super::morning::Cast;
use super::script::{self, Cart, Payment};
use super::Progress;

/// How long a webhook's consequence (an order paid, a dispute seen or
/// decided, transfers settled) may take to show: long enough for the job
/// queue's fifth attempt (1 + 2 + 4 + 8 + 16 s of backoff at the defaults),
/// since an event that overtakes the fact it follows is applied on a retry.
const EVENT_TIMEOUT: Duration = Duration::from_secs(45);
/// How long the payouts of four sandbox days may take to be reported.
const PAYOUTS_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the fulfilment sweep (every `orders.sweep_interval_ms`, 5 s by
/// default) may take to deliver and release the parts nobody confirmed.
const AUTOMATIC_DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the job queue may take to drain once nothing new happens.
const QUIET_TIMEOUT: Duration = Duration::from_secs(30);
/// Consecutive polls (100 ms apart) that must find no work left: a webhook
/// the sandbox is still delivering shows up within that window.
const QUIET_POLLS_MIN: u32 = 10;

/// A checked-out cart and what became of it.
pub struct PlayedOrder {
    pub id: String,
    /// Index into the cast's buyers.
    pub buyer: usize,
    /// The decline the first card met (`payment.last_error`), if it was declined.
    pub declined_with: Option<String>,
}

/// A part whose seller's share was held after payment, until delivery.
pub struct HeldPart {
    pub order_id: String,
    pub part_id: String,
    pub shop_id: String,
    /// Index into the cast's buyers.
    pub buyer: usize,
    /// The parcel's tracking number.
    pub tracking_number: String,
    /// Whether its buyer confirmed delivery (otherwise the sweep delivered it).
    pub confirmed: bool,
}

/// What the day did, for the summary.
pub struct Day {
    pub orders: Vec<PlayedOrder>,
    /// The parts held until delivery.
    pub held: Vec<HeldPart>,
    /// What `GET /v1/shops/{id}/balance` said was held once every cart was
    /// paid: (shop id, currency, minor units).
    pub held_after_sales: Vec<(String, String, i64)>,
    /// The return the buyer sent back.
    pub return_id: String,
}

/// Steps the day counts on the progress bar for these carts.
pub fn steps(carts: &[&Cart]) -> u64 {
    carts.len() as u64 + 6
}

fn shipping(buyer: usize) -> Value {
    let addresses = [
        json!({"name": "Dana Reyes", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}),
        json!({"name": "Maya Laurent", "line1": "12 rue des Lilas", "city": "Paris", "postal_code": "75011", "country": "FR"}),
        json!({"name": "Li Wei", "line1": "3 Canal Walk", "city": "London", "postal_code": "N1 8JP", "country": "GB"}),
    ];
    addresses[buyer % addresses.len()].clone()
}

async fn order_of(api: &Api, who: &Session, id: &str) -> anyhow::Result<Value> {
    api.get(who, &format!("/v1/orders/{id}")).await
}

/// Paid, and every part's share sent to its shop — or held until its
/// release (`awaiting_release`), as its fee rule says.
fn all_settled_or_held(order: &Value) -> bool {
    order["status"] == "paid"
        && order["parts"].as_array().is_some_and(|parts| {
            parts.iter().all(|p| {
                matches!(
                    p["settlement"]["status"].as_str(),
                    Some("settled" | "awaiting_release")
                )
            })
        })
}

fn part_of<'a>(order: &'a Value, part_id: &str) -> Option<&'a Value> {
    order["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["id"] == part_id)
}

/// Delivered, released and its share sent.
fn released_and_settled(part: &Value) -> bool {
    part["fulfilment"]["status"] == "delivered"
        && part["fulfilment"]["released_at"].is_string()
        && part["settlement"]["status"] == "settled"
}

fn money(value: &Value) -> String {
    super::text::format_money(value["minor"].as_i64(), value["currency"].as_str())
}

/// Checks out one cart and follows its payment to the end.
async fn play_cart(api: &Api, cast: &Cast, cart: &Cart) -> anyhow::Result<(PlayedOrder, String)> {
    let buyer = cast.buyers.get(cart.buyer).context("no such buyer")?;
    for (_, sku, quantity) in cart.lines {
        let product = cast
            .products
            .get(*sku)
            .with_context(|| format!("no product {sku} in the catalog"))?;
        let body = json!({"product_id": product, "quantity": quantity});
        api.post(Some(buyer), "/v1/cart/lines", None, &body, 200)
            .await?;
    }
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "shipping": shipping(cart.buyer),
        "payment_method": cart.payment.checkout_method(),
    });
    let order = api
        .post(Some(buyer), "/v1/checkout", Some(&key), &body, 201)
        .await?;
    let id = order["id"].as_str().context("order without id")?.to_owned();
    let shops = order["parts"].as_array().map_or(0, Vec::len);
    let mut played = PlayedOrder {
        id: id.clone(),
        buyer: cart.buyer,
        declined_with: None,
    };
    let mut line = format!(
        "{} — {} from {shops} shop(s), {}",
        cart.story,
        buyer.email,
        money(&order["total"])
    );
    match cart.payment {
        Payment::Card => {
            anyhow::ensure!(order["status"] == "paid", "order {id} not paid: {order}");
            line.push_str(": paid");
        }
        Payment::DeclinedThenCard => {
            anyhow::ensure!(
                order["status"] == "awaiting_payment",
                "order {id} should wait for payment: {order}"
            );
            let decline = order["payment"]["last_error"]
                .as_str()
                .unwrap_or("declined")
                .to_owned();
            let intent = order["payment"]["intent_id"]
                .as_str()
                .context("no PaymentIntent")?;
            // What the browser's payment form does with the order's client
            // secret; the sandbox takes its API key for that.
            api.sandbox_post(
                &format!("/v1/payment_intents/{intent}/confirm"),
                &[("payment_method", "pm_card_visa")],
            )
            .await?;
            wait_for(&format!("order {id} to be paid"), EVENT_TIMEOUT, || async {
                Ok(all_settled_or_held(&order_of(api, &cast.operator, &id).await?).then_some(()))
            })
            .await?;
            line.push_str(&format!(
                ": card declined ({decline}), paid with a second card"
            ));
            played.declined_with = Some(decline);
        }
        Payment::DisputeWon | Payment::DisputeLost => {
            anyhow::ensure!(order["status"] == "paid", "order {id} not paid: {order}");
            let seen = wait_for(
                &format!("the dispute on order {id}"),
                EVENT_TIMEOUT,
                || async {
                    let order = order_of(api, &cast.operator, &id).await?;
                    Ok(order["disputes"][0]["id"].as_str().map(str::to_owned))
                },
            )
            .await?;
            let (evidence, outcome) = if cart.payment == Payment::DisputeWon {
                ("winning_evidence", "won")
            } else {
                ("losing_evidence", "lost")
            };
            // The platform answers the dispute at the provider with its evidence.
            api.sandbox_post(
                &format!("/v1/disputes/{seen}"),
                &[("evidence[uncategorized_text]", evidence)],
            )
            .await?;
            let order = wait_for(
                &format!("dispute {seen} to be {outcome}"),
                EVENT_TIMEOUT,
                || async {
                    let order = order_of(api, &cast.operator, &id).await?;
                    Ok((order["disputes"][0]["outcome"] == outcome).then_some(order))
                },
            )
            .await?;
            line.push_str(&format!(
                ": paid, disputed ({} + {} dispute fee), {outcome}",
                money(&order["disputes"][0]["amount"]),
                money(&order["disputes"][0]["fee"])
            ));
        }
    }
    if let Some((sku, quantity)) = cart.refund {
        let order = order_of(api, &cast.operator, &id).await?;
        let line_id = order["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|part| part["lines"].as_array().into_iter().flatten())
            .find(|l| l["sku"] == sku)
            .and_then(|l| l["id"].as_str())
            .with_context(|| format!("no line {sku} in order {id}"))?
            .to_owned();
        let body = json!({
            "lines": [{"line_id": line_id, "quantity": quantity}],
            "restock": true,
            "reason": "arrived broken",
        });
        let key = uuid::Uuid::new_v4().to_string();
        let refund = api
            .post(
                Some(&cast.operator),
                &format!("/v1/orders/{id}/refunds"),
                Some(&key),
                &body,
                201,
            )
            .await?;
        anyhow::ensure!(
            refund["status"] == "succeeded",
            "refund on order {id}: {refund}"
        );
        line.push_str(&format!(
            "; {quantity} × {sku} refunded ({}) and restocked",
            money(&refund["amount"])
        ));
    }
    Ok((played, line))
}

/// Plays the carts; ships, delivers and returns the held shop's parts; then
/// moves the clock, waits for the payouts and the automatic deliveries.
///
/// # Errors
/// A call was refused, or something awaited did not happen in time.
pub async fn play(
    api: &Api,
    cast: &Cast,
    carts: &[&Cart],
    progress: &Progress,
) -> anyhow::Result<Day> {
    let mut orders = Vec::new();
    for cart in carts {
        progress.step(cart.story);
        let (played, line) = play_cart(api, cast, cart).await?;
        progress.done(line);
        orders.push(played);
    }

    progress.step("every seller's share reaches its connected account");
    let mut views = Vec::new();
    for order in &orders {
        let view = wait_for(
            &format!("order {} to be settled (or held until delivery)", order.id),
            EVENT_TIMEOUT,
            || async {
                let view = order_of(api, &cast.operator, &order.id).await?;
                Ok(all_settled_or_held(&view).then_some(view))
            },
        )
        .await?;
        views.push(view);
    }
    let held_spec = &script::HELD_UNTIL_DELIVERY;
    let held_shop = cast
        .shop_ids
        .get(held_spec.slug)
        .with_context(|| format!("no shop {}", held_spec.slug))?
        .clone();
    let mut held = Vec::new();
    for (order, view) in orders.iter().zip(&views) {
        for part in view["parts"].as_array().into_iter().flatten() {
            let policy = part["fulfilment"]["release_policy"].as_str().unwrap_or("");
            let shop_id = part["shop_id"].as_str().unwrap_or_default();
            anyhow::ensure!(
                (shop_id == held_shop) == (policy == "on_delivery"),
                "part {} of order {} is released {policy}: only {} should sell on delivery (the demo plays on orders.release = on_payment)",
                part["id"],
                order.id,
                held_spec.slug
            );
            if policy != "on_delivery" {
                continue;
            }
            anyhow::ensure!(
                part["settlement"]["status"] == "awaiting_release"
                    && part["fulfilment"]["released_at"].is_null(),
                "part {} of order {} should be held until delivery: {part}",
                part["id"],
                order.id
            );
            held.push(HeldPart {
                order_id: order.id.clone(),
                part_id: part["id"].as_str().unwrap_or_default().to_owned(),
                shop_id: shop_id.to_owned(),
                buyer: order.buyer,
                tracking_number: String::new(),
                confirmed: part["lines"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|l| l["sku"] == held_spec.returned.0),
            });
        }
    }
    anyhow::ensure!(
        !held.is_empty(),
        "no cart bought from {}: nothing was held",
        held_spec.slug
    );
    anyhow::ensure!(
        held.iter().filter(|p| p.confirmed).count() == 1,
        "exactly one part of {} should hold {} (the one confirmed and sent back)",
        held_spec.slug,
        held_spec.returned.0
    );
    let held_after_sales = held_balance(api, &cast.operator, &held_shop).await?;
    let held_name = views
        .iter()
        .flat_map(|v| v["parts"].as_array().cloned().unwrap_or_default())
        .find(|p| p["shop_id"] == held_shop.as_str())
        .and_then(|p| p["shop_name"].as_str().map(str::to_owned))
        .unwrap_or_else(|| held_spec.slug.to_owned());
    progress.done(format!(
        "{} orders paid: every part's share transferred to its shop, except {} part(s) of {held_name} held until delivery ({})",
        orders.len(),
        held.len(),
        held_after_sales
            .iter()
            .map(|(_, currency, minor)| super::text::format_money(Some(*minor), Some(currency)))
            .collect::<Vec<_>>()
            .join(" + ")
    ));

    progress.step(format!("{held_name} ships; a buyer confirms delivery"));
    let line = ship_and_confirm(api, cast, &held_name, &mut held).await?;
    progress.done(line);

    progress.step("a buyer sends a line back");
    let (return_id, line) = send_back(api, cast, &held).await?;
    progress.done(line);

    let paid_shops = shops_with_transfers(api, &cast.operator).await?;
    progress.step("four days pass at the provider; payouts");
    let seconds = script::CLOCK_ADVANCE_S.to_string();
    api.sandbox_post(
        "/v1/test_helpers/advance_clock",
        &[("seconds", seconds.as_str())],
    )
    .await?;
    let failing_shop = cast
        .shop_ids
        .get(script::FAILING_BANK.0)
        .context("no failing-bank shop")?
        .clone();
    let payouts = wait_for(
        "every seller's payout to land or fail",
        PAYOUTS_TIMEOUT,
        || async {
            let payouts = api.get(&cast.operator, "/v1/payouts?limit=100").await?;
            let list = payouts["data"].as_array().cloned().unwrap_or_default();
            let done = paid_shops.iter().all(|shop| {
                let statuses: Vec<&str> = list
                    .iter()
                    .filter(|p| p["shop_id"] == shop.as_str())
                    .filter_map(|p| p["status"].as_str())
                    .collect();
                let landed = if *shop == failing_shop {
                    "failed"
                } else {
                    "paid"
                };
                statuses.contains(&landed)
                    && statuses
                        .iter()
                        .all(|s| matches!(*s, "paid" | "failed" | "canceled"))
            });
            Ok(done.then_some(list))
        },
    )
    .await?;
    let failed = payouts.iter().filter(|p| p["status"] == "failed").count();
    progress.done(format!(
        "the clock moved {} days: {} payout(s), {failed} failed",
        script::CLOCK_ADVANCE_S / 86_400,
        payouts.len()
    ));

    progress.step("parcels nobody confirmed count as delivered");
    let line = automatic_deliveries(api, cast, &held).await?;
    progress.done(line);

    progress.step("waiting for the last webhooks and jobs");
    // The automatic releases transferred after the payouts were awaited.
    let paid_shops = shops_with_transfers(api, &cast.operator).await?;
    wait_until_quiet(api, cast, &paid_shops).await?;
    progress.done("every webhook processed, the job queue empty");
    Ok(Day {
        orders,
        held,
        held_after_sales,
        return_id,
    })
}

/// What `GET /v1/shops/{id}/balance` says the platform holds for the shop:
/// (shop id, currency, minor units), currencies with nothing held left out.
async fn held_balance(
    api: &Api,
    operator: &Session,
    shop_id: &str,
) -> anyhow::Result<Vec<(String, String, i64)>> {
    let balance = api
        .get(operator, &format!("/v1/shops/{shop_id}/balance"))
        .await?;
    Ok(balance["currencies"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(currency, b)| {
            let held = b["held"]["minor"].as_i64().unwrap_or(0);
            (held != 0).then(|| (shop_id.to_owned(), currency.clone(), held))
        })
        .collect())
}

/// The held shop's seller ships every held part with a tracking link; the
/// buyer of the part to be sent back confirms it delivered, which releases
/// and transfers its share. The others stay shipped and held.
async fn ship_and_confirm(
    api: &Api,
    cast: &Cast,
    held_name: &str,
    held: &mut [HeldPart],
) -> anyhow::Result<String> {
    let spec = &script::HELD_UNTIL_DELIVERY;
    let seller = cast
        .sellers
        .get(spec.slug)
        .with_context(|| format!("no seller of {}", spec.slug))?;
    for (n, part) in held.iter_mut().enumerate() {
        let tracking_number = format!("{}{:08}", spec.tracking_prefix, 31_500 + n);
        let body = json!({
            "carrier": spec.carrier,
            "tracking_number": tracking_number,
            "tracking_url": format!("{}{tracking_number}", spec.tracking_url),
        });
        let shipment = api
            .post(
                Some(seller),
                &format!(
                    "/v1/orders/{}/parts/{}/shipments",
                    part.order_id, part.part_id
                ),
                None,
                &body,
                201,
            )
            .await?;
        anyhow::ensure!(
            shipment["status"] == "shipped",
            "shipment of part {}: {shipment}",
            part.part_id
        );
        part.tracking_number = tracking_number;
    }
    // Shipped is not delivered: nothing was released.
    for part in held.iter() {
        let order = order_of(api, &cast.operator, &part.order_id).await?;
        let view = part_of(&order, &part.part_id).context("part gone")?;
        anyhow::ensure!(
            view["fulfilment"]["status"] == "shipped"
                && view["settlement"]["status"] == "awaiting_release",
            "a shipped part under on_delivery should still be held: {view}"
        );
    }
    let part = held
        .iter()
        .find(|p| p.confirmed)
        .context("no part to confirm")?;
    let buyer = cast.buyers.get(part.buyer).context("no such buyer")?;
    api.post(
        Some(buyer),
        &format!(
            "/v1/orders/{}/parts/{}/delivered",
            part.order_id, part.part_id
        ),
        None,
        &json!({}),
        200,
    )
    .await?;
    let released = wait_for(
        &format!("part {} to be released and transferred", part.part_id),
        EVENT_TIMEOUT,
        || async {
            let order = order_of(api, &cast.operator, &part.order_id).await?;
            Ok(part_of(&order, &part.part_id)
                .filter(|p| released_and_settled(p))
                .cloned())
        },
    )
    .await?;
    anyhow::ensure!(
        released["fulfilment"]["delivered_by"] == "buyer",
        "the buyer confirmed delivery: {released}"
    );
    Ok(format!(
        "{held_name} shipped {} part(s) by {} with tracking links (still held: shipped is not delivered); \
         {} said \"I received it\": {} released and transferred",
        held.len(),
        spec.carrier,
        buyer.email,
        money(&released["settlement"]["transferred"])
    ))
}

/// The buyer of the confirmed part sends one line back: request, the seller
/// approves with its address, the buyer adds the parcel's tracking, the
/// seller receives it (restocked) and the buyer is refunded.
async fn send_back(api: &Api, cast: &Cast, held: &[HeldPart]) -> anyhow::Result<(String, String)> {
    let spec = &script::HELD_UNTIL_DELIVERY;
    let part = held
        .iter()
        .find(|p| p.confirmed)
        .context("no delivered part")?;
    let buyer = cast.buyers.get(part.buyer).context("no such buyer")?;
    let seller = cast
        .sellers
        .get(spec.slug)
        .with_context(|| format!("no seller of {}", spec.slug))?;
    let order = order_of(api, &cast.operator, &part.order_id).await?;
    let (sku, quantity) = spec.returned;
    let line = part_of(&order, &part.part_id)
        .and_then(|p| p["lines"].as_array())
        .into_iter()
        .flatten()
        .find(|l| l["sku"] == sku)
        .with_context(|| format!("no line {sku} in order {}", part.order_id))?;
    let line_id = line["id"].as_str().context("line without id")?;
    let title = line["title"].as_str().unwrap_or(sku).to_owned();
    let key = uuid::Uuid::new_v4().to_string();
    let requested = api
        .post(
            Some(buyer),
            &format!("/v1/orders/{}/returns", part.order_id),
            Some(&key),
            &json!({
                "lines": [{"line_id": line_id, "quantity": quantity}],
                "reason": spec.return_reason,
            }),
            201,
        )
        .await?;
    let id = requested["id"]
        .as_str()
        .context("return without id")?
        .to_owned();
    api.post(
        Some(seller),
        &format!("/v1/returns/{id}/approve"),
        None,
        &json!({"return_address": spec.return_address}),
        200,
    )
    .await?;
    let (carrier, tracking_number) = spec.return_parcel;
    api.post(
        Some(buyer),
        &format!("/v1/returns/{id}/tracking"),
        None,
        &json!({"carrier": carrier, "tracking_number": tracking_number}),
        200,
    )
    .await?;
    api.post(
        Some(seller),
        &format!("/v1/returns/{id}/receive"),
        None,
        &json!({"restock": true}),
        200,
    )
    .await?;
    let received = wait_for(
        &format!("return {id}'s refund to succeed"),
        EVENT_TIMEOUT,
        || async {
            let view = api.get(buyer, &format!("/v1/returns/{id}")).await?;
            Ok(
                (view["status"] == "received" && view["refund"]["status"] == "succeeded")
                    .then_some(view),
            )
        },
    )
    .await?;
    let line = format!(
        "{} sent back {quantity} × {title}: requested, approved with a return address, \
         tracked ({carrier} {tracking_number}), received and restocked: {} refunded",
        buyer.email,
        money(&received["refund"]["amount"])
    );
    Ok((id, line))
}

/// Waits for the fulfilment sweep to count the unconfirmed parcels
/// delivered (`release_after_days` after shipment, by the provider's clock)
/// and for their shares to be released and transferred.
async fn automatic_deliveries(api: &Api, cast: &Cast, held: &[HeldPart]) -> anyhow::Result<String> {
    let mut transferred: BTreeMap<String, i64> = BTreeMap::new();
    let mut count = 0;
    for part in held.iter().filter(|p| !p.confirmed) {
        let released = wait_for(
            &format!("part {} to be delivered automatically", part.part_id),
            AUTOMATIC_DELIVERY_TIMEOUT,
            || async {
                let order = order_of(api, &cast.operator, &part.order_id).await?;
                Ok(part_of(&order, &part.part_id)
                    .filter(|p| released_and_settled(p))
                    .cloned())
            },
        )
        .await?;
        anyhow::ensure!(
            released["fulfilment"]["delivered_by"] == "automatic",
            "nobody confirmed part {}: {released}",
            part.part_id
        );
        let amount = &released["settlement"]["transferred"];
        *transferred
            .entry(amount["currency"].as_str().unwrap_or("?").to_owned())
            .or_default() += amount["minor"].as_i64().unwrap_or(0);
        count += 1;
    }
    Ok(format!(
        "{count} part(s) nobody confirmed counted as delivered {} days after shipment: {} released and transferred",
        script::HELD_UNTIL_DELIVERY.release_after_days,
        if transferred.is_empty() {
            "nothing".to_owned()
        } else {
            transferred
                .iter()
                .map(|(c, m)| super::text::format_money(Some(*m), Some(c)))
                .collect::<Vec<_>>()
                .join(" + ")
        }
    ))
}

/// Shops whose `transferred_in` memo account is positive: those the provider
/// will pay out.
async fn shops_with_transfers(api: &Api, operator: &Session) -> anyhow::Result<Vec<String>> {
    let trial = api.get(operator, "/v1/ledger/trial-balance").await?;
    let mut shops = BTreeSet::new();
    for account in trial["accounts"].as_array().into_iter().flatten() {
        let code = account["code"].as_str().unwrap_or_default();
        if let Some(shop) = code
            .strip_prefix("shop:")
            .and_then(|rest| rest.strip_suffix(":transferred_in"))
        {
            if account["balance"]["minor"].as_i64().unwrap_or(0) > 0 {
                shops.insert(shop.to_owned());
            }
        }
    }
    Ok(shops.into_iter().collect())
}

/// Waits until every paid shop's funds are available (their
/// `balance.available` events processed) and the job queue stays empty.
async fn wait_until_quiet(api: &Api, cast: &Cast, paid_shops: &[String]) -> anyhow::Result<()> {
    let operator = &cast.operator;
    let quiet_polls = std::cell::Cell::new(0u32);
    wait_for("the job queue to drain", QUIET_TIMEOUT, || async {
        let quiet = poll_is_quiet(api, operator, paid_shops).await?;
        quiet_polls.set(if quiet { quiet_polls.get() + 1 } else { 0 });
        Ok((quiet_polls.get() >= QUIET_POLLS_MIN).then_some(()))
    })
    .await
}

async fn poll_is_quiet(
    api: &Api,
    operator: &Session,
    paid_shops: &[String],
) -> anyhow::Result<bool> {
    for status in ["queued", "running"] {
        let jobs = api
            .get(operator, &format!("/v1/jobs?status={status}&limit=1"))
            .await?;
        if jobs["data"].as_array().is_some_and(|d| !d.is_empty()) {
            return Ok(false);
        }
    }
    for shop in paid_shops {
        let balance = api
            .get(operator, &format!("/v1/shops/{shop}/balance"))
            .await?;
        let pending = balance["currencies"]
            .as_object()
            .into_iter()
            .flat_map(|c| c.values())
            .any(|c| c["pending"]["minor"].as_i64().unwrap_or(0) != 0);
        if pending {
            // The sandbox runs what fell due (here: announcing a transfer's
            // funds with `balance.available`) when it is next called, and a
            // share released after the clock moved may have been its last
            // call: a read lets it catch up, as Stripe's own clock would.
            api.sandbox_get("/v1/balance").await?;
            return Ok(false);
        }
    }
    Ok(true)
}
