//! What a seller needs from the catalog and shop API: the shop's profile,
//! stock changed by a difference (racing checkouts), deleting or archiving a
//! product, searching and filtering the shop's list, and CSV import (all or
//! nothing, dry runs, idempotent re-imports). Every new endpoint answers 404
//! for another seller's shop or product and 403 for a buyer.

use crate::common;
use crate::orders_support;

use std::sync::Arc;

use common::people::{audit_rows, bearer, delete_as, get_as, operator, post_as, signup, Person};
use common::{assert_error, TestApp};
use orders_support::{
    active_shop, add_to_cart, checkout_body, checkout_ok, json_of, market, post_keyed, product,
    stock_of,
};
use serde_json::{json, Value};

async fn patch_as(app: &TestApp, person: &Person, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .patch(format!("{}{path}", app.address))
        .header("authorization", bearer(&person.token))
        .json(body)
        .send()
        .await
        .expect("request sent")
}

async fn post_csv(
    app: &TestApp,
    person: &Person,
    shop: &Value,
    query: &str,
    csv: impl Into<reqwest::Body>,
) -> reqwest::Response {
    app.client
        .post(format!(
            "{}/v1/shops/{}/products/import{query}",
            app.address,
            shop["id"].as_str().unwrap()
        ))
        .header("authorization", bearer(&person.token))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("request sent")
}

fn id_of(value: &Value) -> &str {
    value["id"].as_str().expect("an id")
}

/// The SKUs and stock of every product of the shop, as its seller lists them.
async fn listed(app: &TestApp, seller: &Person, shop: &Value, query: &str) -> Vec<Value> {
    let path = format!("/v1/shops/{}/products?limit=100{query}", id_of(shop));
    let page = json_of(get_as(app, seller, &path).await, 200).await;
    page["data"].as_array().unwrap().clone()
}

fn skus(products: &[Value]) -> Vec<String> {
    let mut skus: Vec<String> = products
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_owned())
        .collect();
    skus.sort();
    skus
}

async fn product_with(
    app: &TestApp,
    seller: &Person,
    shop: &Value,
    sku: &str,
    title: &str,
    stock: i64,
) -> Value {
    let body = json!({
        "sku": sku, "title": title, "description": format!("{title}, made by hand."),
        "price_minor": 1500, "currency": shop["default_currency"], "stock": stock,
        "category": "home-kitchen",
        "images": [{"url": "https://img.example.com/p.jpg", "alt": title}],
    });
    let path = format!("/v1/shops/{}/products", id_of(shop));
    json_of(post_as(app, seller, &path, &body).await, 201).await
}

#[tokio::test]
async fn a_seller_edits_the_shop_profile_and_buyers_see_it() {
    let app = TestApp::spawn().await;
    let ops = operator(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let path = format!("/v1/shops/{}", id_of(&shop));
    let body = json!({
        "name": "Forest Pottery",
        "description": "Mugs thrown by hand.\nFired twice.",
        "logo_url": "/media/forest-logo.webp",
        "support_email": "care@forest.example",
        "return_policy": "Returns within 30 days, unused.",
    });
    let profile = json_of(patch_as(&app, &seller, &path, &body).await, 200).await;
    assert_eq!(profile["name"], "Forest Pottery");
    assert_eq!(profile["description"], "Mugs thrown by hand.\nFired twice.");
    assert_eq!(profile["logo_url"], "/media/forest-logo.webp");
    assert_eq!(profile["support_email"], "care@forest.example");
    assert_eq!(profile["return_policy"], "Returns within 30 days, unused.");

    let public = json_of(
        app.get(&format!("/v1/shop_profiles/{}", id_of(&shop)))
            .await,
        200,
    )
    .await;
    assert_eq!(public["description"], "Mugs thrown by hand.\nFired twice.");
    assert_eq!(public["logo_url"], "/media/forest-logo.webp");
    assert_eq!(public["support_email"], "care@forest.example");
    assert_eq!(public["return_policy"], "Returns within 30 days, unused.");

    let page = app.get(&format!("/shops/{}", id_of(&shop))).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"alt="Forest Pottery logo""#), "{html}");
    assert!(html.contains("forest-logo.webp"), "{html}");
    assert!(html.contains("<p>Fired twice.</p>"), "{html}");
    assert!(html.contains("Returns within 30 days, unused."), "{html}");
    assert!(html.contains("care@forest.example"), "{html}");

    // An empty logo_url removes the logo; other fields stay.
    let cleared = json_of(
        patch_as(&app, &seller, &path, &json!({"logo_url": ""})).await,
        200,
    )
    .await;
    assert_eq!(cleared["logo_url"], Value::Null);
    assert_eq!(cleared["name"], "Forest Pottery");

    let audited = audit_rows(&app, &ops, "shop.profile_update").await;
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert_eq!(audited[0]["subject"], shop["id"]);
    assert_eq!(audited[0]["actor_user_id"], seller.user_id.as_str());
}

#[tokio::test]
async fn a_shop_profile_is_validated_field_by_field_and_only_its_owner_edits_it() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let path = format!("/v1/shops/{}", id_of(&shop));
    let long = "a".repeat(2001);
    for (body, param) in [
        (json!({"description": long}), "description"),
        (json!({"return_policy": long}), "return_policy"),
        (json!({"logo_url": "javascript:alert(1)"}), "logo_url"),
        (json!({"logo_url": "/media/../secret.webp"}), "logo_url"),
        (json!({"support_email": "not an email"}), "support_email"),
        (json!({"name": "  "}), "name"),
        (json!({"name": "Bell\u{7}"}), "name"),
    ] {
        let error = assert_error(
            patch_as(&app, &seller, &path, &body).await,
            422,
            "invalid_value",
        )
        .await;
        assert_eq!(error["param"], param, "{body}");
    }
    let fine = json!({"description": "a".repeat(2000)});
    json_of(patch_as(&app, &seller, &path, &fine).await, 200).await;

    let other = signup(&app, "seller").await;
    assert_error(
        patch_as(&app, &other, &path, &json!({"name": "Mine now"})).await,
        404,
        "not_found",
    )
    .await;
    let buyer = signup(&app, "buyer").await;
    assert_error(
        patch_as(&app, &buyer, &path, &json!({"name": "Mine now"})).await,
        403,
        "forbidden",
    )
    .await;
    let public = json_of(
        app.get(&format!("/v1/shop_profiles/{}", id_of(&shop)))
            .await,
        200,
    )
    .await;
    assert_eq!(
        public["name"], shop["name"],
        "refused changes changed nothing"
    );
}

#[tokio::test]
async fn stock_moves_by_a_difference_with_a_reason_and_never_below_zero() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let mug = product(&app, &seller, &shop, "Mug", 1200, 7).await;
    let path = format!("/v1/products/{mug}/stock_adjustments");

    let received = json_of(
        post_as(
            &app,
            &seller,
            &path,
            &json!({"delta": 5, "reason": "received", "note": "PO 12"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(received["stock"], 12);
    assert_eq!(received["adjustment"]["delta"], 5);
    assert_eq!(received["adjustment"]["reason"], "received");
    assert_eq!(received["adjustment"]["note"], "PO 12");
    assert_eq!(received["adjustment"]["stock_after"], 12);
    assert_eq!(
        received["adjustment"]["actor_user_id"],
        seller.user_id.as_str()
    );

    let damaged = json_of(
        post_as(
            &app,
            &seller,
            &path,
            &json!({"delta": -2, "reason": "damaged"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(damaged["stock"], 10);

    assert_error(
        post_as(
            &app,
            &seller,
            &path,
            &json!({"delta": -11, "reason": "lost"}),
        )
        .await,
        409,
        "insufficient_stock",
    )
    .await;
    assert_eq!(stock_of(&app, &seller, &shop, &mug).await, 10);
    // Down to exactly zero is fine.
    let emptied = json_of(
        post_as(
            &app,
            &seller,
            &path,
            &json!({"delta": -10, "reason": "recount"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(emptied["stock"], 0);

    for (body, param) in [
        (json!({"delta": 0, "reason": "received"}), "delta"),
        (json!({"delta": 1_000_001, "reason": "received"}), "delta"),
        (json!({"delta": -1_000_001, "reason": "received"}), "delta"),
        (json!({"delta": 1, "reason": "stolen"}), "reason"),
        (
            json!({"delta": 1, "reason": "other", "note": "n".repeat(201)}),
            "note",
        ),
    ] {
        let error = assert_error(
            post_as(&app, &seller, &path, &body).await,
            422,
            "invalid_value",
        )
        .await;
        assert_eq!(error["param"], param, "{body}");
    }

    let list = json_of(get_as(&app, &seller, &path).await, 200).await;
    let deltas: Vec<i64> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["delta"].as_i64().unwrap())
        .collect();
    assert_eq!(
        deltas,
        [-10, -2, 5],
        "newest first, refused ones not recorded"
    );

    let other = signup(&app, "seller").await;
    let body = json!({"delta": 1, "reason": "received"});
    assert_error(post_as(&app, &other, &path, &body).await, 404, "not_found").await;
    assert_error(get_as(&app, &other, &path).await, 404, "not_found").await;
    let buyer = signup(&app, "buyer").await;
    assert_error(post_as(&app, &buyer, &path, &body).await, 403, "forbidden").await;
    assert_error(get_as(&app, &buyer, &path).await, 403, "forbidden").await;
    assert_eq!(stock_of(&app, &seller, &shop, &mug).await, 0);
}

#[tokio::test]
async fn decreases_racing_checkouts_never_drive_stock_negative() {
    const UNITS: i64 = 6;
    const BUYERS: usize = 6;
    const DECREASES: usize = 6;
    let app = Arc::new(TestApp::spawn().await);
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let lamp = product(&app, &seller, &shop, "Lamp", 2500, UNITS).await;
    let mut buyers = vec![market.buyer.clone()];
    for _ in 1..BUYERS {
        buyers.push(signup(&app, "buyer").await);
    }
    for buyer in &buyers {
        add_to_cart(&app, buyer, &lamp, 1).await;
    }
    let mut checkouts = Vec::new();
    for buyer in buyers {
        let app = Arc::clone(&app);
        checkouts.push(tokio::spawn(async move {
            let response = post_keyed(
                &app,
                &buyer,
                "/v1/checkout",
                "race",
                &checkout_body(Some("pm_card_visa")),
            )
            .await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }));
    }
    let mut decreases = Vec::new();
    for _ in 0..DECREASES {
        let (app, seller, lamp) = (Arc::clone(&app), seller.clone(), lamp.clone());
        decreases.push(tokio::spawn(async move {
            let path = format!("/v1/products/{lamp}/stock_adjustments");
            let body = json!({"delta": -1, "reason": "damaged"});
            let response = post_as(&app, &seller, &path, &body).await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }));
    }
    let mut sold = 0;
    for checkout in checkouts {
        match checkout.await.unwrap() {
            (201, _) => sold += 1,
            (409, body) => assert_eq!(body["error"]["code"], "out_of_stock"),
            (status, body) => panic!("checkout answered {status}: {body}"),
        }
    }
    let mut taken = 0;
    for decrease in decreases {
        match decrease.await.unwrap() {
            (201, body) => {
                taken += 1;
                assert!(body["stock"].as_i64().unwrap() >= 0, "{body}");
            }
            (409, body) => assert_eq!(body["error"]["code"], "insufficient_stock"),
            (status, body) => panic!("adjustment answered {status}: {body}"),
        }
    }
    // 12 claims on 6 units: every unit went to exactly one of them.
    assert_eq!(sold + taken, UNITS, "sold {sold}, taken {taken}");
    assert_eq!(stock_of(&app, &seller, &shop, &lamp).await, 0);
    let path = format!("/v1/products/{lamp}/stock_adjustments");
    let list = json_of(get_as(&app, &seller, &path).await, 200).await;
    assert_eq!(list["data"].as_array().unwrap().len() as i64, taken);
}

#[tokio::test]
async fn an_unsold_product_is_deleted_and_leaves_carts_working() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let gone = product(&app, &seller, &shop, "Gone Vase", 3000, 4).await;
    let kept = product(&app, &seller, &shop, "Kept Bowl", 1800, 4).await;
    add_to_cart(&app, &market.buyer, &gone, 2).await;
    add_to_cart(&app, &market.buyer, &kept, 1).await;

    let other = signup(&app, "seller").await;
    let path = format!("/v1/products/{gone}");
    assert_error(delete_as(&app, &other, &path).await, 404, "not_found").await;
    assert_error(
        delete_as(&app, &market.buyer, &path).await,
        403,
        "forbidden",
    )
    .await;

    let answer = json_of(delete_as(&app, &seller, &path).await, 200).await;
    assert_eq!(answer, json!({"id": gone, "outcome": "deleted"}));
    assert_error(app.get(&path).await, 404, "not_found").await;
    assert!(listed(&app, &seller, &shop, "")
        .await
        .iter()
        .all(|p| p["id"] != gone.as_str()));
    assert_error(delete_as(&app, &seller, &path).await, 404, "not_found").await;

    let cart = json_of(get_as(&app, &market.buyer, "/v1/cart").await, 200).await;
    let lines = cart["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{cart}");
    assert_eq!(lines[0]["product_id"], kept.as_str());
    assert_eq!(cart["totals"][0]["minor"], 1800, "{cart}");
    let order = checkout_ok(&app, &market.buyer, "after-delete", Some("pm_card_visa")).await;
    assert_eq!(order["status"], "paid", "{order}");
}

#[tokio::test]
async fn a_sold_product_is_archived_and_unarchived_by_activating_it() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let sold = product(&app, &seller, &shop, "Sold Jug", 2200, 5).await;
    add_to_cart(&app, &market.buyer, &sold, 1).await;
    checkout_ok(&app, &market.buyer, "k", Some("pm_card_visa")).await;

    let path = format!("/v1/products/{sold}");
    let answer = json_of(delete_as(&app, &seller, &path).await, 200).await;
    assert_eq!(answer, json!({"id": sold, "outcome": "archived"}));
    assert_error(app.get(&path).await, 404, "not_found").await;
    let archived = listed(&app, &seller, &shop, "&status=archived").await;
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0]["id"], sold.as_str());
    assert_eq!(archived[0]["active"], false);
    let archived_at = archived[0]["archived_at"]
        .as_str()
        .expect("archived_at")
        .to_owned();
    // Archiving again keeps the first date.
    json_of(delete_as(&app, &seller, &path).await, 200).await;
    let again = listed(&app, &seller, &shop, "&status=archived").await;
    assert_eq!(again[0]["archived_at"], archived_at.as_str());

    let back = json_of(
        patch_as(&app, &seller, &path, &json!({"active": true})).await,
        200,
    )
    .await;
    assert_eq!(back["active"], true);
    assert_eq!(back["archived_at"], Value::Null);
    assert!(listed(&app, &seller, &shop, "&status=archived")
        .await
        .is_empty());
    json_of(app.get(&path).await, 200).await;
}

#[tokio::test]
async fn a_sellers_list_is_searched_by_title_or_sku_and_filtered_by_status() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    product_with(&app, &seller, &shop, "MUG-BLUE", "Blue Mug", 3).await;
    product_with(&app, &seller, &shop, "MUG-RED", "Red Mug", 0).await;
    product_with(&app, &seller, &shop, "PLT-100", "Dinner plate", 2).await;
    let off = product_with(&app, &seller, &shop, "OLD-1", "Old 100% mug", 0).await;
    json_of(
        delete_as(&app, &seller, &format!("/v1/products/{}", id_of(&off))).await,
        200,
    )
    .await; // never sold: deleted
    let sold_out_archived = product_with(&app, &seller, &shop, "ARC-1", "Archived cup", 1).await;
    // Archived through the same path a sold product takes.
    let market = market(&app).await;
    add_to_cart(&app, &market.buyer, id_of(&sold_out_archived), 1).await;
    checkout_ok(&app, &market.buyer, "k", Some("pm_card_visa")).await;
    json_of(
        delete_as(
            &app,
            &seller,
            &format!("/v1/products/{}", id_of(&sold_out_archived)),
        )
        .await,
        200,
    )
    .await;

    let cases: [(&str, &[&str]); 9] = [
        ("", &["ARC-1", "MUG-BLUE", "MUG-RED", "PLT-100"]),
        ("&q=mug", &["MUG-BLUE", "MUG-RED"]),
        ("&q=BLUE", &["MUG-BLUE"]),
        ("&q=plt-1", &["PLT-100"]),
        ("&q=100%25", &[]),
        ("&status=active", &["MUG-BLUE", "MUG-RED", "PLT-100"]),
        ("&status=out_of_stock", &["MUG-RED"]),
        ("&status=archived", &["ARC-1"]),
        ("&q=mug&status=out_of_stock", &["MUG-RED"]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            skus(&listed(&app, &seller, &shop, query).await),
            expected,
            "{query}"
        );
    }

    // Pages keep their cursor with the filters.
    let first_path = format!("/v1/shops/{}/products?q=mug&limit=1", id_of(&shop));
    let first = json_of(get_as(&app, &seller, &first_path).await, 200).await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let second = json_of(
        get_as(&app, &seller, &format!("{first_path}&cursor={cursor}")).await,
        200,
    )
    .await;
    assert_eq!(second["next_cursor"], Value::Null);
    let mut both = vec![first["data"][0].clone(), second["data"][0].clone()];
    both.sort_by_key(|p| p["sku"].as_str().unwrap().to_owned());
    assert_eq!(skus(&both), ["MUG-BLUE", "MUG-RED"]);

    let path = format!("/v1/shops/{}/products?status=sold", id_of(&shop));
    let error = assert_error(get_as(&app, &seller, &path).await, 422, "invalid_value").await;
    assert_eq!(error["param"], "status");
    let other = signup(&app, "seller").await;
    let path = format!("/v1/shops/{}/products?q=mug", id_of(&shop));
    assert_error(get_as(&app, &other, &path).await, 404, "not_found").await;
    assert_error(get_as(&app, &market.buyer, &path).await, 403, "forbidden").await;
}

const HEADER: &str =
    "sku,title,description,price_minor,currency,stock,category,image_url,image_alt\n";

#[tokio::test]
async fn a_csv_import_creates_updates_and_reimports_as_unchanged() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    product_with(&app, &seller, &shop, "MUG-1", "Blue Mug", 3).await;
    let csv = format!(
        "{HEADER}\
         MUG-1,Blue Mug,,1750,USD,9,,,\n\
         BOWL-1,\"Bowl, large\",\"Deep.\nGlazed.\",2400,USD,5,home-kitchen,https://img.example.com/b.jpg,A bowl\n\
         SUM-1,=SUM(1),,100,USD,1,home-kitchen,/media/sum.webp,'=HYPERLINK(x)\n"
    );

    let dry = json_of(
        post_csv(&app, &seller, &shop, "?dry_run=true", csv.clone()).await,
        200,
    )
    .await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        (
            dry["created"].as_i64(),
            dry["updated"].as_i64(),
            dry["unchanged"].as_i64()
        ),
        (Some(2), Some(1), Some(0))
    );
    assert_eq!(
        dry["lines"][0],
        json!({"line": 2, "sku": "MUG-1", "action": "update", "product_id": dry["lines"][0]["product_id"], "changes": ["price_minor", "stock"]})
    );
    assert_eq!(dry["lines"][1]["action"], "create");
    assert_eq!(dry["lines"][1]["line"], 3);
    assert_eq!(dry["lines"][1]["product_id"], Value::Null);
    // The quoted line break puts SUM-1 on line 5.
    assert_eq!(dry["lines"][2]["line"], 5);
    let before = listed(&app, &seller, &shop, "").await;
    assert_eq!(skus(&before), ["MUG-1"], "a dry run creates nothing");
    assert_eq!(before[0]["stock"], 3, "a dry run updates nothing");
    assert_eq!(before[0]["price"]["minor"], 1500);

    let done = json_of(post_csv(&app, &seller, &shop, "", csv.clone()).await, 200).await;
    assert_eq!(done["dry_run"], false);
    assert_eq!(
        (done["created"].as_i64(), done["updated"].as_i64()),
        (Some(2), Some(1))
    );
    let after = listed(&app, &seller, &shop, "").await;
    assert_eq!(skus(&after), ["BOWL-1", "MUG-1", "SUM-1"]);
    let by_sku = |sku: &str| after.iter().find(|p| p["sku"] == sku).unwrap().clone();
    assert_eq!(by_sku("MUG-1")["stock"], 9);
    assert_eq!(by_sku("MUG-1")["price"]["minor"], 1750);
    assert_eq!(by_sku("MUG-1")["title"], "Blue Mug");
    assert_eq!(by_sku("BOWL-1")["title"], "Bowl, large");
    assert_eq!(by_sku("BOWL-1")["description"], "Deep.\nGlazed.");
    assert_eq!(
        by_sku("BOWL-1")["images"],
        json!([{"url": "https://img.example.com/b.jpg", "alt": "A bowl"}])
    );
    // Stored as written; an export's neutralising quote is read back off.
    assert_eq!(by_sku("SUM-1")["title"], "=SUM(1)");
    assert_eq!(by_sku("SUM-1")["images"][0]["alt"], "=HYPERLINK(x)");
    assert_eq!(done["lines"][1]["product_id"], by_sku("BOWL-1")["id"]);

    let again = json_of(post_csv(&app, &seller, &shop, "", csv).await, 200).await;
    assert_eq!(
        (
            again["created"].as_i64(),
            again["updated"].as_i64(),
            again["unchanged"].as_i64()
        ),
        (Some(0), Some(0), Some(3))
    );
    for line in again["lines"].as_array().unwrap() {
        assert_eq!(line["action"], "unchanged", "{line}");
        assert_eq!(line["changes"], json!([]));
    }
    assert_eq!(
        listed(&app, &seller, &shop, "").await,
        after,
        "a re-import changes nothing"
    );
}

#[tokio::test]
async fn one_bad_line_stops_the_whole_import_and_is_named() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    product_with(&app, &seller, &shop, "MUG-1", "Blue Mug", 3).await;
    let csv = format!(
        "{HEADER}\
         NEW-1,New thing,,900,USD,2,home-kitchen,https://img.example.com/n.jpg,A thing\n\
         MUG-1,,,12.50,EUR,-1,,,\n\
         NEW-2,Another,,900,USD,2,home-kitchen,https://img.example.com/n.jpg,Another\n\
         NEW-3,,,,,,,,\n"
    );
    let rejected = assert_error(
        post_csv(&app, &seller, &shop, "", csv.clone()).await,
        422,
        "invalid_import",
    )
    .await;
    let errors = rejected["errors"].as_array().unwrap();
    let line3: Vec<&str> = errors
        .iter()
        .filter(|e| e["line"] == 3)
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(line3, ["price_minor", "currency", "stock"], "{rejected}");
    assert!(
        errors.iter().all(|e| e["line"] == 3 || e["line"] == 5),
        "{rejected}"
    );
    let line5: Vec<&str> = errors
        .iter()
        .filter(|e| e["line"] == 5)
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        line5.contains(&"title") && line5.contains(&"image_alt"),
        "{rejected}"
    );
    let after = listed(&app, &seller, &shop, "").await;
    assert_eq!(skus(&after), ["MUG-1"], "nothing was created");
    assert_eq!(after[0]["stock"], 3, "nothing was updated");
    // The same file with Windows line endings (as a browser's form sends
    // it), or old Mac ones, names the same lines.
    for ending in ["\r\n", "\r"] {
        let rejected = assert_error(
            post_csv(&app, &seller, &shop, "", csv.replace('\n', ending)).await,
            422,
            "invalid_import",
        )
        .await;
        let lines: Vec<&Value> = rejected["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["line"])
            .collect();
        let expected: Vec<&Value> = errors.iter().map(|e| &e["line"]).collect();
        assert_eq!(lines, expected, "{ending:?}: {rejected}");
    }

    // Shape errors: an unknown column, a short line, a SKU twice.
    let bad_header = "sku,colour\nMUG-1,red\n";
    let rejected = assert_error(
        post_csv(&app, &seller, &shop, "", bad_header).await,
        422,
        "invalid_import",
    )
    .await;
    assert_eq!(
        rejected["errors"][0],
        json!({"line": 1, "field": "colour", "message": rejected["errors"][0]["message"]})
    );
    let short = format!("{HEADER}MUG-1,Blue Mug\n");
    let rejected = assert_error(
        post_csv(&app, &seller, &shop, "", short).await,
        422,
        "invalid_import",
    )
    .await;
    assert_eq!(rejected["errors"][0]["line"], 2);
    let twice = "sku,stock\nMUG-1,4\nMUG-1,5\n";
    let rejected = assert_error(
        post_csv(&app, &seller, &shop, "", twice).await,
        422,
        "invalid_import",
    )
    .await;
    assert_eq!(rejected["errors"][0]["line"], 3);
    assert_eq!(rejected["errors"][0]["field"], "sku");
    assert_eq!(listed(&app, &seller, &shop, "").await[0]["stock"], 3);
}

#[tokio::test]
async fn imports_are_for_the_shops_owner_as_csv_within_limits() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let csv = format!(
        "{HEADER}NEW-1,New thing,,900,USD,2,home-kitchen,https://img.example.com/n.jpg,A thing\n"
    );
    let other = signup(&app, "seller").await;
    assert_error(
        post_csv(&app, &other, &shop, "", csv.clone()).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        post_csv(&app, &other, &shop, "?dry_run=true", csv.clone()).await,
        404,
        "not_found",
    )
    .await;
    let buyer = signup(&app, "buyer").await;
    assert_error(
        post_csv(&app, &buyer, &shop, "", csv.clone()).await,
        403,
        "forbidden",
    )
    .await;

    let as_json = app
        .client
        .post(format!(
            "{}/v1/shops/{}/products/import",
            app.address,
            id_of(&shop)
        ))
        .header("authorization", bearer(&seller.token))
        .header("content-type", "application/json")
        .body(csv.clone())
        .send()
        .await
        .unwrap();
    assert_error(as_json, 415, "unsupported_media_type").await;

    let mut huge = String::from(HEADER);
    while huge.len() <= 1024 * 1024 {
        huge.push_str(
            "NEW-1,New thing,,900,USD,2,home-kitchen,https://img.example.com/n.jpg,A thing\n",
        );
    }
    assert_error(
        post_csv(&app, &seller, &shop, "", huge).await,
        413,
        "body_too_large",
    )
    .await;
    let mut many = String::from("sku,stock\n");
    for i in 0..5001 {
        many.push_str(&format!("S-{i},1\n"));
    }
    assert_error(
        post_csv(&app, &seller, &shop, "", many).await,
        422,
        "too_many_lines",
    )
    .await;
    assert!(listed(&app, &seller, &shop, "").await.is_empty());
}
