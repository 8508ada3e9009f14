//! The events of orders, money, payouts, fulfilment and returns, read from
//! the feed's domain function: each committed fact tells exactly once (and
//! a replayed provider event never again), a rolled-back one never, in
//! sequence order; each shop's view holds only its own part, never another
//! seller's part nor the buyer's email. Every amount is computed here.

use crate::common;
use crate::orders_support;

use bazaar::events::feed::{self, Audience, FeedEvent, FeedQuery};
use bazaar::events::types::TypeFilter;
use common::people::{pool, post_as, signup, Person};
use common::{assert_error, TestApp};
use orders_support::*;
use serde_json::{json, Value};

fn minor(value: &Value) -> i64 {
    value["minor"]
        .as_i64()
        .unwrap_or_else(|| panic!("no minor in {value}"))
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

/// Every event `audience` sees now, paging through the feed.
async fn feed_of(app: &TestApp, audience: Audience) -> Vec<FeedEvent> {
    let pool = pool(app);
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().expect("a connection");
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let query = FeedQuery {
                after,
                types: TypeFilter::default(),
                limit: 7,
            };
            let page = feed::read(&mut conn, &audience, &query).expect("feed page");
            all.extend(page.data);
            after = page.next_after;
            if !page.has_more {
                return all;
            }
        }
    })
    .await
    .expect("feed read")
}

/// The feed once it holds what `ready` waits for (background work — the
/// provider's webhooks, job workers — may still be writing); the last read
/// when it never does, for the assertions to tell what is missing.
async fn feed_when(
    app: &TestApp,
    audience: Audience,
    ready: impl Fn(&[FeedEvent]) -> bool,
) -> Vec<FeedEvent> {
    let mut events = feed_of(app, audience.clone()).await;
    for _ in 0..200 {
        if ready(&events) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        events = feed_of(app, audience.clone()).await;
    }
    events
}

fn platform() -> Audience {
    Audience::Platform
}

fn shop_audience(shop: &Value) -> Audience {
    Audience::Shops(vec![id_of(shop)])
}

fn kinds(events: &[FeedEvent]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

/// Only the events of orders (other modules' events, such as a shop's or a
/// product's, are left to their own tests).
fn orders_only(events: Vec<FeedEvent>) -> Vec<FeedEvent> {
    events
        .into_iter()
        .filter(|e| e.kind.starts_with("order."))
        .collect()
}

fn count(events: &[FeedEvent], kind: &str) -> usize {
    events.iter().filter(|e| e.kind == kind).count()
}

fn of_kind<'a>(events: &'a [FeedEvent], kind: &str) -> Vec<&'a FeedEvent> {
    events.iter().filter(|e| e.kind == kind).collect()
}

fn has(kind: &'static str, n: usize) -> impl Fn(&[FeedEvent]) -> bool {
    move |events| count(events, kind) >= n
}

/// Asserts what one shop's feed may hold: only its own events, in its view.
fn assert_only_its_own(events: &[FeedEvent], shop: &Value, others: &[&Value], secrets: &[&str]) {
    assert!(!events.is_empty(), "the shop sees its events");
    for event in events {
        assert_eq!(event.shop_id.as_deref(), Some(id_of(shop).as_str()));
        let text = event.data.to_string();
        for other in others {
            assert!(
                !text.contains(&id_of(other)),
                "{} shows another shop: {text}",
                event.kind
            );
        }
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "{} shows `{secret}`: {text}",
                event.kind
            );
        }
        if let Some(part) = event.data.get("part") {
            assert_eq!(part["shop_id"], shop["id"], "{}: its own part", event.kind);
        }
        assert!(
            event.data.get("parts").is_none(),
            "{}: a seller never gets the whole order",
            event.kind
        );
    }
}

/// An app whose job workers do not run: the tests drive the provider's
/// events themselves (and replay them).
async fn without_workers() -> TestApp {
    TestApp::spawn_with(&[("BAZAAR__JOBS__WORKERS", "0")], |_| {}).await
}

/// Two sellers with active USD shops, a mug (12.50) of the first and a book
/// (19.99) of the second in the market's buyer's cart.
struct TwoShops {
    ann: Person,
    shop_a: Value,
    bob: Person,
    shop_b: Value,
}

async fn a_mug_and_a_book_in_the_cart(app: &TestApp, market: &Market) -> TwoShops {
    let (ann, bob) = (signup(app, "seller").await, signup(app, "seller").await);
    let shop_a = active_shop(app, &ann, "USD").await;
    let shop_b = active_shop(app, &bob, "USD").await;
    let mug = product(app, &ann, &shop_a, "Blue Mug", 1250, 10).await;
    let book = product(app, &bob, &shop_b, "Field Guide", 1999, 10).await;
    add_to_cart(app, &market.buyer, &mug, 1).await;
    add_to_cart(app, &market.buyer, &book, 1).await;
    TwoShops {
        ann,
        shop_a,
        bob,
        shop_b,
    }
}

fn part_of<'a>(order: &'a Value, shop: &Value) -> &'a Value {
    order["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["shop_id"] == shop["id"])
        .expect("a part per shop")
}

#[tokio::test]
async fn a_paid_two_shop_order_tells_each_fact_once_and_each_shop_its_own_part() {
    let app = without_workers().await;
    let market = market(&app).await;
    let shops = a_mug_and_a_book_in_the_cart(&app, &market).await;
    let (shop_a, shop_b) = (&shops.shop_a, &shops.shop_b);

    // Refused (the price the buyer saw is not the price): nothing was
    // written, so nothing is told.
    let stale = json!({"shipping": shipping(), "payment_method": "pm_card_visa", "expected_total_minor": 1});
    assert_error(
        post_keyed(&app, &market.buyer, "/v1/checkout", "stale", &stale).await,
        409,
        "price_changed",
    )
    .await;
    let events = feed_of(&app, platform()).await;
    assert!(
        events.iter().all(|e| !e.kind.starts_with("order.")),
        "{:?}",
        kinds(&events)
    );

    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_visa")).await;
    assert_eq!(order["status"], "paid");
    let order_id = id_of(&order);
    let (share_a, share_b) = (1250 - market_fee(1250), 1999 - market_fee(1999));
    let all = feed_when(&app, platform(), has("order.part.transfer_sent", 2)).await;
    let events: Vec<FeedEvent> = all
        .into_iter()
        .filter(|e| e.kind.starts_with("order."))
        .collect();
    assert_eq!(
        kinds(&events),
        [
            "order.created",
            "order.paid",
            "order.part.transfer_sent",
            "order.part.transfer_sent"
        ]
    );
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    for event in &events {
        assert_eq!(event.order_id.as_deref(), Some(order_id.as_str()));
    }
    // Staff see the whole order as the API answers it.
    assert_eq!(events[0].data["id"], order_id.as_str());
    assert_eq!(events[0].data["status"], "awaiting_payment");
    assert_eq!(events[0].data["buyer_email"], market.buyer.email.as_str());
    assert_eq!(events[0].data["parts"].as_array().unwrap().len(), 2);
    assert_eq!(events[1].data["status"], "paid");
    assert_eq!(minor(&events[1].data["total"]), 1250 + 1999);
    let mut sent: Vec<(String, i64)> = events[2..]
        .iter()
        .map(|e| {
            assert_eq!(e.data["movement"]["kind"], "transfer");
            assert_eq!(e.data["movement"]["amount"]["currency"], "USD");
            assert_eq!(e.data["settlement"]["status"], "settled");
            assert_eq!(
                minor(&e.data["settlement"]["transferred"]),
                minor(&e.data["movement"]["amount"])
            );
            assert_eq!(e.data["shop_id"].as_str(), e.shop_id.as_deref());
            (
                e.shop_id.clone().unwrap(),
                minor(&e.data["movement"]["amount"]),
            )
        })
        .collect();
    sent.sort();
    let mut expected = vec![(id_of(shop_a), share_a), (id_of(shop_b), share_b)];
    expected.sort();
    assert_eq!(sent, expected);

    // The provider's events again (a sync and the intent applied twice, as
    // webhook replays do): nothing changes, nothing more is told.
    let support = common::people::staff(&app, &market.operator, "support").await;
    for _ in 0..2 {
        json_of(
            post_as(
                &app,
                &support,
                &format!("/v1/orders/{order_id}/sync"),
                &json!({}),
            )
            .await,
            200,
        )
        .await;
        let intent = app
            .provider
            .retrieve_payment_intent(order["payment"]["intent_id"].as_str().unwrap())
            .await
            .unwrap();
        bazaar::orders::payment::apply_intent(&pool(&app), app.provider.as_ref(), &intent)
            .await
            .unwrap();
    }
    let again: Vec<FeedEvent> = feed_of(&app, platform())
        .await
        .into_iter()
        .filter(|e| e.kind.starts_with("order."))
        .collect();
    assert_eq!(again, events);

    // Each shop sees its own events, in its own view.
    let secrets = [market.buyer.email.as_str()];
    for (shop, other, own_title, other_title) in [
        (shop_a, shop_b, "Blue Mug", "Field Guide"),
        (shop_b, shop_a, "Field Guide", "Blue Mug"),
    ] {
        let seen = orders_only(feed_of(&app, shop_audience(shop)).await);
        assert_eq!(
            kinds(&seen),
            ["order.created", "order.paid", "order.part.transfer_sent"]
        );
        assert_only_its_own(&seen, shop, &[other], &[secrets[0], other_title]);
        assert_eq!(seen[0].data["order_id"], order_id.as_str());
        assert_eq!(seen[0].data["part"]["lines"][0]["title"], own_title);
        assert_eq!(seen[1].data["order_status"], "paid");
        let ids: Vec<&str> = seen.iter().map(|e| e.id.as_str()).collect();
        let platform_ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert!(ids.iter().all(|id| platform_ids.contains(id)));
    }

    // A partial refund of the mug: told once, to staff and to the mug's shop
    // only; the seller's portion comes back by one reversal.
    let refund = json!({"part_id": part_of(&order, shop_a)["id"], "amount_minor": 500});
    let refunded = json_of(
        post_keyed(
            &app,
            &support,
            &format!("/v1/orders/{order_id}/refunds"),
            "r",
            &refund,
        )
        .await,
        201,
    )
    .await;
    assert_eq!(refunded["status"], "succeeded");
    let portion = proportion(share_a, 500, 1250);
    let events = feed_when(&app, platform(), has("order.part.transfer_reversed", 1)).await;
    assert_eq!(count(&events, "order.refunded"), 1);
    let told = of_kind(&events, "order.refunded")[0];
    assert_eq!(minor(&told.data["refunded"]), 500);
    assert_eq!(told.data["refunds"][0]["id"], refunded["id"]);
    let reversed = of_kind(&events, "order.part.transfer_reversed");
    assert_eq!(reversed.len(), 1);
    assert_eq!(reversed[0].shop_id.as_deref(), Some(id_of(shop_a).as_str()));
    assert_eq!(reversed[0].data["movement"]["kind"], "reversal");
    assert_eq!(minor(&reversed[0].data["movement"]["amount"]), portion);
    assert_eq!(
        minor(&reversed[0].data["settlement"]["transferred"]),
        share_a - portion
    );
    assert!(told.seq < reversed[0].seq);
    let seen_a = feed_of(&app, shop_audience(shop_a)).await;
    assert_eq!(count(&seen_a, "order.refunded"), 1);
    assert_eq!(count(&seen_a, "order.part.transfer_reversed"), 1);
    assert_eq!(
        minor(&of_kind(&seen_a, "order.refunded")[0].data["part"]["refunded"]),
        500
    );
    assert_only_its_own(&seen_a, shop_a, &[shop_b], &secrets);
    let seen_b = feed_of(&app, shop_audience(shop_b)).await;
    assert_eq!(count(&seen_b, "order.refunded"), 0, "{:?}", kinds(&seen_b));
    assert_eq!(count(&seen_b, "order.part.transfer_reversed"), 0);

    // Replayed once more: still nothing new.
    json_of(
        post_as(
            &app,
            &support,
            &format!("/v1/orders/{order_id}/sync"),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(feed_of(&app, platform()).await, events);
    let _ = (&shops.ann, &shops.bob);
}

#[tokio::test]
async fn an_order_nobody_pays_is_canceled_once() {
    let app = without_workers().await;
    let market = market(&app).await;
    let shops = a_mug_and_a_book_in_the_cart(&app, &market).await;
    let order = checkout_ok(&app, &market.buyer, "k", None).await;
    assert_eq!(order["status"], "awaiting_payment");
    let order_id = id_of(&order);
    // Past its deadline, twice over: expired once.
    let ttl = i64::try_from(app.settings.orders.unpaid_ttl.as_secs()).unwrap();
    sweep(&app, ttl + 60).await;
    sweep(&app, ttl + 120).await;
    assert_eq!(staff_view(&app, &order_id).await["status"], "expired");
    let events = feed_when(&app, platform(), has("order.canceled", 1)).await;
    let order_events: Vec<&str> = kinds(&events)
        .into_iter()
        .filter(|k| k.starts_with("order."))
        .collect();
    assert_eq!(order_events, ["order.created", "order.canceled"]);
    let canceled = of_kind(&events, "order.canceled")[0];
    assert_eq!(canceled.data["id"], order_id.as_str());
    assert_eq!(canceled.data["status"], "expired");
    for (shop, other) in [
        (&shops.shop_a, &shops.shop_b),
        (&shops.shop_b, &shops.shop_a),
    ] {
        let seen = orders_only(feed_of(&app, shop_audience(shop)).await);
        assert_eq!(kinds(&seen), ["order.created", "order.canceled"]);
        assert_eq!(seen[1].data["order_status"], "expired");
        assert_only_its_own(&seen, shop, &[other], &[market.buyer.email.as_str()]);
    }
}

#[tokio::test]
async fn a_dispute_opens_once_and_closes_once_however_often_it_is_seen() {
    let app = without_workers().await;
    let market = market(&app).await;
    let shops = a_mug_and_a_book_in_the_cart(&app, &market).await;
    let (shop_a, shop_b) = (&shops.shop_a, &shops.shop_b);
    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_createDispute")).await;
    assert_eq!(order["status"], "paid");
    let order_id = id_of(&order);
    let dispute = disputes_opened(&app).await.remove(0);
    let dispute_id = dispute["id"].as_str().unwrap();
    let support = common::people::staff(&app, &market.operator, "support").await;
    let sync = format!("/v1/disputes/{dispute_id}/sync");
    for _ in 0..2 {
        json_of(post_as(&app, &support, &sync, &json!({})).await, 200).await;
    }
    let events = feed_when(&app, platform(), has("order.part.transfer_reversed", 2)).await;
    assert_eq!(count(&events, "dispute.opened"), 1);
    assert_eq!(count(&events, "dispute.closed"), 0);
    let opened = of_kind(&events, "dispute.opened")[0];
    assert_eq!(opened.order_id.as_deref(), Some(order_id.as_str()));
    assert_eq!(opened.data["disputed"], true);
    assert_eq!(opened.data["disputes"][0]["id"], dispute_id);
    assert_eq!(opened.data["disputes"][0]["outcome"], "open");
    // The whole amount is disputed: each seller gives back all it got.
    assert_eq!(count(&events, "order.part.transfer_reversed"), 2);

    // Won: closed once, however often the provider says so.
    app.sandbox_post(
        &format!("/v1/disputes/{dispute_id}"),
        &[("evidence[uncategorized_text]", "winning_evidence")],
    )
    .await;
    for _ in 0..3 {
        json_of(post_as(&app, &support, &sync, &json!({})).await, 200).await;
    }
    let events = feed_when(&app, platform(), has("order.part.transfer_sent", 4)).await;
    assert_eq!(count(&events, "dispute.opened"), 1);
    assert_eq!(count(&events, "dispute.closed"), 1);
    let closed = of_kind(&events, "dispute.closed")[0];
    assert_eq!(closed.data["disputes"][0]["outcome"], "won");
    assert_eq!(closed.data["disputed"], false);
    assert!(opened.seq < closed.seq);
    // One share, one reversal, one share given back per seller.
    assert_eq!(count(&events, "order.part.transfer_sent"), 4);
    assert_eq!(count(&events, "order.part.transfer_reversed"), 2);
    for (shop, other) in [(shop_a, shop_b), (shop_b, shop_a)] {
        let seen = feed_of(&app, shop_audience(shop)).await;
        assert_eq!(count(&seen, "dispute.opened"), 1);
        assert_eq!(count(&seen, "dispute.closed"), 1);
        assert_eq!(count(&seen, "order.part.transfer_sent"), 2);
        assert_eq!(count(&seen, "order.part.transfer_reversed"), 1);
        assert_eq!(of_kind(&seen, "dispute.opened")[0].data["disputed"], true);
        assert_eq!(of_kind(&seen, "dispute.closed")[0].data["disputed"], false);
        assert_only_its_own(&seen, shop, &[other], &[market.buyer.email.as_str()]);
    }
}

#[tokio::test]
async fn a_payout_paid_and_one_failed_are_each_told_once_to_their_shop() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let two = a_vase_and_a_bowl_paid_out(&app, &market).await;
    let events = feed_when(&app, platform(), |e| {
        has("payout.paid", 1)(e) && has("payout.failed", 1)(e)
    })
    .await;
    assert_eq!(count(&events, "payout.paid"), 1, "{:?}", kinds(&events));
    assert_eq!(count(&events, "payout.failed"), 1, "{:?}", kinds(&events));
    let paid = of_kind(&events, "payout.paid")[0];
    assert_eq!(paid.shop_id.as_deref(), Some(id_of(&two.shop_a).as_str()));
    for field in [
        "id",
        "shop_id",
        "account_id",
        "amount",
        "status",
        "arrival_date",
    ] {
        assert_eq!(paid.data[field], two.paid[field], "{field}");
    }
    let failed = of_kind(&events, "payout.failed")[0];
    assert_eq!(failed.shop_id.as_deref(), Some(id_of(&two.shop_b).as_str()));
    assert_eq!(failed.data["id"], two.failed["id"]);
    assert_eq!(failed.data["status"], "failed");
    assert_eq!(failed.data["failure_code"], two.failed["failure_code"]);

    // The payouts re-read from the provider (as their events replayed are):
    // nothing more.
    for (shop, payout) in [(&two.shop_a, &two.paid), (&two.shop_b, &two.failed)] {
        bazaar::payouts::sync_payout(
            &pool(&app),
            app.provider.as_ref(),
            shop["provider_account_id"].as_str().unwrap(),
            payout["id"].as_str().unwrap(),
        )
        .await
        .unwrap();
    }
    let again = feed_of(&app, platform()).await;
    assert_eq!(count(&again, "payout.paid"), 1);
    assert_eq!(count(&again, "payout.failed"), 1);

    let seen_a = feed_of(&app, shop_audience(&two.shop_a)).await;
    assert_eq!(count(&seen_a, "payout.paid"), 1);
    assert_eq!(count(&seen_a, "payout.failed"), 0);
    assert_only_its_own(
        &seen_a,
        &two.shop_a,
        &[&two.shop_b],
        &[market.buyer.email.as_str()],
    );
    let seen_b = feed_of(&app, shop_audience(&two.shop_b)).await;
    assert_eq!(count(&seen_b, "payout.paid"), 0);
    assert_eq!(count(&seen_b, "payout.failed"), 1);
    assert_only_its_own(
        &seen_b,
        &two.shop_b,
        &[&two.shop_a],
        &[market.buyer.email.as_str()],
    );
    let _ = (&two.ann, &two.bob);
}

/// `POST /v1/returns/{id}/{step}` as `person`, answered 200.
async fn step(app: &TestApp, person: &Person, return_id: &str, step: &str, body: &Value) -> Value {
    json_of(
        post_as(
            app,
            person,
            &format!("/v1/returns/{return_id}/{step}"),
            body,
        )
        .await,
        200,
    )
    .await
}

/// The buyer asks to return `quantity` of `line_id`; the return.
async fn ask(app: &TestApp, buyer: &Person, order_id: &str, line_id: &str, quantity: i64) -> Value {
    let body =
        json!({"lines": [{"line_id": line_id, "quantity": quantity}], "reason": "not as pictured"});
    let key = uuid::Uuid::new_v4().to_string();
    json_of(
        post_keyed(
            app,
            buyer,
            &format!("/v1/orders/{order_id}/returns"),
            &key,
            &body,
        )
        .await,
        201,
    )
    .await
}

#[tokio::test]
async fn shipping_delivering_cancelling_and_each_return_step_are_told_once() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let shops = a_mug_and_a_book_in_the_cart(&app, &market).await;
    let (ann, shop_a, bob, shop_b) = (&shops.ann, &shops.shop_a, &shops.bob, &shops.shop_b);
    let buyer = &market.buyer;
    let order = checkout_ok(&app, buyer, "k", Some("pm_card_visa")).await;
    assert_eq!(order["status"], "paid");
    let order_id = id_of(&order);
    let part_path = |shop: &Value, what: &str| {
        format!(
            "/v1/orders/{order_id}/parts/{}/{what}",
            part_of(&order, shop)["id"].as_str().unwrap()
        )
    };

    // Bob cannot ship the book: his part is cancelled (and refunded).
    json_of(
        post_as(
            &app,
            bob,
            &part_path(shop_b, "cancel"),
            &json!({"reason": "out of stock"}),
        )
        .await,
        200,
    )
    .await;
    assert_error(
        post_as(
            &app,
            bob,
            &part_path(shop_b, "cancel"),
            &json!({"reason": "again"}),
        )
        .await,
        409,
        "already_canceled",
    )
    .await;
    // Ann ships the mug, in one parcel; the buyer says it arrived.
    json_of(
        post_as(
            &app,
            ann,
            &part_path(shop_a, "shipments"),
            &json!({"carrier": "UPS", "tracking_number": "1Z100"}),
        )
        .await,
        201,
    )
    .await;
    json_of(
        post_as(&app, buyer, &part_path(shop_a, "delivered"), &json!({})).await,
        200,
    )
    .await;
    assert_error(
        post_as(&app, buyer, &part_path(shop_a, "delivered"), &json!({})).await,
        409,
        "already_delivered",
    )
    .await;
    let mug_line = part_of(&order, shop_a)["lines"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A return refused; another approved, shipped back (its tracking sent
    // twice: corrected), received.
    let refused = ask(&app, buyer, &order_id, &mug_line, 1).await;
    let refused_id = id_of(&refused);
    step(&app, ann, &refused_id, "refuse", &json!({"reason": "used"})).await;
    let kept = ask(&app, buyer, &order_id, &mug_line, 1).await;
    let kept_id = id_of(&kept);
    step(
        &app,
        ann,
        &kept_id,
        "approve",
        &json!({"return_address": "2 Dock Rd, Portland"}),
    )
    .await;
    for number in ["RET-1", "RET-2"] {
        step(
            &app,
            buyer,
            &kept_id,
            "tracking",
            &json!({"carrier": "USPS", "tracking_number": number}),
        )
        .await;
    }
    let received = step(&app, ann, &kept_id, "receive", &json!({"restock": true})).await;
    assert_eq!(received["status"], "received");

    let events = feed_when(&app, platform(), has("return.received", 1)).await;
    for (kind, n) in [
        ("order.part.canceled", 1),
        ("order.part.shipped", 1),
        ("order.part.delivered", 1),
        ("return.requested", 2),
        ("return.refused", 1),
        ("return.approved", 1),
        ("return.shipped_back", 1),
        ("return.received", 1),
        // The cancelled book's refund and the returned mug's.
        ("order.refunded", 2),
    ] {
        assert_eq!(count(&events, kind), n, "{kind}: {:?}", kinds(&events));
    }
    let canceled = of_kind(&events, "order.part.canceled")[0];
    assert_eq!(canceled.order_id.as_deref(), Some(order_id.as_str()));
    assert_eq!(
        part_of(&canceled.data, shop_b)["fulfilment"]["status"],
        "canceled"
    );
    let shipped = of_kind(&events, "order.part.shipped")[0];
    assert_eq!(
        part_of(&shipped.data, shop_a)["fulfilment"]["status"],
        "shipped"
    );
    let delivered = of_kind(&events, "order.part.delivered")[0];
    assert_eq!(
        part_of(&delivered.data, shop_a)["fulfilment"]["status"],
        "delivered"
    );
    assert!(shipped.seq < delivered.seq);
    let steps: Vec<(&str, &str, &str)> = events
        .iter()
        .filter(|e| e.kind.starts_with("return."))
        .map(|e| {
            (
                e.kind.as_str(),
                e.data["id"].as_str().unwrap(),
                e.data["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("return.requested", refused_id.as_str(), "requested"),
            ("return.refused", refused_id.as_str(), "refused"),
            ("return.requested", kept_id.as_str(), "requested"),
            ("return.approved", kept_id.as_str(), "approved"),
            ("return.shipped_back", kept_id.as_str(), "shipped_back"),
            ("return.received", kept_id.as_str(), "received"),
        ]
    );
    let told_received = of_kind(&events, "return.received")[0];
    assert_eq!(
        told_received.data, received,
        "the return as the API answers it"
    );
    assert_eq!(
        told_received.shop_id.as_deref(),
        Some(id_of(shop_a).as_str())
    );

    // Ann sees her part's fulfilment and every return; Bob only his
    // cancellation and its refund.
    let seen_a = feed_of(&app, shop_audience(shop_a)).await;
    for (kind, n) in [
        ("order.part.canceled", 0),
        ("order.part.shipped", 1),
        ("order.part.delivered", 1),
        ("return.requested", 2),
        ("return.received", 1),
        ("order.refunded", 1),
    ] {
        assert_eq!(count(&seen_a, kind), n, "{kind}: {:?}", kinds(&seen_a));
    }
    assert_only_its_own(&seen_a, shop_a, &[shop_b], &[buyer.email.as_str()]);
    let seen_b = feed_of(&app, shop_audience(shop_b)).await;
    for (kind, n) in [
        ("order.part.canceled", 1),
        ("order.part.shipped", 0),
        ("order.part.delivered", 0),
        ("return.requested", 0),
        ("order.refunded", 1),
    ] {
        assert_eq!(count(&seen_b, kind), n, "{kind}: {:?}", kinds(&seen_b));
    }
    assert_only_its_own(&seen_b, shop_b, &[shop_a], &[buyer.email.as_str()]);
}
