//! The day: buyers check out their carts and pay (one card declined, two
//! payments disputed), the operator refunds a line, the platform's evidence
//! wins one dispute and loses the other; then the sandbox's clock moves on
//! and the sellers are paid out, one payout failing on its bank account.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use super::client::{wait_for, Api, Session};
use super::morning::Cast;
use super::script::{self, Cart, Payment};
use super::Progress;

/// How long a webhook's consequence (an order paid, a dispute seen or
/// decided, transfers settled) may take to show.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the payouts of four sandbox days may take to be reported.
const PAYOUTS_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the job queue may take to drain once nothing new happens.
const QUIET_TIMEOUT: Duration = Duration::from_secs(30);
/// Consecutive polls (100 ms apart) that must find no work left: a webhook
/// the sandbox is still delivering shows up within that window.
const QUIET_POLLS_MIN: u32 = 10;

/// A checked-out cart and what became of it.
pub struct PlayedOrder {
    pub id: String,
    /// The decline the first card met (`payment.last_error`), if it was declined.
    pub declined_with: Option<String>,
}

/// What the day did, for the summary.
pub struct Day {
    pub orders: Vec<PlayedOrder>,
}

/// Steps the day counts on the progress bar for these carts.
pub fn steps(carts: &[&Cart]) -> u64 {
    carts.len() as u64 + 3
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

fn all_settled(order: &Value) -> bool {
    order["status"] == "paid"
        && order["parts"]
            .as_array()
            .is_some_and(|parts| parts.iter().all(|p| p["settlement"]["status"] == "settled"))
}

fn money(value: &Value) -> String {
    super::summary::format_money(value["minor"].as_i64(), value["currency"].as_str())
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
                Ok(all_settled(&order_of(api, &cast.operator, &id).await?).then_some(()))
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

/// Plays the carts, then moves the clock and waits for the payouts.
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
    for order in &orders {
        wait_for(
            &format!("order {} to be settled", order.id),
            EVENT_TIMEOUT,
            || async {
                Ok(all_settled(&order_of(api, &cast.operator, &order.id).await?).then_some(()))
            },
        )
        .await?;
    }
    let paid_shops = shops_with_transfers(api, &cast.operator).await?;
    progress.done(format!(
        "{} orders settled: every part's share transferred to its shop",
        orders.len()
    ));

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

    progress.step("waiting for the last webhooks and jobs");
    wait_until_quiet(api, cast, &paid_shops).await?;
    progress.done("every webhook processed, the job queue empty");
    Ok(Day { orders })
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
            if account["balance_minor"].as_i64().unwrap_or(0) > 0 {
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
            .any(|c| c["pending"].as_i64().unwrap_or(0) != 0);
        if pending {
            return Ok(false);
        }
    }
    Ok(true)
}
