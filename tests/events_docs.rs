//! `docs/events.md` tells the truth about events: every event type is
//! documented, and each example has the structure (the same keys,
//! recursively) of a real item of that type, produced here by a marketplace
//! scenario that makes every kind of event happen.
//!
//! `BAZAAR_WRITE_EVENT_DOCS=1 cargo test --test platform events_docs::` rewrites the
//! examples from the scenario's items (ids and times as produced).

use crate::common;
use crate::orders_support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use bazaar::events::types::EventType;
use common::people::{get_as, post_as, Person};
use common::TestApp;
use orders_support::*;
use serde_json::{json, Value};

const DOC: &str = "docs/events.md";
const WRITE_VAR: &str = "BAZAAR_WRITE_EVENT_DOCS";

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(DOC)
}

/// The types the feed can hold: every one but the webhook test ping.
fn feed_types() -> Vec<&'static str> {
    EventType::ALL
        .into_iter()
        .filter(|t| *t != EventType::EndpointTest)
        .map(EventType::as_str)
        .collect()
}

/// The heading a type's section starts with.
fn heading(kind: &str) -> String {
    format!("### `{kind}`")
}

/// Each documented type's example: the first ```json block after its heading
/// (`None` when the section has none).
fn examples(doc: &str) -> BTreeMap<String, Option<Value>> {
    let mut found = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut block: Option<String> = None;
    for line in doc.lines() {
        if let Some(text) = block.as_mut() {
            if line.trim() == "```" {
                let kind = current.take().expect("a block inside a section");
                let example = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("{DOC}: the example of {kind} is not JSON: {e}"));
                found.insert(kind, Some(example));
                block = None;
            } else {
                text.push_str(line);
                text.push('\n');
            }
            continue;
        }
        if let Some(kind) = line
            .strip_prefix("### `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            found.insert(kind.to_owned(), None);
            current = Some(kind.to_owned());
        } else if line.starts_with("## ") {
            current = None;
        } else if line.trim() == "```json" && current.is_some() {
            block = Some(String::new());
        }
    }
    found
}

/// Where `example` and `real` differ in structure: an object's keys, or the
/// kind of a value where both are objects or arrays (array items are compared
/// with the real array's first item). Scalars and `null` may differ.
fn differences(path: &str, example: &Value, real: &Value, out: &mut Vec<String>) {
    match (example, real) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().filter(|k| !b.contains_key(*k)) {
                out.push(format!("{path}.{key}: documented, not sent"));
            }
            for key in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{key}: sent, not documented"));
            }
            for (key, value) in a {
                if let Some(other) = b.get(key) {
                    differences(&format!("{path}.{key}"), value, other, out);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if let Some(first) = b.first() {
                for (i, item) in a.iter().enumerate() {
                    differences(&format!("{path}[{i}]"), item, first, out);
                }
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => {
            out.push(format!("{path}: documented {example}, sent {real}"));
        }
        _ => {}
    }
}

/// `doc` with each type's example replaced by `items[type]`.
fn rewritten(doc: &str, items: &BTreeMap<String, Value>) -> String {
    let mut out = String::with_capacity(doc.len());
    let mut current: Option<String> = None;
    let mut skipping = false;
    for line in doc.lines() {
        if skipping {
            if line.trim() == "```" {
                skipping = false;
                out.push_str("```\n");
            }
            continue;
        }
        if let Some(kind) = line
            .strip_prefix("### `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            current = Some(kind.to_owned());
        }
        out.push_str(line);
        out.push('\n');
        if line.trim() == "```json" {
            if let Some(item) = current.take().and_then(|k| items.get(&k)) {
                out.push_str(&serde_json::to_string_pretty(item).unwrap());
                out.push('\n');
                skipping = true;
            }
        }
    }
    out
}

#[test]
fn every_event_type_has_a_section_with_an_example() {
    let doc = std::fs::read_to_string(doc_path()).expect(DOC);
    let found = examples(&doc);
    for kind in feed_types() {
        assert!(
            matches!(found.get(kind), Some(Some(_))),
            "{DOC} has no `{}` section with a ```json example",
            heading(kind)
        );
    }
    for kind in found.keys() {
        assert!(
            EventType::parse(kind).is_some_and(|t| t != EventType::EndpointTest),
            "{DOC} documents `{kind}`, which the feed never holds"
        );
    }
    // The test ping is named (its section lives with the webhooks).
    assert!(doc.contains("webhook_endpoint.test"));
}

/// Every item of the staff feed.
async fn staff_feed(app: &TestApp, operator: &Person) -> Vec<Value> {
    let mut after = 0;
    let mut items = Vec::new();
    loop {
        let page = json_of(
            get_as(
                app,
                operator,
                &format!("/v1/events?after={after}&limit=500"),
            )
            .await,
            200,
        )
        .await;
        items.extend(page["data"].as_array().unwrap().iter().cloned());
        after = page["next_after"].as_i64().unwrap();
        if page["has_more"] != true {
            return items;
        }
    }
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

fn part_of<'a>(order: &'a Value, shop: &Value) -> &'a Value {
    order["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["shop_id"] == shop["id"])
        .expect("a part per shop")
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON");
    assert!((200..300).contains(&status), "{status}: {body}");
    body
}

/// A marketplace story in which every kind of event happens at least once;
/// returns the staff feed once it holds them all (or after a while, for the
/// assertions to name what is missing).
async fn every_kind_of_event(app: &TestApp) -> Vec<Value> {
    let market = market(app).await;
    let buyer = &market.buyer;
    // Payouts: one paid, one failed (shops, products, a paid order on the way).
    let two = a_vase_and_a_bowl_paid_out(app, &market).await;
    // A payout that fails may leave Bob's shop unable to sell: the order
    // below buys from Ann and a third seller.
    let (ann, shop_a) = (&two.ann, &two.shop_a);
    let bob = &common::people::signup(app, "seller").await;
    let shop_b = &active_shop(app, bob, "USD").await;

    // Products: edited, and stock set to nothing.
    let mug = product(app, ann, shop_a, "Blue Mug", 1250, 10).await;
    let book = product(app, bob, shop_b, "Field Guide", 1999, 10).await;
    let spare = product(app, ann, shop_a, "Spare Lid", 300, 2).await;
    let patch = |id: &str, body: Value| {
        let path = format!("/v1/products/{id}");
        let client = app.client.clone();
        let url = format!("{}{path}", app.address);
        let token = ann.token.clone();
        async move {
            client
                .patch(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("sent")
        }
    };
    ok(patch(&mug, json!({"title": "Blue Mug, large"})).await).await;
    ok(patch(&spare, json!({"stock": 0})).await).await;

    // A paid order of both shops: refunded in part, Bob's part cancelled,
    // Ann's shipped, delivered and returned (one return refused, one taken).
    add_to_cart(app, buyer, &mug, 2).await;
    add_to_cart(app, buyer, &book, 1).await;
    let order = checkout_ok(app, buyer, "docs-paid", Some("pm_card_visa")).await;
    let order_id = id_of(&order);
    let support = common::people::staff(app, &market.operator, "support").await;
    let refund = json!({"part_id": part_of(&order, shop_a)["id"], "amount_minor": 100});
    ok(post_keyed(
        app,
        &support,
        &format!("/v1/orders/{order_id}/refunds"),
        "r",
        &refund,
    )
    .await)
    .await;
    let part_path = |shop: &Value, what: &str| {
        format!(
            "/v1/orders/{order_id}/parts/{}/{what}",
            part_of(&order, shop)["id"].as_str().unwrap()
        )
    };
    ok(post_as(
        app,
        bob,
        &part_path(shop_b, "cancel"),
        &json!({"reason": "out of stock"}),
    )
    .await)
    .await;
    let parcel = json!({"carrier": "UPS", "tracking_number": "1Z100"});
    ok(post_as(app, ann, &part_path(shop_a, "shipments"), &parcel).await).await;
    ok(post_as(app, buyer, &part_path(shop_a, "delivered"), &json!({})).await).await;
    let mug_line = part_of(&order, shop_a)["lines"][0]["id"].clone();
    let ask = || async {
        let body =
            json!({"lines": [{"line_id": mug_line, "quantity": 1}], "reason": "not as pictured"});
        let key = uuid::Uuid::new_v4().to_string();
        ok(post_keyed(
            app,
            buyer,
            &format!("/v1/orders/{order_id}/returns"),
            &key,
            &body,
        )
        .await)
        .await
    };
    let step = |id: String, who: &'static str, what: &'static str, body: Value| {
        let person = if who == "buyer" { buyer } else { ann };
        async move { ok(post_as(app, person, &format!("/v1/returns/{id}/{what}"), &body).await).await }
    };
    let refused = id_of(&ask().await);
    step(refused, "seller", "refuse", json!({"reason": "used"})).await;
    let kept = id_of(&ask().await);
    step(
        kept.clone(),
        "seller",
        "approve",
        json!({"return_address": "2 Dock Rd, Portland"}),
    )
    .await;
    step(
        kept.clone(),
        "buyer",
        "tracking",
        json!({"carrier": "USPS", "tracking_number": "RET-1"}),
    )
    .await;
    step(kept, "seller", "receive", json!({"restock": true})).await;

    // An order nobody pays, expired by the sweep.
    add_to_cart(app, buyer, &mug, 1).await;
    checkout_ok(app, buyer, "docs-unpaid", None).await;
    let ttl = i64::try_from(app.settings.orders.unpaid_ttl.as_secs()).unwrap();
    sweep(app, ttl + 60).await;

    // A disputed order, then the dispute won.
    add_to_cart(app, buyer, &mug, 1).await;
    checkout_ok(app, buyer, "docs-dispute", Some("pm_card_createDispute")).await;
    let dispute = disputes_opened(app).await.remove(0);
    let dispute_id = dispute["id"].as_str().unwrap();
    let sync = format!("/v1/disputes/{dispute_id}/sync");
    ok(post_as(app, &support, &sync, &json!({})).await).await;
    app.sandbox_post(
        &format!("/v1/disputes/{dispute_id}"),
        &[("evidence[uncategorized_text]", "winning_evidence")],
    )
    .await;
    ok(post_as(app, &support, &sync, &json!({})).await).await;

    // Shops: Bob's frozen and unfrozen, Ann's restricted by the provider.
    let op = &market.operator;
    let freeze = format!("/v1/shops/{}/freeze", id_of(shop_b));
    ok(post_as(app, op, &freeze, &json!({"reason": "fraud review"})).await).await;
    let unfreeze = format!("/v1/shops/{}/unfreeze", id_of(shop_b));
    ok(post_as(app, op, &unfreeze, &json!({})).await).await;
    let account = shop_a["provider_account_id"].as_str().unwrap();
    app.sandbox_post(
        &format!("/v1/test_helpers/accounts/{account}/restrict"),
        &[],
    )
    .await;
    ok(post_as(
        app,
        ann,
        &format!("/v1/shops/{}/sync", id_of(shop_a)),
        &json!({}),
    )
    .await)
    .await;

    let mut items = staff_feed(app, op).await;
    for _ in 0..200 {
        let all_there = feed_types()
            .into_iter()
            .all(|kind| items.iter().any(|e| e["type"] == kind));
        if all_there {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        items = staff_feed(app, op).await;
    }
    items
}

#[tokio::test]
async fn each_documented_example_has_the_structure_of_a_real_event() {
    let app = TestApp::spawn().await;
    let items = every_kind_of_event(&app).await;
    let mut first_of: BTreeMap<String, Value> = BTreeMap::new();
    for item in items {
        let kind = item["type"].as_str().unwrap().to_owned();
        first_of.entry(kind).or_insert(item);
    }
    let missing: Vec<&str> = feed_types()
        .into_iter()
        .filter(|kind| !first_of.contains_key(*kind))
        .collect();
    assert!(
        missing.is_empty(),
        "the scenario produced no {missing:?}; it produced {:?}",
        first_of.keys().collect::<Vec<_>>()
    );

    let doc = std::fs::read_to_string(doc_path()).expect(DOC);
    if std::env::var(WRITE_VAR).is_ok_and(|v| v == "1") {
        std::fs::write(doc_path(), rewritten(&doc, &first_of)).expect("docs written");
        return;
    }
    let documented = examples(&doc);
    let mut problems = Vec::new();
    for (kind, real) in &first_of {
        match documented.get(kind) {
            Some(Some(example)) => {
                let mut found = Vec::new();
                differences(kind, example, real, &mut found);
                problems.extend(found);
            }
            _ => problems.push(format!("{kind}: no example in {DOC}")),
        }
    }
    assert!(
        problems.is_empty(),
        "{DOC} differs from the events sent (run with {WRITE_VAR}=1 to rewrite the examples):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_structure_check_finds_a_missing_or_extra_key_at_any_depth() {
    let real = json!({"a": 1, "b": {"c": [{"d": 1, "e": null}]}, "f": null});
    let mut found = Vec::new();
    differences(
        "t",
        &json!({"a": 2, "b": {"c": [{"d": 5, "e": "x"}]}, "f": {"g": 1}}),
        &real,
        &mut found,
    );
    assert!(found.is_empty(), "{found:?}");
    differences(
        "t",
        &json!({"a": 2, "b": {"c": [{"d": 5}]}, "f": null, "z": 0}),
        &real,
        &mut found,
    );
    assert_eq!(
        found,
        [
            "t.z: documented, not sent",
            "t.b.c[0].e: sent, not documented"
        ]
    );
}
