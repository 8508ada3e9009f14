//! The Orders section of the seller workspace, over HTTP against the real
//! app and the sandbox: a seller ships from the page (whole and partial
//! parcels) and the buyer's API sees the tracking; bad forms come back with
//! the field's error and nothing stored; another seller's ids are 404 pages
//! and their forms change nothing; the part page's money is the JSON's.

use crate::common;
use crate::orders_support;
use crate::web_support;

use serde_json::{json, Value};

use common::people::{get_as, post_as, signup, Person};
use common::TestApp;
use orders_support::{
    active_shop, add_to_cart, checkout_ok, json_of, market, post_keyed, product, staff_view,
};
use web_support::{signed_in, Browser, Page};

/// A paid order of `quantity` mugs from a fresh seller's shop.
struct Sale {
    seller: Person,
    shop_id: String,
    order_id: String,
    part_id: String,
    line_id: String,
}

async fn sale(app: &TestApp, buyer: &Person, quantity: i64) -> Sale {
    let seller = signup(app, "seller").await;
    let shop = active_shop(app, &seller, "USD").await;
    let mug = product(app, &seller, &shop, "Stoneware Mug", 1250, 10).await;
    add_to_cart(app, buyer, &mug, quantity).await;
    let key = uuid::Uuid::new_v4().to_string();
    let order = checkout_ok(app, buyer, &key, Some("pm_card_visa")).await;
    assert_eq!(order["status"], "paid");
    let part = &order["parts"][0];
    Sale {
        shop_id: shop["id"].as_str().unwrap().to_owned(),
        order_id: order["id"].as_str().unwrap().to_owned(),
        part_id: part["id"].as_str().unwrap().to_owned(),
        line_id: part["lines"][0]["id"].as_str().unwrap().to_owned(),
        seller,
    }
}

/// Opens returns at the shop (30 days) and has the buyer ask to return one
/// unit of the sale, which must be delivered; returns the return's id.
async fn asked_return(app: &TestApp, buyer: &Person, sale: &Sale) -> String {
    let policy = json!({
        "rates": [{"destination": "US", "currency": "USD", "first_item_minor": 0, "additional_item_minor": 0, "handling_days": 2}],
        "returns": {"window_days": 30, "refunds_shipping": false},
    });
    let response = app
        .client
        .put(format!(
            "{}/v1/shops/{}/shipping",
            app.address, sale.shop_id
        ))
        .header("authorization", format!("Bearer {}", sale.seller.token))
        .json(&policy)
        .send()
        .await
        .unwrap();
    json_of(response, 200).await;
    let asked = json_of(
        post_keyed(
            app,
            buyer,
            &format!("/v1/orders/{}/returns", sale.order_id),
            &uuid::Uuid::new_v4().to_string(),
            &json!({"lines": [{"line_id": sale.line_id, "quantity": 1}], "reason": "too small"}),
        )
        .await,
        201,
    )
    .await;
    asked["id"].as_str().unwrap().to_owned()
}

fn part_page(sale: &Sale) -> String {
    format!("/seller/shops/{}/orders/{}", sale.shop_id, sale.order_id)
}

/// The buyer's parcels of the order, through the API.
async fn parcels(app: &TestApp, buyer: &Person, order_id: &str) -> Vec<Value> {
    let body = json_of(
        get_as(app, buyer, &format!("/v1/orders/{order_id}/shipments")).await,
        200,
    )
    .await;
    body["data"].as_array().unwrap().clone()
}

fn assert_not_found_page(page: &Page, what: &str) {
    assert_eq!(page.status, 404, "{what}: {}", page.body);
    assert!(
        page.header("content-type").starts_with("text/html"),
        "{what} is a page"
    );
}

#[tokio::test]
async fn a_seller_ships_from_the_page_and_the_buyer_sees_the_tracking() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let sale = sale(&app, &market.buyer, 3).await;
    let mut browser = signed_in(&app, &sale.seller).await;

    // The list shows the part, to ship, with the buyer's first name only.
    let list_path = format!("/seller/shops/{}/orders", sale.shop_id);
    let list = browser.get(&list_path).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.shows(&sale.order_id));
    assert!(list.shows("<td>Ann</td>"), "{}", list.body);
    assert!(!list.shows(&market.buyer.email));
    assert!(list.shows("To ship"));
    assert!(list.shows("<label for=\"status\">"));
    let shipped_only = browser.get(&format!("{list_path}?status=shipped")).await;
    assert_eq!(shipped_only.status, 200);
    assert!(!shipped_only.shows(&sale.order_id), "the filter applies");
    let unfulfilled = browser
        .get(&format!("{list_path}?status=unfulfilled"))
        .await;
    assert!(unfulfilled.shows(&sale.order_id));
    // The API filters the same way, and refuses a state that is not one.
    let api = format!("/v1/shops/{}/orders", sale.shop_id);
    let listed = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["order_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let to_ship = json_of(
        get_as(
            &app,
            &sale.seller,
            &format!("{api}?fulfilment_status=unfulfilled"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(listed(&to_ship), vec![sale.order_id.clone()], "{to_ship}");
    let none = json_of(
        get_as(
            &app,
            &sale.seller,
            &format!("{api}?fulfilment_status=shipped"),
        )
        .await,
        200,
    )
    .await;
    assert!(listed(&none).is_empty(), "{none}");
    common::assert_error(
        get_as(&app, &sale.seller, &format!("{api}?fulfilment_status=lost")).await,
        400,
        "invalid_query",
    )
    .await;
    let bad_page = browser.get(&format!("{list_path}?status=lost")).await;
    assert_eq!(bad_page.status, 400);

    // A partial parcel: one mug of three.
    let page = part_page(&sale);
    let qty = format!("qty_{}", sale.line_id);
    let shipped = browser
        .submit(
            &page,
            &format!("{page}/ship"),
            &[
                ("carrier", "UPS"),
                ("tracking_number", "1Z999AA10123456784"),
                ("tracking_url", ""),
                (qty.as_str(), "1"),
            ],
        )
        .await;
    assert_eq!(shipped.status, 303, "{}", shipped.body);
    assert_eq!(shipped.location(), format!("{page}?done=shipped"));
    let after = browser.get(shipped.location()).await;
    assert!(after.shows("role=\"status\""));
    assert!(after.shows("1Z999AA10123456784"));
    assert!(after.shows("Partly shipped"));

    let order = json_of(
        get_as(
            &app,
            &market.buyer,
            &format!("/v1/orders/{}", sale.order_id),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        order["parts"][0]["fulfilment"]["status"],
        "partially_shipped"
    );
    assert_eq!(order["parts"][0]["lines"][0]["shipped_quantity"], 1);
    let sent = parcels(&app, &market.buyer, &sale.order_id).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["carrier"], "UPS");
    assert_eq!(sent[0]["tracking_number"], "1Z999AA10123456784");
    assert_eq!(sent[0]["lines"][0]["quantity"], 1);
    // The buyer's order page shows the parcel and its tracking number.
    let mut buyer_browser = signed_in(&app, &market.buyer).await;
    let buyer_page = buyer_browser
        .get(&format!("/orders/{}", sale.order_id))
        .await;
    assert_eq!(buyer_page.status, 200, "{}", buyer_page.body);
    assert!(
        buyer_page.shows("with UPS, tracking number 1Z999AA10123456784"),
        "{}",
        buyer_page.body
    );

    // The rest, in a second parcel: the form offers the two left.
    let form = browser.get(&page).await;
    assert_eq!(form.input(&qty), "2");
    let rest = browser
        .submit(
            &page,
            &format!("{page}/ship"),
            &[
                ("carrier", "DHL"),
                ("tracking_number", "JD014600006281234567"),
                (
                    "tracking_url",
                    "https://dhl.example/track/JD014600006281234567",
                ),
                (qty.as_str(), "2"),
            ],
        )
        .await;
    assert_eq!(rest.status, 303, "{}", rest.body);
    let order = json_of(
        get_as(
            &app,
            &market.buyer,
            &format!("/v1/orders/{}", sale.order_id),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(order["parts"][0]["fulfilment"]["status"], "shipped");
    let sent = parcels(&app, &market.buyer, &sale.order_id).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["carrier"], "DHL");

    // Delivered, from the page.
    let delivered = browser
        .submit(&page, &format!("{page}/delivered"), &[])
        .await;
    assert_eq!(delivered.status, 303, "{}", delivered.body);
    let view = staff_view(&app, &sale.order_id).await;
    assert_eq!(view["parts"][0]["fulfilment"]["status"], "delivered");
    assert_eq!(view["parts"][0]["fulfilment"]["delivered_by"], "seller");
}

#[tokio::test]
async fn bad_ship_forms_come_back_with_the_fields_error_and_store_nothing() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let sale = sale(&app, &market.buyer, 2).await;
    let mut browser = signed_in(&app, &sale.seller).await;
    let page = part_page(&sale);
    let qty = format!("qty_{}", sale.line_id);

    // More units than ordered.
    let too_many = browser
        .submit(
            &page,
            &format!("{page}/ship"),
            &[
                ("carrier", "UPS"),
                ("tracking_number", "1Z1"),
                (qty.as_str(), "5"),
            ],
        )
        .await;
    assert_eq!(too_many.status, 422, "{}", too_many.body);
    assert!(too_many.shows("There is a problem"));
    assert!(
        too_many.shows(&format!("id=\"{qty}-error\"")),
        "{}",
        too_many.body
    );
    assert!(too_many.shows(&format!("href=\"#{qty}\"")));
    // What was typed is kept.
    assert!(too_many.shows("value=\"1Z1\""));

    // A tracking number the domain refuses (control characters are refused
    // before any handler, as a 400 page, by the app's input policy).
    let long = "1Z".repeat(51);
    let bad = browser
        .submit(
            &page,
            &format!("{page}/ship"),
            &[
                ("carrier", "UPS"),
                ("tracking_number", long.as_str()),
                (qty.as_str(), "1"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.shows("id=\"tracking_number-error\""), "{}", bad.body);
    assert!(bad.shows("aria-invalid=\"true\""));

    // No carrier.
    let blank = browser
        .submit(
            &page,
            &format!("{page}/ship"),
            &[
                ("carrier", " "),
                ("tracking_number", "1Z1"),
                (qty.as_str(), "1"),
            ],
        )
        .await;
    assert_eq!(blank.status, 422);
    assert!(blank.shows("id=\"carrier-error\""));

    assert!(parcels(&app, &market.buyer, &sale.order_id)
        .await
        .is_empty());
    let view = staff_view(&app, &sale.order_id).await;
    assert_eq!(view["parts"][0]["fulfilment"]["status"], "unfulfilled");
    assert_eq!(view["parts"][0]["lines"][0]["shipped_quantity"], 0);

    // A form without its token is refused too.
    let forged = browser
        .post(
            &format!("{page}/ship"),
            &[("carrier", "UPS"), ("tracking_number", "1Z1")],
        )
        .await;
    assert!(forged.status >= 400, "{}", forged.status);
    assert!(parcels(&app, &market.buyer, &sale.order_id)
        .await
        .is_empty());
}

#[tokio::test]
async fn another_sellers_ids_are_404_pages_and_their_forms_change_nothing() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let mine = sale(&app, &market.buyer, 1).await;
    let theirs = sale(&app, &market.buyer, 2).await;
    // Their part delivered and a return asked for, so there is a return id.
    json_of(
        post_as(
            &app,
            &theirs.seller,
            &format!(
                "/v1/orders/{}/parts/{}/shipments",
                theirs.order_id, theirs.part_id
            ),
            &json!({"carrier": "UPS", "tracking_number": "1Z2"}),
        )
        .await,
        201,
    )
    .await;
    json_of(
        post_as(
            &app,
            &theirs.seller,
            &format!(
                "/v1/orders/{}/parts/{}/delivered",
                theirs.order_id, theirs.part_id
            ),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    let return_id = asked_return(&app, &market.buyer, &theirs).await;
    let mut browser = signed_in(&app, &mine.seller).await;
    let own_page = part_page(&mine);
    assert_eq!(browser.get(&own_page).await.status, 200);
    let token = browser.get(&own_page).await.input("csrf_token");

    // Their shop, their order under my shop, my order under their shop.
    let pages = [
        format!("/seller/shops/{}/orders", theirs.shop_id),
        part_page(&theirs),
        format!("/seller/shops/{}/orders/{}", mine.shop_id, theirs.order_id),
        format!("/seller/shops/{}/orders/{}", theirs.shop_id, mine.order_id),
        format!("/seller/shops/{}/orders/ord_nothing", mine.shop_id),
    ];
    for path in &pages {
        assert_not_found_page(&browser.get(path).await, path);
    }
    let refund_field = format!("refund_qty_{}", theirs.line_id);
    let mut posts: Vec<(String, Vec<(&str, &str)>)> = Vec::new();
    for base in [
        part_page(&theirs),
        format!("/seller/shops/{}/orders/{}", mine.shop_id, theirs.order_id),
    ] {
        posts.push((
            format!("{base}/ship"),
            vec![("carrier", "UPS"), ("tracking_number", "1Z3")],
        ));
        posts.push((format!("{base}/delivered"), vec![]));
        posts.push((format!("{base}/cancel"), vec![("cancel_reason", "no")]));
        posts.push((
            format!("{base}/refund"),
            vec![("idempotency_key", "steal-1"), (refund_field.as_str(), "1")],
        ));
    }
    for decision in ["approve", "refuse", "receive"] {
        // Their return under their order, and under mine.
        for base in [part_page(&theirs), own_page.clone()] {
            posts.push((format!("{base}/returns/{return_id}/{decision}"), vec![]));
        }
    }
    for (path, fields) in &posts {
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend(fields.iter().copied());
        let page = browser.post(path, &form).await;
        assert_not_found_page(&page, path);
    }
    let view = staff_view(&app, &theirs.order_id).await;
    assert_eq!(view["parts"][0]["fulfilment"]["status"], "delivered");
    assert_eq!(
        parcels(&app, &market.buyer, &theirs.order_id).await.len(),
        1
    );
    assert_eq!(view["refunds"].as_array().unwrap().len(), 0);
    let returns = json_of(
        get_as(
            &app,
            &market.buyer,
            &format!("/v1/orders/{}/returns", theirs.order_id),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(returns["data"][0]["status"], "requested");

    // Not signed in: to the sign-in page, and back here after.
    let mut stranger = Browser::new(&app);
    let answer = stranger.get(&own_page).await;
    assert_eq!(answer.status, 303);
    assert!(
        answer.location().starts_with("/signin?next="),
        "{}",
        answer.location()
    );
}

#[tokio::test]
async fn the_part_pages_money_is_the_jsons() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let sale = sale(&app, &market.buyer, 2).await;
    let mut browser = signed_in(&app, &sale.seller).await;
    let page = browser.get(&part_page(&sale)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = json_of(
        get_as(
            &app,
            &sale.seller,
            &format!("/v1/shops/{}/orders", sale.shop_id),
        )
        .await,
        200,
    )
    .await;
    let part = &body["data"][0]["part"];
    assert_eq!(body["data"][0]["order_id"], sale.order_id.as_str());
    let dollars = |minor: i64| format!("${}.{:02}", minor / 100, minor % 100);
    for (label, figure) in [
        ("Items", &part["items"]),
        ("Shipping", &part["shipping"]),
        ("Platform fee", &part["fee"]),
        ("Processing fee", &part["processing_fee"]),
        ("Your share", &part["seller_amount"]),
        ("Owed to you now", &part["settlement"]["owed"]),
    ] {
        let minor = figure["minor"]
            .as_i64()
            .unwrap_or_else(|| panic!("{figure}"));
        let row = format!("<th scope=\"row\">{label}");
        let at = page
            .body
            .find(&row)
            .unwrap_or_else(|| panic!("no {label} row: {}", page.body));
        let cell = &page.body[at..];
        let cell = &cell[cell.find("<td>").unwrap() + 4..cell.find("</td>").unwrap()];
        assert_eq!(cell, dollars(minor), "{label}");
    }
    // 2 × $12.50, as computed here.
    assert_eq!(part["items"]["minor"], 2500);
    assert!(page.shows("<address>Ann Buyer<br>1 Main St<br>"));
}

#[tokio::test]
async fn a_seller_decides_and_receives_a_return_and_cancels_from_the_page() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let sale = sale(&app, &market.buyer, 2).await;
    let mut browser = signed_in(&app, &sale.seller).await;
    let page = part_page(&sale);
    let qty = format!("qty_{}", sale.line_id);
    let shipped = browser
        .submit(
            &page,
            &format!("{page}/ship"),
            &[
                ("carrier", "UPS"),
                ("tracking_number", "1Z4"),
                (qty.as_str(), "2"),
            ],
        )
        .await;
    assert_eq!(shipped.status, 303, "{}", shipped.body);
    let delivered = browser
        .submit(&page, &format!("{page}/delivered"), &[])
        .await;
    assert_eq!(delivered.status, 303, "{}", delivered.body);
    let return_id = asked_return(&app, &market.buyer, &sale).await;
    let shown = browser.get(&page).await;
    assert!(shown.shows("too small"), "{}", shown.body);

    // Approving needs an address: the field says so, nothing changes.
    let address_field = format!("return_address_{return_id}");
    let approve = format!("{page}/returns/{return_id}/approve");
    let refused = browser
        .submit(&page, &approve, &[(address_field.as_str(), " ")])
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.shows(&format!("id=\"{address_field}-error\"")));
    let approved = browser
        .submit(
            &page,
            &approve,
            &[(address_field.as_str(), "Returns desk\n2 Dock Rd")],
        )
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    assert_eq!(approved.location(), format!("{page}?done=approved"));
    // Approved twice: the domain's 409, on the page.
    let again = browser
        .submit(&page, &approve, &[(address_field.as_str(), "Elsewhere")])
        .await;
    assert_eq!(again.status, 409, "{}", again.body);

    let received = browser
        .submit(
            &page,
            &format!("{page}/returns/{return_id}/receive"),
            &[(format!("restock_{return_id}").as_str(), "yes")],
        )
        .await;
    assert_eq!(received.status, 303, "{}", received.body);
    let asked = json_of(
        get_as(&app, &market.buyer, &format!("/v1/returns/{return_id}")).await,
        200,
    )
    .await;
    assert_eq!(asked["status"], "received");
    assert_eq!(asked["refund"]["amount"]["minor"], 1250);

    // An unshipped part is cancelled from the page and refunded in full.
    let other = sale_for(&app, &market.buyer, &sale).await;
    let other_page = format!("/seller/shops/{}/orders/{}", sale.shop_id, other);
    let canceled = browser
        .submit(
            &other_page,
            &format!("{other_page}/cancel"),
            &[("cancel_reason", "out of stock")],
        )
        .await;
    assert_eq!(canceled.status, 303, "{}", canceled.body);
    let view = staff_view(&app, &other).await;
    assert_eq!(view["parts"][0]["fulfilment"]["status"], "canceled");
    assert_eq!(view["refunded"]["minor"], view["total"]["minor"]);
}

/// Another paid order of one unit from the same shop; its id.
async fn sale_for(app: &TestApp, buyer: &Person, sale: &Sale) -> String {
    let order = staff_view(app, &sale.order_id).await;
    let product_id = order["parts"][0]["lines"][0]["product_id"]
        .as_str()
        .unwrap();
    add_to_cart(app, buyer, product_id, 1).await;
    let key = uuid::Uuid::new_v4().to_string();
    let order = checkout_ok(app, buyer, &key, Some("pm_card_visa")).await;
    order["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_seller_refunds_units_of_its_part_once_from_the_page() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let sale = sale(&app, &market.buyer, 3).await;
    let mut browser = signed_in(&app, &sale.seller).await;
    let page = part_page(&sale);
    let field = format!("refund_qty_{}", sale.line_id);

    // More than ordered: refused beside the line, nothing refunded.
    let form = browser.get(&page).await;
    let key = form.input("idempotency_key");
    let too_many = browser
        .submit(
            &page,
            &format!("{page}/refund"),
            &[("idempotency_key", key.as_str()), (field.as_str(), "4")],
        )
        .await;
    assert!(
        too_many.status == 422 || too_many.status == 409,
        "{}",
        too_many.body
    );
    assert!(too_many.shows("There is a problem"));
    assert_eq!(
        staff_view(&app, &sale.order_id).await["refunded"]["minor"],
        0
    );

    // One mug, sent twice with the same key: refunded once.
    let key = uuid::Uuid::new_v4().to_string();
    for _ in 0..2 {
        let refunded = browser
            .submit(
                &page,
                &format!("{page}/refund"),
                &[
                    ("idempotency_key", key.as_str()),
                    (field.as_str(), "1"),
                    ("refund_reason", "chipped"),
                ],
            )
            .await;
        assert_eq!(refunded.status, 303, "{}", refunded.body);
    }
    let view = staff_view(&app, &sale.order_id).await;
    assert_eq!(view["refunded"]["minor"], 1250);
    assert_eq!(view["refunds"].as_array().unwrap().len(), 1);
}
