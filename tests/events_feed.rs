//! The events feed over HTTP (`GET /v1/events`): staff read every event in
//! sequence order, paging loses and repeats nothing, type filters take
//! prefixes, a seller reads only its own shops' events, bad parameters are
//! refused by name, and the retention purge moves `oldest_seq`.

use crate::common;
use crate::orders_support;

use std::collections::BTreeSet;

use common::people::{get_as, operator, pool, post_as, signup, Person};
use common::{assert_error, TestApp};
use orders_support::*;
use serde_json::{json, Value};

/// Every item of `person`'s feed under `query`, read `limit` at a time from
/// the start, checking each page's bookkeeping on the way.
async fn read_all(app: &TestApp, person: &Person, query: &str, limit: i64) -> Vec<Value> {
    let mut after = 0;
    let mut items = Vec::new();
    loop {
        let path = format!("/v1/events?after={after}&limit={limit}{query}");
        let page = json_of(get_as(app, person, &path).await, 200).await;
        let data = page["data"].as_array().expect("data").clone();
        assert!(data.len() <= usize::try_from(limit).unwrap(), "{page}");
        let next = page["next_after"].as_i64().expect("next_after");
        match data.last() {
            Some(last) => assert_eq!(next, last["seq"].as_i64().unwrap(), "{page}"),
            None => assert_eq!(next, after, "{page}"),
        }
        items.extend(data);
        if !page["has_more"].as_bool().expect("has_more") {
            return items;
        }
        assert!(
            next > after,
            "a page with more to come must move on: {page}"
        );
        after = next;
    }
}

/// The whole feed once `ready` holds for it. On PostgreSQL an event shows
/// only once every transaction older than its own has ended (anywhere on the
/// server), so what was just written may appear a moment later.
async fn read_when(
    app: &TestApp,
    person: &Person,
    query: &str,
    ready: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let mut items = read_all(app, person, query, 500).await;
    for _ in 0..200 {
        if ready(&items) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        items = read_all(app, person, query, 500).await;
    }
    items
}

fn has(kind: &'static str) -> impl Fn(&[Value]) -> bool {
    move |items| items.iter().any(|e| e["type"] == kind)
}

/// `items` up to and including `last`: what a later read must repeat.
fn through(items: Vec<Value>, last: i64) -> Vec<Value> {
    items
        .into_iter()
        .filter(|e| e["seq"].as_i64().unwrap() <= last)
        .collect()
}

fn kinds(items: &[Value]) -> Vec<&str> {
    items.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn seqs(items: &[Value]) -> Vec<i64> {
    items.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

fn id_of(value: &Value) -> &str {
    value["id"].as_str().expect("id")
}

/// Two sellers, each with an onboarded shop and a product, and one order
/// holding both products (the vase's last unit, so it runs out).
struct TwoShops {
    market: Market,
    ann: Person,
    shop_a: Value,
    vase: String,
    bob: Person,
    shop_b: Value,
    bowl: String,
    order_id: String,
}

async fn two_shops_one_order(app: &TestApp) -> TwoShops {
    let market = market(app).await;
    let ann = signup(app, "seller").await;
    let shop_a = active_shop(app, &ann, "USD").await;
    let vase = product(app, &ann, &shop_a, "Vase", 3000, 1).await;
    let bob = signup(app, "seller").await;
    let shop_b = active_shop(app, &bob, "USD").await;
    let bowl = product(app, &bob, &shop_b, "Bowl", 2000, 5).await;
    add_to_cart(app, &market.buyer, &vase, 1).await;
    add_to_cart(app, &market.buyer, &bowl, 2).await;
    let order = checkout_ok(app, &market.buyer, "two-shops", Some("pm_card_visa")).await;
    TwoShops {
        order_id: id_of(&order).to_owned(),
        market,
        ann,
        shop_a,
        vase,
        bob,
        shop_b,
        bowl,
    }
}

#[tokio::test]
async fn staff_read_every_event_in_order_and_paging_neither_skips_nor_repeats() {
    let app = TestApp::spawn().await;
    let s = two_shops_one_order(&app).await;
    let op = &s.market.operator;
    let freeze = format!("/v1/shops/{}/freeze", id_of(&s.shop_b));
    json_of(
        post_as(&app, op, &freeze, &json!({"reason": "fraud review"})).await,
        200,
    )
    .await;
    let unfreeze = format!("/v1/shops/{}/unfreeze", id_of(&s.shop_b));
    json_of(post_as(&app, op, &unfreeze, &json!({})).await, 200).await;

    let whole = read_when(&app, op, "", has("shop.unfrozen")).await;
    let seq = seqs(&whole);
    let last = *seq.last().unwrap();
    assert!(seq.windows(2).all(|w| w[0] < w[1]), "{seq:?}");
    let ids: BTreeSet<&str> = whole.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), whole.len(), "one item per event for staff");
    let types = kinds(&whole);
    // In the order they happened: the fee rule, then each shop's story.
    for expected in [
        "fee_rule.version_created",
        "shop.created",
        "shop.activated",
        "product.created",
        "product.out_of_stock",
        "shop.frozen",
        "shop.unfrozen",
    ] {
        assert!(
            types.contains(&expected),
            "{expected} missing from {types:?}"
        );
    }
    let at = |kind: &str, shop: &Value| {
        whole
            .iter()
            .position(|e| e["type"] == kind && e["shop_id"] == shop["id"])
            .unwrap_or_else(|| panic!("{kind} of {shop}"))
    };
    assert!(at("shop.created", &s.shop_a) < at("shop.activated", &s.shop_a));
    assert!(at("shop.activated", &s.shop_a) < at("product.created", &s.shop_a));
    assert!(at("shop.frozen", &s.shop_b) < at("shop.unfrozen", &s.shop_b));
    // Exactly once each, with the API's answer as the payload.
    let frozen: Vec<&Value> = whole
        .iter()
        .filter(|e| e["type"] == "shop.frozen")
        .collect();
    assert_eq!(frozen.len(), 1);
    assert_eq!(frozen[0]["data"]["status"], "frozen");
    assert_eq!(frozen[0]["data"]["frozen_reason"], "fraud review");
    let out: Vec<&Value> = whole
        .iter()
        .filter(|e| e["type"] == "product.out_of_stock")
        .collect();
    assert_eq!(out.len(), 1, "only the vase ran out");
    assert_eq!(out[0]["data"]["id"], s.vase.as_str());
    assert_eq!(out[0]["data"]["stock"], 0);
    let created_products: Vec<&str> = whole
        .iter()
        .filter(|e| e["type"] == "product.created")
        .map(|e| e["data"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(created_products, [s.vase.as_str(), s.bowl.as_str()]);
    let rule = whole
        .iter()
        .find(|e| e["type"] == "fee_rule.version_created")
        .unwrap();
    assert_eq!(rule["shop_id"], Value::Null);
    assert_eq!(rule["data"]["version"], 1);
    assert!(rule["data"]["rule_id"].as_str().unwrap().starts_with("fr_"));

    // Any page size reads the same events, each once, in the same order.
    for limit in [1, 2, 3, 7] {
        let paged = through(read_all(&app, op, "", limit).await, last);
        assert_eq!(seqs(&paged), seq, "limit {limit}");
    }
    // Reading on from the middle gives exactly the rest.
    let middle = seq[seq.len() / 2];
    let rest = json_of(
        get_as(&app, op, &format!("/v1/events?after={middle}&limit=500")).await,
        200,
    )
    .await;
    let expected_rest: Vec<i64> = seq.iter().copied().filter(|s| *s > middle).collect();
    let rest_items = through(rest["data"].as_array().unwrap().clone(), last);
    assert_eq!(seqs(&rest_items), expected_rest);
    assert_eq!(rest["oldest_seq"], seq[0]);
    // Past the end: an empty page that stays where it was.
    let beyond = last + 1_000_000;
    let end = json_of(
        get_as(&app, op, &format!("/v1/events?after={beyond}")).await,
        200,
    )
    .await;
    assert_eq!(end["data"], json!([]));
    assert_eq!(end["has_more"], false);
    assert_eq!(end["next_after"], beyond);

    // Type filters: a prefix, and a prefix with an exact name.
    let shops_only = through(read_all(&app, op, "&types=shop.*", 500).await, last);
    let want: Vec<i64> = whole
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("shop."))
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(seqs(&shops_only), want);
    let mixed = through(
        read_all(&app, op, "&types=product.*,fee_rule.version_created", 2).await,
        last,
    );
    let want: Vec<i64> = whole
        .iter()
        .filter(|e| {
            let kind = e["type"].as_str().unwrap();
            kind.starts_with("product.") || kind == "fee_rule.version_created"
        })
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs(&mixed), want);

    // Finance and support read the same feed; buyers none of it.
    for role in ["finance", "support"] {
        let staff = common::people::staff(&app, op, role).await;
        let theirs = through(read_all(&app, &staff, "", 500).await, last);
        assert_eq!(seqs(&theirs), seq, "{role}");
    }
    assert_error(
        get_as(&app, &s.market.buyer, "/v1/events").await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn a_seller_reads_its_own_shops_events_and_never_another_sellers() {
    let app = TestApp::spawn().await;
    let s = two_shops_one_order(&app).await;
    let ann_second = active_shop(&app, &s.ann, "USD").await;

    let ready = |items: &[Value]| {
        items
            .iter()
            .any(|e| e["type"] == "shop.activated" && e["shop_id"] == ann_second["id"])
            && has("product.out_of_stock")(items)
    };
    let anns = read_when(&app, &s.ann, "", ready).await;
    let last = anns.last().unwrap()["seq"].as_i64().unwrap();
    let text = serde_json::to_string(&anns).unwrap();
    let ann_shops = [id_of(&s.shop_a), id_of(&ann_second)];
    for item in &anns {
        let shop = item["shop_id"]
            .as_str()
            .expect("a seller's item names its shop");
        assert!(ann_shops.contains(&shop), "{item}");
    }
    // Nothing of Bob's: not his shop, not his product, not the rule.
    for foreign in [id_of(&s.shop_b), s.bowl.as_str(), "fee_rule."] {
        assert!(!text.contains(foreign), "{foreign} in Ann's feed: {text}");
    }
    let types = kinds(&anns);
    for expected in [
        "shop.created",
        "shop.activated",
        "product.created",
        "product.out_of_stock",
    ] {
        assert!(
            types.contains(&expected),
            "{expected} missing from {types:?}"
        );
    }
    let seq = seqs(&anns);
    assert!(seq.windows(2).all(|w| w[0] <= w[1]), "{seq:?}");
    // Paging a seller's feed reads the same items.
    let paged = through(read_all(&app, &s.ann, "", 1).await, last);
    assert_eq!(paged, anns);
    // Order events (when emitted) show Ann her own part only.
    for item in anns.iter().filter(|e| e["order_id"] == s.order_id.as_str()) {
        assert_eq!(item["shop_id"], s.shop_a["id"], "{item}");
    }

    // Narrowed to one of her shops.
    let second = through(
        read_all(&app, &s.ann, &format!("&shop={}", id_of(&ann_second)), 500).await,
        last,
    );
    assert!(!second.is_empty());
    assert!(second.iter().all(|e| e["shop_id"] == ann_second["id"]));
    let first = through(
        read_all(&app, &s.ann, &format!("&shop={}", id_of(&s.shop_a)), 500).await,
        last,
    );
    assert_eq!(first.len() + second.len(), anns.len());

    // Bob's feed is his own, and Ann cannot narrow to his shop.
    let bobs = read_when(&app, &s.bob, "", has("product.created")).await;
    let bobs_last = bobs.last().unwrap()["seq"].as_i64().unwrap();
    assert!(!bobs.is_empty());
    assert!(
        bobs.iter().all(|e| e["shop_id"] == s.shop_b["id"]),
        "{bobs:?}"
    );
    assert!(!serde_json::to_string(&bobs).unwrap().contains(&s.vase));
    let foreign = format!("/v1/events?shop={}", id_of(&s.shop_b));
    assert_error(get_as(&app, &s.ann, &foreign).await, 404, "not_found").await;
    assert_error(
        get_as(&app, &s.ann, "/v1/events?shop=shop_nope").await,
        404,
        "not_found",
    )
    .await;
    // Staff may read one shop's feed as the shop reads it.
    let as_bob = read_all(
        &app,
        &s.market.operator,
        &format!("&shop={}", id_of(&s.shop_b)),
        500,
    )
    .await;
    assert_eq!(through(as_bob, bobs_last), bobs);

    // A seller without shops reads an empty feed.
    let carol = signup(&app, "seller").await;
    let empty = json_of(get_as(&app, &carol, "/v1/events").await, 200).await;
    assert_eq!(empty["data"], json!([]));
    assert_eq!(empty["has_more"], false);
}

#[tokio::test]
async fn bad_parameters_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let op = operator(&app).await;
    for (query, param) in [
        ("after=-1", "after"),
        ("after=ten", "after"),
        ("after=1.5", "after"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=many", "limit"),
        ("types=order", "types"),
        ("types=orders.*", "types"),
        ("types=order.paid,nonsense", "types"),
        ("types=", "types"),
        ("types=webhook_endpoint.nope", "types"),
    ] {
        let response = get_as(&app, &op, &format!("/v1/events?{query}")).await;
        let error = assert_error(response, 422, "invalid_value").await;
        assert_eq!(error["param"], param, "{query}");
    }
    assert_error(
        get_as(&app, &op, "/v1/events?colour=red").await,
        400,
        "invalid_query",
    )
    .await;
    assert_error(app.get("/v1/events").await, 401, "unauthenticated").await;
    for limit in [1, 500] {
        json_of(
            get_as(&app, &op, &format!("/v1/events?limit={limit}")).await,
            200,
        )
        .await;
    }
}

#[tokio::test]
async fn the_purge_deletes_events_past_the_cutoff_and_oldest_seq_moves() {
    let app = TestApp::spawn().await;
    let op = operator(&app).await;
    let seller = signup(&app, "seller").await;
    let old_shop = active_shop(&app, &seller, "USD").await;
    let before = read_when(&app, &op, "", has("shop.activated")).await;
    assert_eq!(kinds(&before), ["shop.created", "shop.activated"]);
    let first_seq = before[0]["seq"].as_i64().unwrap();
    let cutoff = bazaar::db::now();
    let new_shop = active_shop(&app, &seller, "USD").await;
    let two_shops = |items: &[Value]| {
        items
            .iter()
            .any(|e| e["type"] == "shop.activated" && e["shop_id"] == new_shop["id"])
    };
    let all = read_when(&app, &op, "", two_shops).await;
    let newer: Vec<i64> = seqs(&all)
        .into_iter()
        .filter(|s| *s > before.last().unwrap()["seq"].as_i64().unwrap())
        .collect();
    assert!(!newer.is_empty());

    let pool = pool(&app);
    // A cutoff older than every event deletes nothing.
    let long_ago = cutoff - chrono::Duration::days(1);
    let deleted = bazaar::events::retention::purge_before(&pool, long_ago)
        .await
        .unwrap();
    assert_eq!(deleted, 0);
    let page = json_of(get_as(&app, &op, "/v1/events").await, 200).await;
    assert_eq!(page["oldest_seq"], first_seq);

    let deleted = bazaar::events::retention::purge_before(&pool, cutoff)
        .await
        .unwrap();
    assert_eq!(deleted, before.len());
    let page = json_of(get_as(&app, &op, "/v1/events?limit=500").await, 200).await;
    assert_eq!(page["oldest_seq"], newer[0]);
    assert_eq!(seqs(page["data"].as_array().unwrap()), newer);
    // The seller's views went with the events.
    let sellers = read_all(&app, &seller, "", 500).await;
    assert!(
        sellers.iter().all(|e| e["shop_id"] == new_shop["id"]),
        "{sellers:?}"
    );
    assert!(!serde_json::to_string(&sellers)
        .unwrap()
        .contains(id_of(&old_shop)));
}
