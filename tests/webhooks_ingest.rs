//! Provider events in: signatures checked against vectors computed here,
//! storage once per event id, and processing by the job queue — events the
//! in-process sandbox delivers on its own drive orders, disputes and shops
//! without any sync call; a job that keeps failing becomes a dead letter an
//! operator can replay.

use crate::common;
use crate::orders_support;

use common::people::{get_as, operator, pool, post_as, signup};
use common::{assert_error, wait_until, TestApp, SANDBOX_KEY};
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use orders_support::*;
use serde_json::{json, Value};
use sha2::Sha256;

const OLD: &str = "whsec_old_secret_still_accepted";
const NEW: &str = "whsec_new_secret";
const CONNECT: &str = "whsec_connect_secret";

/// `t=…,v1=…` computed here: HMAC-SHA256 of "t.body" keyed with the secret.
fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn event(id: &str, kind: &str, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "object": "event", "api_version": "2026-09-30.endive", "created": now(),
        "data": {"object": object}, "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null}, "type": kind,
    }))
    .unwrap()
}

async fn deliver(
    app: &TestApp,
    path: &str,
    header: Option<String>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .body(body);
    if let Some(header) = header {
        request = request.header("stripe-signature", header);
    }
    request.send().await.unwrap()
}

async fn stored_events(app: &TestApp) -> i64 {
    let pool = pool(app);
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        bazaar::webhooks::schema::webhook_events::table
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap()
    })
    .await
    .unwrap()
}

async fn app_with_secrets() -> TestApp {
    let secrets = format!("{NEW},{OLD}");
    TestApp::spawn_with(
        &[
            ("BAZAAR__PROVIDER__WEBHOOK_SECRETS", &secrets),
            ("BAZAAR__PROVIDER__CONNECT_WEBHOOK_SECRETS", CONNECT),
        ],
        |_| {},
    )
    .await
}

#[tokio::test]
async fn signatures_are_checked_against_every_current_secret_and_the_clock() {
    let app = app_with_secrets().await;
    let body = event(
        "evt_sig_1",
        "customer.created",
        json!({"id": "cus_1", "object": "customer"}),
    );
    let t = now();
    // Past the 300 s tolerance by a margin: the server's clock may have ticked
    // a second since `t` was read.
    let refused = [
        (
            Some(format!("t={t},v1={}", signature("whsec_wrong", t, &body))),
            "signature_mismatch",
        ),
        (
            Some(format!(
                "t={},v1={}",
                t - 305,
                signature(NEW, t - 305, &body)
            )),
            "timestamp_out_of_tolerance",
        ),
        (
            Some(format!(
                "t={},v1={}",
                t + 305,
                signature(NEW, t + 305, &body)
            )),
            "timestamp_out_of_tolerance",
        ),
        (Some(format!("t={t}")), "malformed_signature"),
        (
            Some(format!("t={t},v0={}", signature(NEW, t, &body))),
            "malformed_signature",
        ),
        (Some("garbage".to_owned()), "malformed_signature"),
        (None, "missing_signature"),
    ];
    for (header, code) in refused {
        let response = deliver(&app, "/webhooks/stripe", header.clone(), body.clone()).await;
        assert_error(response, 400, code).await;
    }
    // One byte of the body changed after signing.
    let mut changed = body.clone();
    let last = changed.len() - 2;
    changed[last] = b' ';
    let header = format!("t={t},v1={}", signature(NEW, t, &body));
    assert_error(
        deliver(&app, "/webhooks/stripe", Some(header), changed).await,
        400,
        "signature_mismatch",
    )
    .await;
    // The platform secret does not open the connect endpoint.
    let header = format!("t={t},v1={}", signature(NEW, t, &body));
    assert_error(
        deliver(&app, "/webhooks/stripe/connect", Some(header), body.clone()).await,
        400,
        "signature_mismatch",
    )
    .await;
    assert_eq!(stored_events(&app).await, 0, "nothing refused is stored");

    // Accepted: the old secret during a roll, and several v1 with one valid.
    let header = format!("t={t},v1={}", signature(OLD, t, &body));
    let accepted = json_of(
        deliver(&app, "/webhooks/stripe", Some(header), body.clone()).await,
        200,
    )
    .await;
    assert_eq!(accepted, json!({"received": true, "duplicate": false}));
    let body2 = event(
        "evt_sig_2",
        "customer.created",
        json!({"id": "cus_2", "object": "customer"}),
    );
    let header = format!(
        "t={t},v1={},v1={}",
        signature("whsec_wrong", t, &body2),
        signature(NEW, t - 1 + 1, &body2)
    );
    json_of(
        deliver(&app, "/webhooks/stripe", Some(header), body2).await,
        200,
    )
    .await;
    assert_eq!(stored_events(&app).await, 2);
}

#[tokio::test]
async fn an_event_is_stored_once_and_unknown_types_are_acknowledged() {
    let app = app_with_secrets().await;
    let t = now();
    let body = event("evt_dup_1", "some.future_type", json!({"id": "thing_1"}));
    let header = format!("t={t},v1={}", signature(NEW, t, &body));
    let first = json_of(
        deliver(&app, "/webhooks/stripe", Some(header.clone()), body.clone()).await,
        200,
    )
    .await;
    let second = json_of(
        deliver(&app, "/webhooks/stripe", Some(header), body).await,
        200,
    )
    .await;
    assert_eq!(first["duplicate"], false);
    assert_eq!(second["duplicate"], true);
    assert_eq!(stored_events(&app).await, 1);
    // Processed (nothing to do) by the worker: its job is done, not dead.
    let operator = operator(&app).await;
    wait_until(|| async { job_count(&app, &operator, "done").await == 1 }).await;
    assert_eq!(job_count(&app, &operator, "dead").await, 0);

    // A connected account's event belongs at the connect endpoint.
    let connected = serde_json::to_vec(&{
        let mut e: Value =
            serde_json::from_slice(&event("evt_acct_1", "payout.paid", json!({"id": "po_1"})))
                .unwrap();
        e["account"] = json!("acct_1");
        e
    })
    .unwrap();
    let header = format!("t={t},v1={}", signature(NEW, t, &connected));
    assert_error(
        deliver(&app, "/webhooks/stripe", Some(header), connected.clone()).await,
        400,
        "wrong_endpoint",
    )
    .await;
    let header = format!("t={t},v1={}", signature(CONNECT, t, &connected));
    json_of(
        deliver(&app, "/webhooks/stripe/connect", Some(header), connected).await,
        200,
    )
    .await;
    // Not an event at all, though signed.
    let junk = b"{\"hello\": 1}".to_vec();
    let header = format!("t={t},v1={}", signature(NEW, t, &junk));
    assert_error(
        deliver(&app, "/webhooks/stripe", Some(header), junk).await,
        400,
        "invalid_event",
    )
    .await;
}

async fn job_count(app: &TestApp, operator: &common::people::Person, status: &str) -> usize {
    let jobs = json_of(
        get_as(
            app,
            operator,
            &format!("/v1/jobs?status={status}&limit=100"),
        )
        .await,
        200,
    )
    .await;
    jobs["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn the_sandboxs_own_events_pay_orders_open_disputes_and_activate_shops() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let ann = signup(&app, "seller").await;
    // account.updated, delivered to the connect endpoint, activates the shop.
    let body = json!({"name": "Ann's", "slug": "anns-hooks", "country": "US", "default_currency": "USD", "support_email": "a@shop.example"});
    let shop = json_of(post_as(&app, &ann, "/v1/shops", &body).await, 201).await;
    let account = shop["provider_account_id"].as_str().unwrap();
    app.sandbox_post(
        &format!("/v1/test_helpers/accounts/{account}/complete_onboarding"),
        &[],
    )
    .await;
    let shop_path = format!("/v1/shops/{}", shop["id"].as_str().unwrap());
    wait_until(|| async {
        json_of(get_as(&app, &ann, &shop_path).await, 200).await["status"] == "active"
    })
    .await;
    let shop = json_of(get_as(&app, &ann, &shop_path).await, 200).await;

    // payment_intent.succeeded marks the order paid and routes the share.
    let vase = product(&app, &ann, &shop, "Vase", 3000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", None).await;
    let order_id = order["id"].as_str().unwrap();
    let intent = order["payment"]["intent_id"].as_str().unwrap();
    app.sandbox_post(
        &format!("/v1/payment_intents/{intent}/confirm"),
        &[("payment_method", "pm_card_visa")],
    )
    .await;
    wait_until(|| async {
        staff_view(&app, order_id).await["parts"][0]["settlement"]["status"] == "settled"
    })
    .await;
    assert_eq!(
        transfers_of(&app, order_id).await[0]["amount"],
        3000 - market_fee(3000)
    );

    // charge.dispute.created takes the share back.
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    let disputed = checkout_ok(&app, &market.buyer, "k2", Some("pm_card_createDispute")).await;
    let disputed_id = disputed["id"].as_str().unwrap();
    wait_until(|| async {
        let seen = staff_view(&app, disputed_id).await;
        seen["disputed"] == true && seen["parts"][0]["settlement"]["status"] == "settled"
    })
    .await;
    let transfers = transfers_of(&app, disputed_id).await;
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0]["amount_reversed"], transfers[0]["amount"]);
}

#[tokio::test]
async fn a_job_that_keeps_failing_is_a_dead_letter_an_operator_replays() {
    // A provider that cannot be reached: processing a payment event fails.
    let port = common::cli::free_port();
    let api_base = format!("http://127.0.0.1:{port}");
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__PROVIDER__KIND", "stripe"),
            ("BAZAAR__PROVIDER__API_BASE", &api_base),
            ("BAZAAR__PROVIDER__SECRET_KEY", SANDBOX_KEY),
            ("BAZAAR__PROVIDER__WEBHOOK_SECRETS", NEW),
            ("BAZAAR__PROVIDER__CONNECT_WEBHOOK_SECRETS", CONNECT),
            ("BAZAAR__PROVIDER__RETRY_ATTEMPTS_MAX", "1"),
            ("BAZAAR__JOBS__ATTEMPTS_MAX", "3"),
        ],
        |_| {},
    )
    .await;
    let operator = operator(&app).await;
    let t = now();
    let body = event(
        "evt_dead_1",
        "payment_intent.succeeded",
        json!({"id": "pi_123", "object": "payment_intent"}),
    );
    let header = format!("t={t},v1={}", signature(NEW, t, &body));
    json_of(
        deliver(&app, "/webhooks/stripe", Some(header), body).await,
        200,
    )
    .await;
    wait_until(|| async { job_count(&app, &operator, "dead").await == 1 }).await;
    let dead = json_of(get_as(&app, &operator, "/v1/jobs?status=dead").await, 200).await;
    let job = &dead["data"][0];
    assert_eq!(job["attempts"], 3);
    assert_eq!(job["subject"], "evt_dead_1");
    assert!(
        job["last_error"]
            .as_str()
            .unwrap()
            .contains("service_unavailable"),
        "{job}"
    );

    // Finance may look, not replay; the operator's replay is audited and runs again.
    let finance = common::people::staff(&app, &operator, "finance").await;
    assert_eq!(job_count(&app, &finance, "dead").await, 1);
    let path = format!("/v1/jobs/{}/replay", job["id"].as_str().unwrap());
    assert_error(
        post_as(&app, &finance, &path, &json!({})).await,
        403,
        "forbidden",
    )
    .await;
    let replayed = json_of(post_as(&app, &operator, &path, &json!({})).await, 200).await;
    assert_eq!(replayed["status"], "queued");
    assert_eq!(
        common::people::audit_rows(&app, &operator, "job.replay")
            .await
            .len(),
        1
    );
    wait_until(|| async {
        let dead = json_of(get_as(&app, &operator, "/v1/jobs?status=dead").await, 200).await;
        dead["data"][0]["attempts"] == 3
    })
    .await;
    assert_error(
        post_as(&app, &operator, "/v1/jobs/job_nope/replay", &json!({})).await,
        404,
        "not_found",
    )
    .await;

    // Dead again: replaying every dead job at once, also audited per job.
    assert_error(
        post_as(&app, &finance, "/v1/jobs/replay", &json!({})).await,
        403,
        "forbidden",
    )
    .await;
    let all = json_of(
        post_as(&app, &operator, "/v1/jobs/replay", &json!({})).await,
        200,
    )
    .await;
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    assert_eq!(all["data"][0]["status"], "queued");
    assert_eq!(all["has_more"], false);
    assert_eq!(
        common::people::audit_rows(&app, &operator, "job.replay")
            .await
            .len(),
        2
    );
}
