//! The sandbox's HTTP API: wire format, bad input, idempotency, payments, onboarding.

use crate::sandbox_support;

use sandbox_support::{err, Env};
use serde_json::Value;

#[tokio::test]
async fn requests_need_the_secret_key() {
    let env = Env::default().await;
    let url = format!("{}/v1/balance", env.base);
    let none = env.http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "api_key_invalid");
    let wrong = env
        .http
        .get(&url)
        .bearer_auth("sk_test_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // Stripe also takes the key as the HTTP Basic user name.
    let basic = env
        .http
        .get(&url)
        .basic_auth(&env.key, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    let ok = env.get("/v1/balance", None).await;
    assert_eq!(ok["object"], "balance");
}

#[tokio::test]
async fn unknown_parameters_are_refused_and_change_nothing() {
    let env = Env::default().await;
    let r = env
        .send(
            "POST",
            "/v1/payment_intents",
            &[("amount", "1000"), ("currency", "usd"), ("colour", "red")],
            None,
            None,
        )
        .await;
    let e = err(&r, 400, "invalid_request_error", "parameter_unknown");
    assert_eq!(e["param"], "colour");
    assert_eq!(e["message"], "Received unknown parameter: colour");

    let r = env
        .send(
            "POST",
            "/v1/accounts",
            &[("business_profile[colour]", "red")],
            None,
            None,
        )
        .await;
    let e = err(&r, 400, "invalid_request_error", "parameter_unknown");
    assert_eq!(e["param"], "business_profile[colour]");

    // Found by fuzzing the form decoder: a body of only index-like names once
    // decoded to an array, read as no parameters, and created an account.
    let r = env
        .send(
            "POST",
            "/v1/accounts",
            &[("0", "x"), ("1", "y")],
            None,
            None,
        )
        .await;
    let e = err(&r, 400, "invalid_request_error", "parameter_unknown");
    assert_eq!(e["param"], "0");

    let r = env
        .send(
            "POST",
            "/v1/payment_intents",
            &[("currency", "usd")],
            None,
            None,
        )
        .await;
    assert_eq!(
        err(&r, 400, "invalid_request_error", "parameter_missing")["param"],
        "amount"
    );

    let r = env
        .send(
            "POST",
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("metadata[k]", &"x".repeat(501)),
            ],
            None,
            None,
        )
        .await;
    err(&r, 400, "invalid_request_error", "parameter_invalid_string");

    assert!(env.events(None).await.is_empty(), "an error emitted events");
    assert_eq!(env.balance(None, "usd").await, (0, 0));
}

#[tokio::test]
async fn amounts_and_currencies_are_checked() {
    let env = Env::default().await;
    for amount in ["0", "-5"] {
        let r = env
            .send(
                "POST",
                "/v1/payment_intents",
                &[("amount", amount), ("currency", "usd")],
                None,
                None,
            )
            .await;
        let e = err(
            &r,
            400,
            "invalid_request_error",
            "parameter_invalid_integer",
        );
        assert_eq!(e["param"], "amount");
    }
    let r = env
        .send(
            "POST",
            "/v1/payment_intents",
            &[("amount", "1.5"), ("currency", "usd")],
            None,
            None,
        )
        .await;
    err(
        &r,
        400,
        "invalid_request_error",
        "parameter_invalid_integer",
    );
    let r = env
        .send(
            "POST",
            "/v1/payment_intents",
            &[("amount", "49"), ("currency", "usd")],
            None,
            None,
        )
        .await;
    assert_eq!(
        err(&r, 400, "invalid_request_error", "amount_too_small")["param"],
        "amount"
    );
    let r = env
        .send(
            "POST",
            "/v1/payment_intents",
            &[("amount", "1000"), ("currency", "xyz")],
            None,
            None,
        )
        .await;
    assert_eq!(
        err(&r, 400, "invalid_request_error", "invalid_currency")["param"],
        "currency"
    );
    assert!(env.events(None).await.is_empty());
}

#[tokio::test]
async fn a_visa_payment_succeeds_with_a_fee_and_pending_funds() {
    let env = Env::default().await;
    let pi = env.pay(10_000, "usd", "pm_card_visa").await;
    assert_eq!(pi["object"], "payment_intent");
    assert_eq!(pi["status"], "succeeded");
    assert_eq!(pi["amount_received"], 10_000);
    assert!(pi["id"].as_str().unwrap().starts_with("pi_"));
    let charge_id = pi["latest_charge"].as_str().unwrap();
    assert!(charge_id.starts_with("ch_"));

    let charge = env
        .get(
            &format!("/v1/charges/{charge_id}?expand[]=balance_transaction"),
            None,
        )
        .await;
    let txn = &charge["balance_transaction"];
    assert_eq!(txn["object"], "balance_transaction");
    // 2.9 % of 100.00 is 2.90, plus 0.30.
    assert_eq!(txn["fee"], 320);
    assert_eq!(txn["net"], 9_680);
    assert_eq!(txn["type"], "charge");
    assert_eq!(txn["reporting_category"], "charge");
    assert_eq!(txn["status"], "pending");
    assert_eq!(
        txn["available_on"].as_i64().unwrap(),
        charge["created"].as_i64().unwrap() + 172_800
    );
    // The indexed form serde_qs sends expands too.
    let again = env
        .get(
            &format!("/v1/charges/{charge_id}?expand[0]=balance_transaction"),
            None,
        )
        .await;
    assert_eq!(again["balance_transaction"]["id"], txn["id"]);
    assert_eq!(env.balance(None, "usd").await, (0, 9_680));
    let types: Vec<Value> = env
        .events(None)
        .await
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(
        types,
        [
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded"
        ]
    );
}

#[tokio::test]
async fn a_declined_card_answers_402_and_records_the_failure() {
    let env = Env::default().await;
    let r = env
        .send(
            "POST",
            "/v1/payment_intents",
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_chargeDeclined"),
                ("confirm", "true"),
            ],
            None,
            None,
        )
        .await;
    let e = err(&r, 402, "card_error", "card_declined");
    assert_eq!(e["decline_code"], "generic_decline");
    let pi = &e["payment_intent"];
    assert_eq!(pi["status"], "requires_payment_method");
    assert_eq!(pi["last_payment_error"]["decline_code"], "generic_decline");
    let fetched = env
        .get(
            &format!("/v1/payment_intents/{}", pi["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(fetched["status"], "requires_payment_method");
    let types: Vec<Value> = env
        .events(None)
        .await
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert!(
        types.contains(&Value::from("payment_intent.payment_failed")),
        "{types:?}"
    );
    assert_eq!(env.balance(None, "usd").await, (0, 0));

    // A new card on the same intent succeeds.
    let ok = env
        .post(
            &format!("/v1/payment_intents/{}/confirm", pi["id"].as_str().unwrap()),
            &[("payment_method", "pm_card_visa")],
        )
        .await;
    assert_eq!(ok["status"], "succeeded");
}

#[tokio::test]
async fn idempotent_replays_and_conflicts() {
    let env = Env::default().await;
    let form = [
        ("amount", "1500"),
        ("currency", "usd"),
        ("metadata[order]", "o-1"),
    ];
    let first = env
        .send("POST", "/v1/payment_intents", &form, None, Some("key-1"))
        .await;
    assert_eq!(first.status, 200);
    let second = env
        .send("POST", "/v1/payment_intents", &form, None, Some("key-1"))
        .await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body, first.body);
    assert_eq!(second.headers["Idempotent-Replayed"], "true");

    let other = [
        ("amount", "1600"),
        ("currency", "usd"),
        ("metadata[order]", "o-1"),
    ];
    let r = env
        .send("POST", "/v1/payment_intents", &other, None, Some("key-1"))
        .await;
    err(&r, 400, "idempotency_error", "idempotency_key_reused");
    let r = env
        .send(
            "POST",
            "/v1/accounts",
            &[("country", "US")],
            None,
            Some("key-1"),
        )
        .await;
    err(&r, 400, "idempotency_error", "idempotency_key_reused");

    let created: Vec<Value> = env
        .events(None)
        .await
        .into_iter()
        .filter(|e| e["type"] == "payment_intent.created")
        .collect();
    assert_eq!(created.len(), 1, "a replay created a second intent");
    assert_eq!(created[0]["request"]["idempotency_key"], "key-1");
}

#[tokio::test]
async fn transfers_are_bounded_by_their_source_charge() {
    let env = Env::default().await;
    let seller = env.seller().await;
    let pi = env.pay(1_000, "usd", "pm_card_visa").await;
    let charge = pi["latest_charge"].as_str().unwrap();
    let platform_before = env.balance(None, "usd").await;

    let transfer = |amount: &'static str, currency: &'static str, dest: String| {
        let env = &env;
        async move {
            env.send(
                "POST",
                "/v1/transfers",
                &[
                    ("amount", amount),
                    ("currency", currency),
                    ("destination", &dest),
                    ("source_transaction", charge),
                ],
                None,
                None,
            )
            .await
        }
    };
    let r = transfer("500", "eur", seller.clone()).await;
    assert_eq!(
        err(&r, 400, "invalid_request_error", "currency_mismatch")["param"],
        "currency"
    );
    let r = transfer("1001", "usd", seller.clone()).await;
    assert_eq!(
        err(&r, 400, "invalid_request_error", "amount_too_large")["param"],
        "amount"
    );
    let r = transfer("500", "usd", "acct_nope".into()).await;
    assert_eq!(
        err(&r, 400, "invalid_request_error", "resource_missing")["param"],
        "destination"
    );
    let unboarded = env.post("/v1/accounts", &[("country", "US")]).await;
    let r = transfer("500", "usd", unboarded["id"].as_str().unwrap().into()).await;
    err(
        &r,
        400,
        "invalid_request_error",
        "insufficient_capabilities_for_transfer",
    );
    let r = transfer("0", "usd", seller.clone()).await;
    err(
        &r,
        400,
        "invalid_request_error",
        "parameter_invalid_integer",
    );

    let ok = transfer("600", "usd", seller.clone()).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body["destination_payment"]
        .as_str()
        .unwrap()
        .starts_with("py_"));
    // 1000 − 600 leaves 400.
    let r = transfer("401", "usd", seller.clone()).await;
    err(&r, 400, "invalid_request_error", "amount_too_large");

    let list = env.get("/v1/transfers", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(env.balance(Some(&seller), "usd").await, (0, 600));
    let (available, pending) = platform_before;
    assert_eq!(env.balance(None, "usd").await, (available, pending - 600));

    // The seller's side: a py_ payment with a pending balance transaction.
    let py = env
        .get(
            &format!(
                "/v1/charges/{}?expand[]=balance_transaction",
                ok.body["destination_payment"].as_str().unwrap()
            ),
            Some(&seller),
        )
        .await;
    assert_eq!(py["balance_transaction"]["type"], "payment");
    assert_eq!(py["balance_transaction"]["net"], 600);

    // Reversals: never more than what is left.
    let tr = ok.body["id"].as_str().unwrap();
    let r = env
        .send(
            "POST",
            &format!("/v1/transfers/{tr}/reversals"),
            &[("amount", "601")],
            None,
            None,
        )
        .await;
    err(&r, 400, "invalid_request_error", "amount_too_large");
    let rev = env
        .post(
            &format!("/v1/transfers/{tr}/reversals"),
            &[("amount", "200")],
        )
        .await;
    assert_eq!(rev["object"], "transfer_reversal");
    assert!(rev["id"].as_str().unwrap().starts_with("trr_"));
    let t = env.get(&format!("/v1/transfers/{tr}"), None).await;
    assert_eq!(t["amount_reversed"], 200);
    assert_eq!(t["reversed"], false);
    assert_eq!(env.balance(Some(&seller), "usd").await, (-200, 600));
    // The reversal returned capacity on the source charge: 1000 − 400.
    let r = transfer("600", "usd", seller.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn refunds_never_exceed_what_is_left() {
    let env = Env::default().await;
    let pi = env.pay(1_000, "usd", "pm_card_visa").await;
    let pi_id = pi["id"].as_str().unwrap();
    let refund = env
        .post(
            "/v1/refunds",
            &[("payment_intent", pi_id), ("amount", "400")],
        )
        .await;
    assert_eq!(refund["object"], "refund");
    assert_eq!(refund["status"], "succeeded");
    let before = env.balance(None, "usd").await;
    let r = env
        .send(
            "POST",
            "/v1/refunds",
            &[("payment_intent", pi_id), ("amount", "601")],
            None,
            None,
        )
        .await;
    assert_eq!(
        err(&r, 400, "invalid_request_error", "amount_too_large")["param"],
        "amount"
    );
    assert_eq!(env.balance(None, "usd").await, before);
    let rest = env
        .post(
            "/v1/refunds",
            &[("charge", pi["latest_charge"].as_str().unwrap())],
        )
        .await;
    assert_eq!(rest["amount"], 600);
    let r = env
        .send(
            "POST",
            "/v1/refunds",
            &[("payment_intent", pi_id)],
            None,
            None,
        )
        .await;
    err(&r, 400, "invalid_request_error", "charge_already_refunded");
    let charge = env
        .get(
            &format!("/v1/charges/{}", pi["latest_charge"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(charge["amount_refunded"], 1_000);
    assert_eq!(charge["refunded"], true);
    // Charge 1000 − fee 59 pending; refunds −1000 available at once (the fee is kept).
    assert_eq!(env.balance(None, "usd").await, (-1_000, 941));
    let txns = env.get("/v1/balance_transactions?type=refund", None).await;
    let amounts: Vec<i64> = txns["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [-600, -400]);
}

#[tokio::test]
async fn onboarding_through_the_account_link_page() {
    let env = Env::default().await;
    let acct = env
        .post(
            "/v1/accounts",
            &[
                ("type", "express"),
                ("country", "US"),
                ("metadata[shop]", "s1"),
                ("capabilities[transfers][requested]", "true"),
            ],
        )
        .await;
    let id = acct["id"].as_str().unwrap();
    assert!(id.starts_with("acct_"));
    assert_eq!(acct["charges_enabled"], false);
    assert_eq!(acct["details_submitted"], false);
    assert_eq!(acct["metadata"]["shop"], "s1");
    let due: Vec<&str> = acct["requirements"]["currently_due"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(due.contains(&"external_account"), "{due:?}");

    let link = env
        .post(
            "/v1/account_links",
            &[
                ("account", id),
                ("type", "account_onboarding"),
                ("refresh_url", "https://shop.example/refresh"),
                ("return_url", "https://shop.example/return"),
            ],
        )
        .await;
    assert_eq!(link["object"], "account_link");
    assert_eq!(
        link["expires_at"].as_i64().unwrap(),
        link["created"].as_i64().unwrap() + 300
    );
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&env.base), "{url}");

    let no_redirects = crate::common::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = no_redirects.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("<form method=\"post\">"));
    // The hosted form's fields, filled in as a seller would (Stripe's test bank numbers).
    let done = no_redirects
        .post(url)
        .form(&[
            ("business_name", "Ann's Pottery"),
            ("business_type", "individual"),
            ("first_name", "Ann"),
            ("last_name", "Potter"),
            ("dob", "1990-04-27"),
            ("routing_number", "110000000"),
            ("account_number", "000123456789"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], "https://shop.example/return");
    // A link works once; afterwards it sends the user to refresh_url.
    let again = no_redirects.get(url).send().await.unwrap();
    assert_eq!(again.status(), 302);
    assert_eq!(again.headers()["location"], "https://shop.example/refresh");

    let acct = env.get(&format!("/v1/accounts/{id}"), None).await;
    assert_eq!(acct["charges_enabled"], true);
    assert_eq!(acct["payouts_enabled"], true);
    assert_eq!(acct["capabilities"]["transfers"], "active");
    assert!(acct["requirements"]["currently_due"]
        .as_array()
        .unwrap()
        .is_empty());
    let events = env.events(Some(id)).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "account.updated");
    assert_eq!(events[0]["account"], id);
    assert_eq!(
        events[0]["data"]["previous_attributes"]["charges_enabled"],
        false
    );

    let restricted = env
        .post(
            &format!("/v1/test_helpers/accounts/{id}/restrict"),
            &[("disabled_reason", "rejected.fraud")],
        )
        .await;
    assert_eq!(restricted["charges_enabled"], false);
    assert_eq!(
        restricted["requirements"]["disabled_reason"],
        "rejected.fraud"
    );
}

#[tokio::test]
async fn unknown_objects_and_routes_are_404() {
    let env = Env::default().await;
    for path in [
        "/v1/charges/ch_nope",
        "/v1/payment_intents/pi_nope",
        "/v1/payouts/po_nope",
        "/v1/nothing",
    ] {
        let r = env.send("GET", path, &[], None, None).await;
        err(&r, 404, "invalid_request_error", "resource_missing");
    }
    let r = env
        .send("GET", "/v1/balance", &[], Some("acct_nope"), None)
        .await;
    assert_eq!(r.status, 403);
    let r = env
        .send("GET", "/v1/balance_transactions?limit=101", &[], None, None)
        .await;
    err(
        &r,
        400,
        "invalid_request_error",
        "parameter_invalid_integer",
    );
    let r = env
        .send(
            "POST",
            "/v1/payment_intents",
            &[("amount[x]", "1"), ("amount", "2")],
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn lists_paginate_newest_first() {
    let env = Env::default().await;
    for _ in 0..3 {
        env.pay(1_000, "usd", "pm_card_visa").await;
    }
    let page1 = env.get("/v1/balance_transactions?limit=2", None).await;
    assert_eq!(page1["object"], "list");
    assert_eq!(page1["url"], "/v1/balance_transactions");
    assert_eq!(page1["has_more"], true);
    let data = page1["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let last = data[1]["id"].as_str().unwrap();
    let page2 = env
        .get(
            &format!("/v1/balance_transactions?limit=2&starting_after={last}"),
            None,
        )
        .await;
    assert_eq!(page2["has_more"], false);
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
}
