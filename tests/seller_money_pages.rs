//! The seller's Money pages after a scripted day (two sales, a partial
//! refund, a sale the buyer disputes, a paid payout; another shop's failed
//! payout): every figure the pages show is the JSON API's, written by
//! `format::price`, and the ledger's; a payout statement's lines add up to
//! the payout; the disputed order's page shows the share taken back; the
//! sales chart and its table have a row per day; the pages are the owner's
//! only.

use crate::common;
use crate::orders_support;
use crate::web_support;

use std::time::Duration;

use bazaar::money::{Currency, Money};
use bazaar::web::format;
use common::people::{get_as, staff};
use common::TestApp;
use orders_support::*;
use serde_json::json;
use web_support::{signed_in, Browser, Page};

fn usd(minor: i64) -> String {
    format::price(Money::new(minor, Currency::parse("USD").unwrap()))
}

/// The text of every element whose opening tag carries `marker`.
fn texts_of(page: &Page, marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = page.body.as_str();
    while let Some(at) = rest.find(marker) {
        let start = rest[..at].rfind('<').unwrap();
        let tag = rest[start + 1..]
            .split([' ', '>'])
            .next()
            .unwrap()
            .to_owned();
        let open_end = rest[at..].find('>').unwrap() + at + 1;
        let close = rest[open_end..].find(&format!("</{tag}>")).unwrap() + open_end;
        out.push(web_support::strip_tags(&rest[open_end..close]));
        rest = &rest[close..];
    }
    out
}

/// The amount in the money table's row labelled `label`.
fn figure_row(page: &Page, label: &str) -> String {
    let at = page
        .body
        .find(label)
        .unwrap_or_else(|| panic!("no {label} in page:\n{}", page.body));
    let cell = page.body[at..].find("<td>").unwrap() + at + "<td>".len();
    let end = page.body[cell..].find("</td>").unwrap() + cell;
    web_support::strip_tags(&page.body[cell..end])
}

/// What the provider left with a shop of an order's transfers: each
/// transfer's amount less what was reversed.
fn net_to(transfers: &[serde_json::Value], shop: &serde_json::Value) -> i64 {
    let account = shop["provider_account_id"].as_str().unwrap();
    transfers
        .iter()
        .filter(|t| t["destination"] == account)
        .map(|t| t["amount"].as_i64().unwrap() - t["amount_reversed"].as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn the_money_pages_show_the_apis_figures_to_the_owner_only() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let (ann, shop, bob, bobs_shop) = a_seller_and_one_with_a_closed_bank(&app).await;
    let shop_id = shop["id"].as_str().unwrap().to_owned();
    let vase = product(&app, &ann, &shop, "Vase", 3000, 10).await;
    let cup = product(&app, &ann, &shop, "Cup", 1250, 10).await;
    let bowl = product(&app, &bob, &bobs_shop, "Bowl", 2000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 2).await;
    let first = checkout_ok(&app, &market.buyer, "one", Some("pm_card_visa")).await;
    add_to_cart(&app, &market.buyer, &cup, 1).await;
    checkout_ok(&app, &market.buyer, "two", Some("pm_card_visa")).await;
    add_to_cart(&app, &market.buyer, &bowl, 1).await;
    checkout_ok(&app, &market.buyer, "three", Some("pm_card_visa")).await;
    // One vase comes back: the seller gives back its portion.
    let support = staff(&app, &market.operator, "support").await;
    let line = &first["parts"][0]["lines"][0];
    let path = format!("/v1/orders/{}/refunds", first["id"].as_str().unwrap());
    let body = json!({"lines": [{"line_id": line["id"], "quantity": 1}], "restock": true});
    json_of(post_keyed(&app, &support, &path, "r1", &body).await, 201).await;
    let portion = proportion(3000, 6000 - market_fee(6000), 6000);
    let earned = (6000 - market_fee(6000)) + (1250 - market_fee(1250)) - portion;
    // A third sale is disputed at once: the whole payment is disputed, so
    // the provider takes Ann's whole share back and it is never paid out.
    add_to_cart(&app, &market.buyer, &cup, 1).await;
    let disputed = checkout_ok(&app, &market.buyer, "four", Some("pm_card_createDispute")).await;
    let disputed_id = disputed["id"].as_str().unwrap().to_owned();
    let order_path = format!("/v1/orders/{disputed_id}");
    let mut seen = json!(null);
    for _ in 0..200 {
        seen = json_of(get_as(&app, &support, &order_path).await, 200).await;
        if seen["disputed"] == true && net_to(&transfers_of(&app, &disputed_id).await, &shop) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        seen["disputed"], true,
        "the dispute's webhook was applied: {seen}"
    );
    assert_eq!(net_to(&transfers_of(&app, &disputed_id).await, &shop), 0);

    let (_, failed) = four_days_of_payouts(&app, (&ann, &shop), (&bob, &bobs_shop)).await;
    // Wait until all of Ann's money is paid out, so both sides read a still ledger.
    let mut payouts = Vec::new();
    for _ in 0..200 {
        payouts = payouts_of(&app, &ann, &shop).await;
        let paid: i64 = payouts
            .iter()
            .filter(|p| p["status"] == "paid")
            .map(|p| p["amount"]["minor"].as_i64().unwrap())
            .sum();
        if paid == earned {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The funds' `balance.available` event may be processed after the payout's.
    let balance_path = format!("/v1/shops/{shop_id}/balance");
    for _ in 0..200 {
        let now = json_of(get_as(&app, &ann, &balance_path).await, 200).await;
        if now["currencies"]["USD"]["pending"]["minor"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut browser = signed_in(&app, &ann).await;
    let money_path = format!("/seller/shops/{shop_id}/money");
    let page = browser.get(&money_path).await;
    assert_eq!(page.status, 200, "{}", page.body);

    // The balance: each figure the API's (absent in JSON: none yet, so zero).
    let balance = json_of(
        get_as(&app, &ann, &format!("/v1/shops/{shop_id}/balance")).await,
        200,
    )
    .await["currencies"]["USD"]
        .clone();
    for field in [
        "owed_by_platform",
        "held",
        "pending",
        "available",
        "in_transit",
        "paid_out",
        "fees_charged",
        "fees_refunded",
        "fees_kept",
    ] {
        let shown = texts_of(&page, &format!("data-figure=\"USD-{field}\""))[0].clone();
        assert_eq!(
            shown,
            usd(balance[field]["minor"].as_i64().unwrap_or(0)),
            "{field}"
        );
    }
    assert_eq!(
        texts_of(&page, "data-figure=\"USD-paid_out\"")[0],
        usd(earned),
        "computed here: two sales less the refund's portion; the disputed sale taken back"
    );
    // …and the ledger's, account by account.
    let finance = staff(&app, &market.operator, "finance").await;
    let trial = json_of(
        get_as(&app, &finance, "/v1/ledger/trial-balance").await,
        200,
    )
    .await;
    for (field, account) in [
        ("owed_by_platform", "payable"),
        ("pending", "connected_pending"),
        ("available", "connected_balance"),
        ("in_transit", "in_transit"),
        ("paid_out", "paid_out"),
    ] {
        let shown = texts_of(&page, &format!("data-figure=\"USD-{field}\""))[0].clone();
        let booked = balance_in(&trial, &format!("shop:{shop_id}:{account}"));
        assert_eq!(
            shown,
            usd(booked),
            "{field} = the ledger's shop:…:{account}"
        );
    }

    // The payouts, each the API's amount, each linking to its statement.
    let amounts = texts_of(&page, "data-amount");
    assert_eq!(amounts.len(), payouts.len());
    for (shown, payout) in amounts.iter().zip(&payouts) {
        assert_eq!(*shown, usd(payout["amount"]["minor"].as_i64().unwrap()));
    }

    // The sales chart: two charts drawn, and a table row per day.
    assert_eq!(page.body.matches("<svg role=\"img\"").count(), 2);
    assert!(page.shows("aria-labelledby=\"sales-usd-net-title sales-usd-net-desc\""));
    assert_eq!(page.body.matches("<tr data-day>").count(), 30);
    let table = page.text_of("<tfoot");
    assert!(table.contains(&usd(earned)), "{table}");

    // Each payout's statement: lines add up to the payout, figures the API's.
    for payout in &payouts {
        let payout_id = payout["id"].as_str().unwrap();
        let amount = payout["amount"]["minor"].as_i64().unwrap();
        let api = json_of(
            get_as(
                &app,
                &ann,
                &format!("/v1/shops/{shop_id}/payouts/{payout_id}/statement"),
            )
            .await,
            200,
        )
        .await;
        let statement = browser
            .get(&format!("{money_path}/payouts/{payout_id}"))
            .await;
        assert_eq!(statement.status, 200, "{}", statement.body);
        let nets = texts_of(&statement, "data-net");
        let lines = api["lines"].as_array().unwrap();
        assert_eq!(nets.len(), lines.len());
        let mut sum = 0;
        for (shown, line) in nets.iter().zip(lines) {
            let net = line["net"]["minor"].as_i64().unwrap();
            assert_eq!(*shown, usd(net));
            sum += net;
        }
        assert_eq!(sum, amount, "the lines add up to the payout");
        assert_eq!(texts_of(&statement, "data-total")[0], usd(amount));
        assert_eq!(texts_of(&statement, "data-payout-amount")[0], usd(amount));
        // The CSV, with the session cookie: the same lines.
        let csv = browser
            .get(&format!("{money_path}/payouts/{payout_id}/statement.csv"))
            .await;
        assert_eq!(csv.status, 200);
        assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
        let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
        let header = reader.headers().unwrap().clone();
        let column = header.iter().position(|h| h == "net_minor").unwrap();
        let from_csv: i64 = reader
            .records()
            .map(|r| r.unwrap()[column].parse::<i64>().unwrap())
            .sum();
        assert_eq!(from_csv, amount);
    }

    // The period statement: the API's postings for the same days.
    let today = chrono::Utc::now().date_naive();
    let from_day = today - chrono::Duration::days(29);
    let statement = browser.get(&format!("{money_path}/statement")).await;
    assert_eq!(statement.status, 200, "{}", statement.body);
    let api = json_of(
        get_as(
            &app,
            &ann,
            &format!(
                "/v1/shops/{shop_id}/statement?from={from_day}T00:00:00Z&to={}T00:00:00Z",
                today + chrono::Duration::days(1)
            ),
        )
        .await,
        200,
    )
    .await;
    let postings = api["postings"].as_array().unwrap();
    assert_eq!(
        statement.body.matches("<tr data-posting>").count(),
        postings.len()
    );
    let closing: Vec<String> = api["closing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| usd(a["balance"]["minor"].as_i64().unwrap()))
        .collect();
    for figure in &closing {
        assert!(statement.shows(figure), "closing {figure}");
    }
    let csv = browser
        .get(&format!(
            "{money_path}/statement.csv?from={from_day}&to={today}"
        ))
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(
        csv.body.trim_end().lines().count(),
        postings.len() + 1,
        "a header and every posting"
    );

    // The disputed order: the whole share taken back, and why.
    let order_page = browser
        .get(&format!("/seller/shops/{shop_id}/orders/{disputed_id}"))
        .await;
    assert_eq!(order_page.status, 200, "{}", order_page.body);
    assert!(order_page.shows("The buyer disputes the payment"));
    let share = 1250 - market_fee(1250);
    assert_eq!(
        figure_row(&order_page, "Taken back from your share"),
        usd(share)
    );
    assert_eq!(figure_row(&order_page, "Owed to you now"), usd(0));

    // A bad period is the form again, with the field's error.
    let bad = browser
        .get(&format!("{money_path}/statement?from=yesterday&to={today}"))
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.shows("id=\"from-error\""), "{}", bad.body);
    assert!(bad.shows("aria-invalid=\"true\""));
    let backwards = browser
        .get(&format!(
            "{money_path}/statement?from={today}&to={from_day}"
        ))
        .await;
    assert_eq!(backwards.status, 422);
    assert!(backwards.shows("id=\"from-error\""));

    // Bob sees his failed payout, the bank's reason and what to do…
    let mut bobs = signed_in(&app, &bob).await;
    let bobs_id = bobs_shop["id"].as_str().unwrap();
    let his = bobs.get(&format!("/seller/shops/{bobs_id}/money")).await;
    assert_eq!(his.status, 200);
    let action = failed["action"].as_str().unwrap();
    assert!(his.shows(action), "{}", his.body);
    assert!(his.shows("class=\"payout-failed\""));
    // …and nothing of Ann's: her shop and her payout are not found.
    let payout_id = payouts[0]["id"].as_str().unwrap();
    for path in [
        money_path.clone(),
        format!("{money_path}/payouts/{payout_id}"),
        format!("{money_path}/payouts/{payout_id}/statement.csv"),
        format!("{money_path}/statement"),
        format!("{money_path}/statement.csv"),
        format!("/seller/shops/{bobs_id}/money/payouts/{payout_id}"),
    ] {
        let page = bobs.get(&path).await;
        assert_eq!(page.status, 404, "{path}");
    }

    // Not signed in: sign in first, then back here.
    let mut stranger = Browser::new(&app);
    let page = stranger.get(&money_path).await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location(),
        format!("/signin?next=%2Fseller%2Fshops%2F{shop_id}%2Fmoney")
    );
}
