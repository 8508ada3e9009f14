//! The seller hears, by email and in the workspace's list, of what takes
//! money back from its share and of a part to ship soon: a refund (the share
//! it costs the seller), a dispute opened (what it takes) and decided (won:
//! given back; lost: kept by the buyer), each once however often it is
//! applied; a part's ship-by date within `orders.ship_soon_hours`, once over
//! two sweeps and never for a shipped part. The list is the owner's only
//! (another seller gets 404 on the API and the page), newest first, and
//! marking read works from the API and the page. Every amount is computed
//! here from the prices and the market's fee rule.

use crate::common;
use crate::orders_support;
use crate::web_support;

use common::people::{get_as, post_as, signup, Person};
use common::TestApp;
use orders_support::*;
use serde_json::{json, Value};
use web_support::signed_in;

/// An amount as the emails write it: major units and the code.
fn usd(minor: i64) -> String {
    assert!(minor >= 0);
    format!("{}.{:02} USD", minor / 100, minor % 100)
}

async fn without_workers() -> TestApp {
    TestApp::spawn_with(&[("BAZAAR__JOBS__WORKERS", "0")], |_| {}).await
}

/// Every outbox row to `to` made from `template`.
async fn emails(app: &TestApp, operator: &Person, to: &str, template: &str) -> Vec<Value> {
    let path = format!("/v1/emails?limit=100&to={}", urlencode(to));
    json_of(get_as(app, operator, &path).await, 200).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["template"] == template)
        .cloned()
        .collect()
}

fn urlencode(value: &str) -> String {
    value.replace('+', "%2B").replace('@', "%40")
}

/// The one email to `to` from `template`, asserting there is exactly one.
async fn only_email(app: &TestApp, operator: &Person, to: &str, template: &str) -> Value {
    let found = emails(app, operator, to, template).await;
    assert_eq!(found.len(), 1, "one {template} to {to}: {found:?}");
    found.into_iter().next().unwrap()
}

fn part_of<'a>(order: &'a Value, shop: &Value) -> &'a Value {
    order["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["shop_id"] == shop["id"])
        .expect("a part per shop")
}

async fn notices(app: &TestApp, seller: &Person, shop: &Value, query: &str) -> Value {
    let path = format!("/v1/shops/{}/notices{query}", shop["id"].as_str().unwrap());
    json_of(get_as(app, seller, &path).await, 200).await
}

fn kinds(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn refunds_and_disputes_tell_the_seller_once_what_they_take_and_the_list_shows_it() {
    let app = without_workers().await;
    let market = market(&app).await;
    let (ann, bob) = (signup(&app, "seller").await, signup(&app, "seller").await);
    let shop_a = active_shop(&app, &ann, "USD").await;
    let shop_b = active_shop(&app, &bob, "USD").await;
    let support = common::people::staff(&app, &market.operator, "support").await;

    // A refund of one of two vases: Ann gives back her share of it.
    let vase = product(&app, &ann, &shop_a, "Vase", 3000, 10).await;
    add_to_cart(&app, &market.buyer, &vase, 2).await;
    let sale = checkout_ok(&app, &market.buyer, "sale", Some("pm_card_visa")).await;
    let sale_id = sale["id"].as_str().unwrap().to_owned();
    let line = &part_of(&sale, &shop_a)["lines"][0];
    let refunds = format!("/v1/orders/{sale_id}/refunds");
    let body = json!({"lines": [{"line_id": line["id"], "quantity": 1}]});
    let refund = json_of(post_keyed(&app, &support, &refunds, "r1", &body).await, 201).await;
    assert_eq!(refund["status"], "succeeded", "{refund}");
    let refund_id = refund["id"].as_str().unwrap().to_owned();
    let share = proportion(3000, 6000 - market_fee(6000), 6000);
    let email = only_email(&app, &market.operator, &ann.email, "seller_refund").await;
    assert_eq!(
        email["subject"],
        format!(
            "A refund on order {sale_id} takes {} from {}",
            usd(share),
            shop_a["name"].as_str().unwrap()
        )
    );
    assert_eq!(
        email["cause"],
        format!(
            "seller_refund:{refund_id}:{}",
            part_of(&sale, &shop_a)["id"].as_str().unwrap()
        )
    );
    assert!(emails(&app, &market.operator, &bob.email, "seller_refund")
        .await
        .is_empty());

    // A two-shop order disputed whole: each seller gives back all it got.
    let mug = product(&app, &ann, &shop_a, "Blue Mug", 1250, 10).await;
    let book = product(&app, &bob, &shop_b, "Field Guide", 1999, 10).await;
    add_to_cart(&app, &market.buyer, &mug, 1).await;
    add_to_cart(&app, &market.buyer, &book, 1).await;
    let disputed = checkout_ok(&app, &market.buyer, "d1", Some("pm_card_createDispute")).await;
    let disputed_id = disputed["id"].as_str().unwrap().to_owned();
    let dispute = disputes_opened(&app).await.remove(0);
    let dispute_id = dispute["id"].as_str().unwrap().to_owned();
    let sync = format!("/v1/disputes/{dispute_id}/sync");
    for _ in 0..2 {
        json_of(post_as(&app, &support, &sync, &json!({})).await, 200).await;
    }
    let (taken_a, taken_b) = (1250 - market_fee(1250), 1999 - market_fee(1999));
    for (seller, shop, taken) in [(&ann, &shop_a, taken_a), (&bob, &shop_b, taken_b)] {
        let email = only_email(&app, &market.operator, &seller.email, "dispute_opened").await;
        assert_eq!(
            email["subject"],
            format!(
                "A dispute on order {disputed_id} takes {} from {}",
                usd(taken),
                shop["name"].as_str().unwrap()
            )
        );
        assert!(
            emails(&app, &market.operator, &seller.email, "dispute_closed")
                .await
                .is_empty()
        );
    }

    // Won: each seller hears once that its share comes back.
    app.sandbox_post(
        &format!("/v1/disputes/{dispute_id}"),
        &[("evidence[uncategorized_text]", "winning_evidence")],
    )
    .await;
    for _ in 0..2 {
        json_of(post_as(&app, &support, &sync, &json!({})).await, 200).await;
    }
    for seller in [&ann, &bob] {
        let email = only_email(&app, &market.operator, &seller.email, "dispute_closed").await;
        assert_eq!(
            email["subject"],
            format!("The dispute on order {disputed_id} was won")
        );
        assert_eq!(
            emails(&app, &market.operator, &seller.email, "dispute_opened")
                .await
                .len(),
            1
        );
    }

    // Another dispute, lost (seen only once decided): opened and lost, once each.
    let lamp = product(&app, &ann, &shop_a, "Lamp", 4500, 10).await;
    add_to_cart(&app, &market.buyer, &lamp, 1).await;
    let lost = checkout_ok(&app, &market.buyer, "d2", Some("pm_card_createDispute")).await;
    let lost_id = lost["id"].as_str().unwrap().to_owned();
    let second = disputes_opened(&app)
        .await
        .into_iter()
        .find(|d| d["id"] != dispute["id"])
        .expect("a second dispute");
    let second_id = second["id"].as_str().unwrap().to_owned();
    app.sandbox_post(
        &format!("/v1/disputes/{second_id}"),
        &[("evidence[uncategorized_text]", "losing_evidence")],
    )
    .await;
    let sync = format!("/v1/disputes/{second_id}/sync");
    for _ in 0..2 {
        json_of(post_as(&app, &support, &sync, &json!({})).await, 200).await;
    }
    let closed = emails(&app, &market.operator, &ann.email, "dispute_closed").await;
    let lost_email: Vec<&Value> = closed
        .iter()
        .filter(|e| e["subject"] == format!("The dispute on order {lost_id} was lost"))
        .collect();
    assert_eq!(lost_email.len(), 1, "{closed:?}");
    let opened = emails(&app, &market.operator, &ann.email, "dispute_opened").await;
    let taken_lamp = 4500 - market_fee(4500);
    assert!(
        opened.iter().any(|e| e["subject"]
            == format!(
                "A dispute on order {lost_id} takes {} from {}",
                usd(taken_lamp),
                shop_a["name"].as_str().unwrap()
            )),
        "{opened:?}"
    );
    assert_eq!(opened.len(), 2, "{opened:?}");

    // The list: every event above, newest first, all unread.
    let page = notices(&app, &ann, &shop_a, "").await;
    assert_eq!(
        kinds(&page),
        [
            "dispute_closed",
            "dispute_opened",
            "seller_new_order",
            "dispute_closed",
            "dispute_opened",
            "seller_new_order",
            "seller_refund",
            "seller_new_order",
        ],
        "{page}"
    );
    assert_eq!(page["unread"], 8);
    let refund_notice = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "seller_refund")
        .unwrap()
        .clone();
    assert_eq!(
        refund_notice["body"],
        format!(
            "Refund of {} on order {sale_id}: {} comes out of your share.",
            usd(3000),
            usd(share)
        )
    );
    assert_eq!(
        refund_notice["link_path"],
        format!(
            "/seller/shops/{}/orders/{sale_id}",
            shop_a["id"].as_str().unwrap()
        )
    );
    assert_eq!(refund_notice["read_at"], Value::Null);
    // Pages by cursor.
    let first = notices(&app, &ann, &shop_a, "?limit=3").await;
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let rest = notices(&app, &ann, &shop_a, &format!("?limit=100&before={cursor}")).await;
    assert_eq!(kinds(&rest), kinds(&page)[3..].to_vec());
    assert_eq!(rest["next_cursor"], Value::Null);
    // Bob's list has his own three; Ann's shop is a 404 for him, on the API
    // and on the page.
    assert_eq!(
        kinds(&notices(&app, &bob, &shop_b, "").await),
        ["dispute_closed", "dispute_opened", "seller_new_order"]
    );
    let ann_shop = shop_a["id"].as_str().unwrap();
    let path = format!("/v1/shops/{ann_shop}/notices");
    common::assert_error(get_as(&app, &bob, &path).await, 404, "not_found").await;
    common::assert_error(
        post_as(
            &app,
            &bob,
            &format!("/v1/shops/{ann_shop}/notices/read"),
            &json!({}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let mut bobs = signed_in(&app, &bob).await;
    let here = format!("/seller/shops/{ann_shop}/notifications");
    assert_eq!(bobs.get(&here).await.status, 404);

    // Marking one read by id, from the API; the filter leaves it out.
    let body = json!({"ids": [refund_notice["id"]]});
    let read_path = format!("/v1/shops/{ann_shop}/notices/read");
    let read = json_of(post_as(&app, &ann, &read_path, &body).await, 200).await;
    assert_eq!(
        (read["marked_read"].as_i64(), read["unread"].as_i64()),
        (Some(1), Some(7))
    );
    let unread = notices(&app, &ann, &shop_a, "?unread=true").await;
    assert_eq!(unread["data"].as_array().unwrap().len(), 7);
    assert!(!kinds(&unread).contains(&"seller_refund".to_owned()));

    // The page: the owner sees each notice, unread ones said in words, the
    // tab with the count, and marks all read with the form.
    let mut browser = signed_in(&app, &ann).await;
    let shown = browser.get(&here).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    let text = web_support::strip_tags(&shown.body);
    assert!(text.contains("Notifications (7 unread)"), "{text}");
    assert!(
        text.contains(&format!("The dispute on order {lost_id} was lost")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "A refund on order {sale_id} takes {} from",
            usd(share)
        )),
        "{text}"
    );
    assert_eq!(
        shown
            .body
            .matches("<strong class=\"tag\">Unread</strong>")
            .count(),
        7
    );
    assert!(shown.body.contains(&format!(
        "href=\"/seller/shops/{ann_shop}/orders/{disputed_id}\""
    )));
    let done = browser.submit(&here, &format!("{here}/read"), &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), format!("{here}?done=read"));
    let after = browser.get(&format!("{here}?done=read")).await;
    assert!(
        after.shows("All notifications are marked as read."),
        "{}",
        after.body
    );
    assert!(web_support::strip_tags(&after.body).contains("0 unread notifications."));
    assert!(!after.body.contains("class=\"tag\">Unread"));
    assert_eq!(notices(&app, &ann, &shop_a, "").await["unread"], 0);
    // A form without the page's token changes nothing.
    let forged = browser.post(&format!("{here}/read"), &[]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
}

#[tokio::test]
async fn a_part_due_to_ship_soon_is_reminded_once_and_a_shipped_one_never() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let (ann, bob) = (signup(&app, "seller").await, signup(&app, "seller").await);
    let shop_a = active_shop(&app, &ann, "USD").await;
    let shop_b = active_shop(&app, &bob, "USD").await;
    let mug = product(&app, &ann, &shop_a, "Blue Mug", 1250, 10).await;
    let book = product(&app, &bob, &shop_b, "Field Guide", 1999, 10).await;
    add_to_cart(&app, &market.buyer, &mug, 1).await;
    add_to_cart(&app, &market.buyer, &book, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_visa")).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    // Bob ships at once; Ann waits.
    let bob_part = part_of(&order, &shop_b)["id"].as_str().unwrap().to_owned();
    json_of(
        post_as(
            &app,
            &bob,
            &format!("/v1/orders/{order_id}/parts/{bob_part}/shipments"),
            &json!({"carrier": "UPS", "tracking_number": "1Z1"}),
        )
        .await,
        201,
    )
    .await;
    let view = staff_view(&app, &order_id).await;
    let ship_by = part_of(&view, &shop_a)["fulfilment"]["ship_by"]
        .as_str()
        .unwrap()
        .to_owned();
    let ship_by = chrono::DateTime::parse_from_rfc3339(&ship_by)
        .unwrap()
        .naive_utc();

    let pool = common::people::pool(&app);
    let window = chrono::Duration::hours(24);
    let sweep_at = |now: chrono::NaiveDateTime| {
        let pool = pool.clone();
        let provider = std::sync::Arc::clone(&app.provider);
        async move {
            let report =
                bazaar::fulfilment::sweep::sweep_once_with(&pool, provider.as_ref(), now, window)
                    .await;
            assert_eq!(report.errors, 0, "{report:?}");
            report.parts_reminded
        }
    };
    // A day and a minute before: not yet.
    let early = ship_by - window - chrono::Duration::minutes(1);
    assert_eq!(sweep_at(early).await, 0);
    assert!(emails(&app, &market.operator, &ann.email, "part_ship_soon")
        .await
        .is_empty());
    // Twelve hours before, twice: one reminder, to Ann only.
    let soon = ship_by - chrono::Duration::hours(12);
    assert_eq!((sweep_at(soon).await, sweep_at(soon).await), (1, 0));
    let email = only_email(&app, &market.operator, &ann.email, "part_ship_soon").await;
    assert_eq!(
        email["subject"],
        format!(
            "Order {order_id} for {} must ship by {}",
            shop_a["name"].as_str().unwrap(),
            ship_by.format("%Y-%m-%d %H:%M UTC")
        )
    );
    assert!(emails(&app, &market.operator, &bob.email, "part_ship_soon")
        .await
        .is_empty());
    let page = notices(&app, &ann, &shop_a, "?unread=true").await;
    assert_eq!(
        kinds(&page),
        ["part_ship_soon", "seller_new_order"],
        "{page}"
    );
    assert_eq!(
        kinds(&notices(&app, &bob, &shop_b, "").await),
        ["seller_new_order"]
    );
}
