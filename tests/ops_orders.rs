//! The console's Orders section, over HTTP against the real app and the
//! sandbox: staff search orders by buyer, shop, status, period and held
//! transfers; one order shows its lines by shop, settlement, ledger (which
//! balances) and P&L; support refunds from the page (once, however often the
//! form is sent) through the API's domain function and audit row, while
//! finance is refused and bad forms change nothing; the order and its
//! dispute sync from the page.

use crate::common;
use crate::orders_support;
use crate::web_support;

use serde_json::{json, Value};

use common::people::{audit_rows, get_as, post_as, signup, staff, Person};
use common::TestApp;
use orders_support::{
    active_shop, add_to_cart, checkout_ok, disputes_opened, json_of, market, market_fee,
    post_keyed, product, staff_view,
};
use web_support::{console, signed_in, Browser, Page};

fn minor(value: &Value) -> i64 {
    value["minor"]
        .as_i64()
        .unwrap_or_else(|| panic!("no minor in {value}"))
}

/// An amount in US dollars as the pages show it (amounts under $1,000).
fn usd(minor: i64) -> String {
    assert!((0..100_000).contains(&minor), "a small amount: {minor}");
    format!("${}.{:02}", minor / 100, minor % 100)
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

/// Two sellers' active USD shops, a mug (12.50) in the first and a lamp
/// (19.99) in the second.
struct Shops {
    ann: Person,
    shop_a: Value,
    shop_b: Value,
    mug: String,
    lamp: String,
}

async fn shops(app: &TestApp) -> Shops {
    let (ann, bob) = (signup(app, "seller").await, signup(app, "seller").await);
    let shop_a = active_shop(app, &ann, "USD").await;
    let shop_b = active_shop(app, &bob, "USD").await;
    let mug = product(app, &ann, &shop_a, "Stoneware Mug", 1250, 20).await;
    let lamp = product(app, &bob, &shop_b, "Brass Lamp", 1999, 20).await;
    Shops {
        ann,
        shop_a,
        shop_b,
        mug,
        lamp,
    }
}

async fn refund_count(app: &TestApp, order_id: &str) -> usize {
    staff_view(app, order_id).await["refunds"]
        .as_array()
        .unwrap()
        .len()
}

fn part_of<'a>(order: &'a Value, shop: &Value) -> &'a Value {
    order["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["shop_id"] == shop["id"])
        .expect("a part per shop")
}

/// The ids of the orders a search page lists (their links).
fn listed(page: &Page, ids: &[&str]) -> Vec<bool> {
    ids.iter()
        .map(|id| page.shows(&format!("href=\"/ops/orders/{id}\"")))
        .collect()
}

async fn search(browser: &mut Browser<'_>, query: &str) -> Page {
    let page = browser.get(&format!("/ops/orders?{query}")).await;
    assert_eq!(page.status, 200, "{query}: {}", page.body);
    page
}

#[tokio::test]
async fn staff_search_orders_and_read_one_by_shop_with_a_balanced_ledger() {
    // No job workers: the payment's webhook is not applied behind the
    // test's back, so the page's sync is what marks the order paid.
    let app = TestApp::spawn_with(&[("BAZAAR__JOBS__WORKERS", "0")], |_| {}).await;
    let market = market(&app).await;
    let s = shops(&app).await;
    // One order across both shops, paid at once: 2 mugs and a lamp.
    add_to_cart(&app, &market.buyer, &s.mug, 2).await;
    add_to_cart(&app, &market.buyer, &s.lamp, 1).await;
    let paid = checkout_ok(&app, &market.buyer, "k1", Some("pm_card_visa")).await;
    assert_eq!(paid["status"], "paid");
    let paid_id = id_of(&paid);
    // Another buyer's lamp, not paid yet.
    let other = signup(&app, "buyer").await;
    add_to_cart(&app, &other, &s.lamp, 1).await;
    let unpaid = checkout_ok(&app, &other, "k2", None).await;
    assert_eq!(unpaid["status"], "awaiting_payment");
    let unpaid_id = id_of(&unpaid);
    let ids = [paid_id.as_str(), unpaid_id.as_str()];

    let support = staff(&app, &market.operator, "support").await;
    let mut browser = console(&app, &support).await;

    // Every filter narrows the list.
    let all = search(&mut browser, "").await;
    assert_eq!(listed(&all, &ids), [true, true], "{}", all.body);
    assert!(all.shows(&market.buyer.email));
    assert!(all.shows(&format!("href=\"/ops/users/{}\"", market.buyer.user_id)));
    let shop_a_name = s.shop_a["name"].as_str().unwrap();
    assert!(all.shows(&format!(
        "<a href=\"/ops/shops/{}\">{shop_a_name}</a>",
        id_of(&s.shop_a)
    )));
    let by_email = search(&mut browser, &format!("email={}", market.buyer.email)).await;
    assert_eq!(listed(&by_email, &ids), [true, false]);
    let slug = shop_a_name.trim_start_matches("Shop ");
    let by_name = search(&mut browser, &format!("shop={}", slug.to_uppercase())).await;
    assert_eq!(
        listed(&by_name, &ids),
        [true, false],
        "names match in any case"
    );
    let by_shop_id = search(&mut browser, &format!("shop={}", id_of(&s.shop_b))).await;
    assert_eq!(listed(&by_shop_id, &ids), [true, true]);
    let awaiting = search(&mut browser, "status=awaiting_payment").await;
    assert_eq!(listed(&awaiting, &ids), [false, true]);
    let today = chrono::Utc::now().date_naive();
    let (yesterday, tomorrow) = (today.pred_opt().unwrap(), today.succ_opt().unwrap());
    let period = search(&mut browser, &format!("from={today}&to={today}")).await;
    assert_eq!(listed(&period, &ids), [true, true]);
    let before = search(&mut browser, &format!("to={yesterday}")).await;
    assert_eq!(listed(&before, &ids), [false, false]);
    let after = search(&mut browser, &format!("from={tomorrow}")).await;
    assert_eq!(listed(&after, &ids), [false, false]);
    let held = search(&mut browser, "held=true").await;
    assert_eq!(listed(&held, &ids), [false, false], "nothing held yet");
    let bad = browser.get("/ops/orders?from=yesterday").await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.shows("id=\"from-error\""), "{}", bad.body);
    assert_eq!(listed(&bad, &ids), [false, false]);

    // The second shop is frozen, then the other buyer pays: support syncs
    // the order from its page and the lamp's share is held.
    let freeze = format!("/v1/shops/{}/freeze", id_of(&s.shop_b));
    let body = json!({"reason": "fraud review"});
    json_of(post_as(&app, &market.operator, &freeze, &body).await, 200).await;
    let intent_id = unpaid["payment"]["intent_id"].as_str().unwrap();
    app.sandbox_post(
        &format!("/v1/payment_intents/{intent_id}/confirm"),
        &[("payment_method", "pm_card_visa")],
    )
    .await;
    let unpaid_page = format!("/ops/orders/{unpaid_id}");
    let synced = browser
        .submit(&unpaid_page, &format!("{unpaid_page}/sync"), &[])
        .await;
    assert_eq!(synced.status, 303, "{}", synced.body);
    assert_eq!(synced.location(), format!("{unpaid_page}?done=synced"));
    let now_paid = staff_view(&app, &unpaid_id).await;
    assert_eq!(now_paid["status"], "paid");
    assert_eq!(now_paid["parts"][0]["settlement"]["status"], "held");
    let rows = audit_rows(&app, &market.operator, "order.sync").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["subject"], unpaid_id.as_str());
    assert_eq!(rows[0]["actor_user_id"], support.user_id.as_str());
    assert_eq!(rows[0]["before"]["status"], "awaiting_payment");
    assert_eq!(rows[0]["after"]["status"], "paid");
    let held = search(&mut browser, "held=true").await;
    assert_eq!(listed(&held, &ids), [false, true], "{}", held.body);
    assert!(held.shows("Transfer held"));
    // The API takes the same filters.
    let api = json_of(
        get_as(
            &app,
            &support,
            &format!("/v1/orders?held=true&shop_name={slug}"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(api["data"].as_array().unwrap().len(), 0, "{api}");
    let api = json_of(get_as(&app, &support, "/v1/orders?held=true").await, 200).await;
    let api_ids: Vec<&str> = api["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(api_ids, [unpaid_id.as_str()]);
    assert_eq!(api["data"][0]["buyer_email"], other.email.as_str());
    assert!(api["data"][0]["parts"][0]["shop_name"].is_string());

    // One order: lines by shop, settlement, the ledger and its P&L.
    let page = browser.get(&format!("/ops/orders/{paid_id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.shows(&format!(
        "From <a href=\"/ops/shops/{}\">{shop_a_name}</a>",
        id_of(&s.shop_a)
    )));
    assert!(page.shows("<caption id=\"lines-"));
    assert!(page.shows("<th scope=\"row\">Stoneware Mug</th>"));
    assert!(page.shows("<th scope=\"row\">Brass Lamp</th>"));
    let (fee_a, fee_b) = (market_fee(2500), market_fee(1999));
    assert!(page.shows(&format!(
        "<th scope=\"row\">Platform fee</th><td>{}</td>",
        usd(fee_a)
    )));
    assert!(
        page.shows(&format!(
            "<th scope=\"row\">Seller share</th><td>{}</td>",
            usd(2500 - fee_a)
        )),
        "{}",
        page.body
    );
    assert!(page.shows(&market.buyer.email));
    let ledger = json_of(
        get_as(&app, &support, &format!("/v1/orders/{paid_id}/ledger")).await,
        200,
    )
    .await;
    let postings = ledger["postings"].as_array().unwrap();
    assert!(!postings.is_empty());
    let debits: i64 = postings
        .iter()
        .map(|p| p["debit"]["minor"].as_i64().unwrap())
        .sum();
    let credits: i64 = postings
        .iter()
        .map(|p| p["credit"]["minor"].as_i64().unwrap())
        .sum();
    assert_eq!(debits, credits, "the order's entries balance");
    assert!(
        page.shows("Total in USD: debits equal credits"),
        "{}",
        page.body
    );
    assert!(page.shows(&format!(
        "<td>{}</td><td>{}</td></tr>",
        usd(debits),
        usd(credits)
    )));
    assert_eq!(ledger["pnl"][0]["fees_earned"], fee_a + fee_b);
    assert!(page.shows(&format!(
        "<th scope=\"row\">Platform fees earned</th><td>{}</td>",
        usd(fee_a + fee_b)
    )));
    assert!(
        page.shows(&format!("{shop_a_name} — payable (USD)")),
        "{}",
        page.body
    );

    // Buyers and sellers do not find the console's orders.
    let mut buyer = signed_in(&app, &market.buyer).await;
    assert_eq!(buyer.get("/ops/orders").await.status, 404);
    assert_eq!(
        buyer.get(&format!("/ops/orders/{paid_id}")).await.status,
        404
    );
    let mut seller = signed_in(&app, &s.ann).await;
    assert_eq!(seller.get("/ops/orders").await.status, 404);
}

#[tokio::test]
async fn support_refunds_a_line_once_and_finance_cannot() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let s = shops(&app).await;
    add_to_cart(&app, &market.buyer, &s.mug, 2).await;
    add_to_cart(&app, &market.buyer, &s.lamp, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k1", Some("pm_card_visa")).await;
    let order_id = id_of(&order);
    let mug_line = part_of(&order, &s.shop_a)["lines"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let part_b = id_of(part_of(&order, &s.shop_b));
    let page_path = format!("/ops/orders/{order_id}");
    let refund_path = format!("{page_path}/refund");
    let field = format!("refund_qty_{mug_line}");

    // Finance reads the order but sees no refund form, and is refused one.
    let finance = staff(&app, &market.operator, "finance").await;
    let mut by_finance = console(&app, &finance).await;
    let seen = by_finance.get(&page_path).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert!(!seen.shows("Refund the buyer"));
    assert!(!seen.shows("/sync\""), "finance may not sync either");
    let refused = by_finance
        .submit(
            &page_path,
            &refund_path,
            &[
                ("kind", "lines"),
                ("idempotency_key", "fin-1"),
                (&field, "1"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refund_count(&app, &order_id).await, 0);

    let support = staff(&app, &market.operator, "support").await;
    let mut browser = console(&app, &support).await;
    let page = browser.get(&page_path).await;
    assert!(page.shows("Refund the buyer"), "{}", page.body);
    let key = page.input("idempotency_key");
    let csrf = page.input("csrf_token");

    // A forged form (no valid CSRF token) changes nothing.
    let forged = browser
        .post(
            &refund_path,
            &[
                ("csrf_token", "forged"),
                ("kind", "lines"),
                ("idempotency_key", key.as_str()),
                (&field, "1"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(refund_count(&app, &order_id).await, 0);

    // Bad input: the form again with a 422, the message beside the field.
    let too_many = browser
        .post(
            &refund_path,
            &[
                ("csrf_token", csrf.as_str()),
                ("kind", "lines"),
                ("idempotency_key", key.as_str()),
                (&field, "3"),
            ],
        )
        .await;
    assert_eq!(too_many.status, 422, "{}", too_many.body);
    assert!(
        too_many.shows(&format!("id=\"{field}-error\"")),
        "{}",
        too_many.body
    );
    for amount in ["0", "100.00", "lots"] {
        let bad = browser
            .post(
                &refund_path,
                &[
                    ("csrf_token", csrf.as_str()),
                    ("kind", "amount"),
                    ("idempotency_key", "amount-key-1"),
                    ("part_id", part_b.as_str()),
                    ("amount", amount),
                ],
            )
            .await;
        assert_eq!(bad.status, 422, "{amount}: {}", bad.body);
        assert!(bad.shows("id=\"amount-error\""), "{amount}: {}", bad.body);
        assert!(
            bad.shows(&format!("value=\"{amount}\"")),
            "the amount is kept"
        );
    }
    assert_eq!(refund_count(&app, &order_id).await, 0);
    assert!(audit_rows(&app, &market.operator, "order.refund")
        .await
        .is_empty());

    // One mug refunded from the page; the same form sent again refunds once.
    let form = [
        ("csrf_token", csrf.as_str()),
        ("kind", "lines"),
        ("idempotency_key", key.as_str()),
        (field.as_str(), "1"),
        ("reason", "arrived chipped"),
    ];
    for _ in 0..2 {
        let done = browser.post(&refund_path, &form).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location(), format!("{page_path}?done=refunded"));
    }
    let view = staff_view(&app, &order_id).await;
    let refunds = view["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    let unit_price = 1250;
    assert_eq!(minor(&refunds[0]["amount"]), unit_price);
    assert_eq!(minor(&view["refunded"]), unit_price);
    assert_eq!(refunds[0]["reason"], "arrived chipped");
    assert_eq!(
        part_of(&view, &s.shop_a)["lines"][0]["refunded_quantity"],
        1
    );
    let after = browser.get(&format!("{page_path}?done=refunded")).await;
    assert!(after.shows("The buyer is refunded."));
    assert!(after.shows(&format!("<th scope=\"row\">{}</th>", usd(unit_price))));

    // The audit row is the API's: same action and subject, the support
    // member as its actor.
    let rows = audit_rows(&app, &market.operator, "order.refund").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["actor_user_id"], support.user_id.as_str());
    assert_eq!(rows[0]["subject"], order_id.as_str());
    let by_api = json!({"part_id": part_b, "amount_minor": 500});
    let response = post_keyed(
        &app,
        &support,
        &format!("/v1/orders/{order_id}/refunds"),
        "api-1",
        &by_api,
    )
    .await;
    json_of(response, 201).await;
    let rows = audit_rows(&app, &market.operator, "order.refund").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["subject"], rows[1]["subject"]);
    assert_eq!(rows[0]["actor_user_id"], rows[1]["actor_user_id"]);

    // By amount from the page: 2.50 off the lamp.
    let page = browser.get(&page_path).await;
    let amount_key = {
        let marker = "name=\"idempotency_key\" value=\"";
        let second = page.body.match_indices(marker).nth(1).expect("two forms").0 + marker.len();
        page.body[second..second + 36].to_owned()
    };
    let done = browser
        .post(
            &refund_path,
            &[
                ("csrf_token", page.input("csrf_token").as_str()),
                ("kind", "amount"),
                ("idempotency_key", amount_key.as_str()),
                ("part_id", part_b.as_str()),
                ("amount", "2.50"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let view = staff_view(&app, &order_id).await;
    assert_eq!(minor(&view["refunded"]), unit_price + 500 + 250);
    assert_eq!(minor(&part_of(&view, &s.shop_b)["refunded"]), 750);
}

#[tokio::test]
async fn support_syncs_a_dispute_from_the_order_page() {
    let app = TestApp::spawn_with(&[("BAZAAR__JOBS__WORKERS", "0")], |_| {}).await;
    let market = market(&app).await;
    let s = shops(&app).await;
    add_to_cart(&app, &market.buyer, &s.mug, 1).await;
    add_to_cart(&app, &market.buyer, &s.lamp, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_createDispute")).await;
    let order_id = id_of(&order);
    let dispute = disputes_opened(&app).await.remove(0);
    let dispute_id = dispute["id"].as_str().unwrap().to_owned();
    let support = staff(&app, &market.operator, "support").await;
    let sync = format!("/v1/disputes/{dispute_id}/sync");
    json_of(post_as(&app, &support, &sync, &json!({})).await, 200).await;

    let finance = staff(&app, &market.operator, "finance").await;
    let mut by_finance = console(&app, &finance).await;
    let page_path = format!("/ops/orders/{order_id}");
    let page_sync = format!("{page_path}/disputes/{dispute_id}/sync");
    let refused = by_finance.submit(&page_path, &page_sync, &[]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    let mut browser = console(&app, &support).await;
    let page = browser.get(&page_path).await;
    assert_eq!(page.status, 200);
    assert!(page.shows(&format!(
        "<th scope=\"row\">{dispute_id}</th><td>{}</td>",
        usd(1250 + 1999)
    )));
    assert!(page.shows("<td>Open</td>"));
    assert!(
        page.shows("The payment is disputed"),
        "no refund while disputed"
    );

    // Won at the provider; the page's button reads it.
    app.sandbox_post(
        &format!("/v1/disputes/{dispute_id}"),
        &[("evidence[uncategorized_text]", "winning_evidence")],
    )
    .await;
    for _ in 0..2 {
        let done = browser.submit(&page_path, &page_sync, &[]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location(), format!("{page_path}?done=dispute_synced"));
    }
    let view = staff_view(&app, &order_id).await;
    assert_eq!(view["disputes"][0]["outcome"], "won");
    let rows = audit_rows(&app, &market.operator, "dispute.sync").await;
    let by_support: Vec<&Value> = rows
        .iter()
        .filter(|r| r["actor_user_id"] == support.user_id.as_str())
        .collect();
    assert_eq!(
        by_support.len(),
        3,
        "one by the API, two by the page: {rows:?}"
    );
    assert!(by_support
        .iter()
        .all(|r| r["subject"] == dispute_id.as_str()));
    // A dispute of another order (or none) is not found through this one.
    let other = browser
        .submit(
            &page_path,
            &format!("{page_path}/disputes/dp_nothere/sync"),
            &[],
        )
        .await;
    assert_eq!(other.status, 404);
}
