//! Events that were never delivered are backfilled from the provider's events
//! list; two processes sharing one database never process an event twice.

use crate::common;
use crate::orders_support;

use std::path::PathBuf;
use std::time::Duration;

use bazaar::app::Application;
use common::people::{get_as, operator, pool, signup};
use common::{wait_until, TestApp, SANDBOX_KEY};
use diesel::prelude::*;
use orders_support::*;
use serde_json::Value;

/// How many events the sandbox holds for the platform and for `accounts`.
async fn sandbox_event_count(app: &TestApp, accounts: &[&str]) -> usize {
    let base = app.sandbox_url.as_deref().unwrap();
    let mut count = 0;
    for account in std::iter::once(None).chain(accounts.iter().map(Some)) {
        let mut request = app
            .client
            .get(format!("{base}/v1/events?limit=100"))
            .bearer_auth(SANDBOX_KEY);
        if let Some(account) = account {
            request = request.header("stripe-account", *account);
        }
        let page: Value = request.send().await.unwrap().json().await.unwrap();
        assert_eq!(page["has_more"], false);
        count += page["data"].as_array().unwrap().len();
    }
    count
}

#[tokio::test]
async fn missed_events_are_backfilled_and_processed_once() {
    // Every delivery waits 10 minutes: for this test, none arrives.
    let app = TestApp::spawn_with(&[("BAZAAR__SANDBOX__FAULT_DELAY_MS", "600000")], |_| {}).await;
    let since = chrono::Utc::now().timestamp() - 5;
    let market = market(&app).await;
    let ann = signup(&app, "seller").await;
    let shop = active_shop(&app, &ann, "USD").await;
    let vase = product(&app, &ann, &shop, "Vase", 3000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", None).await;
    let intent = order["payment"]["intent_id"].as_str().unwrap();
    app.sandbox_post(
        &format!("/v1/payment_intents/{intent}/confirm"),
        &[("payment_method", "pm_card_visa")],
    )
    .await;
    let order_path = format!("/v1/orders/{}", order["id"].as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        json_of(get_as(&app, &market.buyer, &order_path).await, 200).await["status"],
        "awaiting_payment"
    );

    let pool = pool(&app);
    let account = shop["provider_account_id"].as_str().unwrap();
    let expected = sandbox_event_count(&app, &[account]).await;
    let report = bazaar::webhooks::backfill(&pool, app.provider.as_ref(), since)
        .await
        .unwrap();
    assert_eq!(report.seen, expected);
    assert_eq!(report.stored, expected);
    assert!(report.accounts >= 2, "the platform and the shop's account");
    // The workers process what was backfilled: the payment lands, the share moves.
    wait_until(|| async {
        staff_view(&app, order["id"].as_str().unwrap()).await["parts"][0]["settlement"]["status"]
            == "settled"
    })
    .await;
    // Again: what was backfilled is a duplicate; only events made since (the
    // transfer the payment caused) are new. A third time, nothing is.
    let again = bazaar::webhooks::backfill(&pool, app.provider.as_ref(), since)
        .await
        .unwrap();
    let now_held = sandbox_event_count(&app, &[account]).await;
    assert_eq!(again.duplicates, expected);
    assert_eq!(again.stored, now_held - expected);
    assert!(again.stored >= 1, "the transfer's event");
    let third = bazaar::webhooks::backfill(&pool, app.provider.as_ref(), since)
        .await
        .unwrap();
    assert_eq!((third.stored, third.duplicates), (0, now_held));
}

#[derive(QueryableByName)]
struct JobRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    attempts: i32,
}

#[tokio::test]
async fn two_processes_on_one_database_process_each_event_once() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sandbox = bazaar::sandbox::Sandbox::start(
        bazaar::sandbox::SandboxConfig {
            secret_key: SANDBOX_KEY.into(),
            state_file: None,
            ..Default::default()
        },
        listener,
    )
    .await
    .unwrap();
    let overrides = [
        ("BAZAAR__PROVIDER__KIND", "stripe"),
        ("BAZAAR__PROVIDER__API_BASE", sandbox.base_url()),
        ("BAZAAR__PROVIDER__SECRET_KEY", SANDBOX_KEY),
        ("BAZAAR__PROVIDER__WEBHOOK_SECRETS", "whsec_two_platform"),
        (
            "BAZAAR__PROVIDER__CONNECT_WEBHOOK_SECRETS",
            "whsec_two_connect",
        ),
        ("BAZAAR__JOBS__WORKERS", "2"),
    ];
    let first = TestApp::spawn_with(&overrides, |_| {}).await;
    let second = Application::build(first.settings.clone()).await.unwrap();
    let second_address = format!("http://127.0.0.1:{}", second.port());
    tokio::spawn(second.run_until_stopped());

    // Every payload, posted to both processes at once.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("webhooks");
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    let secrets = bazaar::app::webhook_secrets(&first.settings);
    let (a, b) = tokio::join!(
        bazaar::webhooks::replay::replay_files(&first.address, &secrets, &files),
        bazaar::webhooks::replay::replay_files(&second_address, &secrets, &files),
    );
    let outcomes: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    assert!(outcomes.iter().all(|o| o.status == 200), "{outcomes:?}");
    let stored_first = outcomes
        .iter()
        .filter(|o| o.body.contains("\"duplicate\":false"))
        .count();
    assert_eq!(
        stored_first,
        files.len(),
        "each event stored by exactly one process"
    );

    let operator = operator(&first).await;
    wait_until(|| async {
        let done = json_of(
            get_as(&first, &operator, "/v1/jobs?status=done&limit=100").await,
            200,
        )
        .await;
        done["data"].as_array().unwrap().len() == files.len()
    })
    .await;
    let pool = pool(&first);
    let jobs: Vec<JobRow> = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        diesel::sql_query("SELECT status, attempts FROM jobs")
            .load(&mut conn)
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(jobs.len(), files.len());
    for job in &jobs {
        assert_eq!(
            (job.status.as_str(), job.attempts),
            ("done", 1),
            "claimed once, run once"
        );
    }
}

#[tokio::test]
async fn one_dispute_or_payout_recorded_by_many_at_once_is_recorded_once_without_error() {
    // What several events about one object do when workers process them at
    // once (a dispute's `created` and `funds_withdrawn`; a payout's `created`,
    // `updated` and `paid`): each records the whole object. Here six record
    // it at the same instant; every one succeeds and the facts are written once.
    let app = TestApp::spawn_with(&[("BAZAAR__JOBS__WORKERS", "0")], |_| {}).await;
    let market = market(&app).await;
    let ann = signup(&app, "seller").await;
    let shop = active_shop(&app, &ann, "USD").await;
    let vase = product(&app, &ann, &shop, "Vase", 3000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_createDispute")).await;
    let order_id = order["id"].as_str().unwrap();
    let dispute_id = disputes_opened(&app).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dispute = app.provider.retrieve_dispute(&dispute_id).await.unwrap();
    let pool = pool(&app);
    let mut racing = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (pool, provider, dispute) = (pool.clone(), app.provider.clone(), dispute.clone());
        racing.spawn(async move {
            bazaar::orders::disputes::apply_dispute(&pool, provider.as_ref(), &dispute).await
        });
    }
    while let Some(outcome) = racing.join_next().await {
        outcome
            .unwrap()
            .expect("each application of the dispute succeeds");
    }
    let view = staff_view(&app, order_id).await;
    assert_eq!(view["disputes"].as_array().unwrap().len(), 1);
    assert_eq!(view["parts"][0]["settlement"]["owed"]["minor"], 0);
    assert_eq!(
        transfers_of(&app, order_id).await[0]["amount_reversed"],
        3000 - market_fee(3000)
    );

    // A payout of the shop's account (a second, undisputed sale pays it).
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    checkout_ok(&app, &market.buyer, "k2", Some("pm_card_visa")).await;
    app.sandbox_post("/v1/test_helpers/advance_clock", &[("seconds", "345600")])
        .await;
    let account = shop["provider_account_id"].as_str().unwrap().to_owned();
    let base = app.sandbox_url.as_deref().unwrap();
    let payouts: Value = app
        .client
        .get(format!("{base}/v1/payouts"))
        .bearer_auth(SANDBOX_KEY)
        .header("stripe-account", &account)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let payout_id = payouts["data"][0]["id"]
        .as_str()
        .expect("a payout")
        .to_owned();
    let payout = app
        .provider
        .retrieve_payout(&account, &payout_id)
        .await
        .unwrap();
    let mut racing = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (pool, account, payout) = (pool.clone(), account.clone(), payout.clone());
        racing.spawn_blocking(move || {
            let mut conn = pool.get().unwrap();
            bazaar::payouts::record(&mut conn, &account, &payout)
        });
    }
    while let Some(outcome) = racing.join_next().await {
        outcome
            .unwrap()
            .expect("each record of the payout succeeds");
    }
    let listed = payouts_of(&app, &ann, &shop).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], payout_id.as_str());
}

#[tokio::test]
async fn a_dispute_that_overtakes_its_payment_applies_the_payment_first() {
    // No event is delivered (each waits 10 minutes): the dispute is applied
    // here while the order still waits for its payment, as when the dispute's
    // event is processed before the payment's.
    let app = TestApp::spawn_with(&[("BAZAAR__SANDBOX__FAULT_DELAY_MS", "600000")], |_| {}).await;
    let market = market(&app).await;
    let ann = signup(&app, "seller").await;
    let shop = active_shop(&app, &ann, "USD").await;
    let vase = product(&app, &ann, &shop, "Vase", 3000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", None).await;
    let order_id = order["id"].as_str().unwrap();
    let intent = order["payment"]["intent_id"].as_str().unwrap();
    app.sandbox_post(
        &format!("/v1/payment_intents/{intent}/confirm"),
        &[("payment_method", "pm_card_createDispute")],
    )
    .await;
    assert_eq!(
        staff_view(&app, order_id).await["status"],
        "awaiting_payment"
    );
    let dispute_id = disputes_opened(&app).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dispute = app.provider.retrieve_dispute(&dispute_id).await.unwrap();

    bazaar::orders::disputes::apply_dispute(&pool(&app), app.provider.as_ref(), &dispute)
        .await
        .expect("the dispute is applied without waiting for the payment's event");

    let view = staff_view(&app, order_id).await;
    assert_eq!(view["status"], "paid", "{view}");
    assert_eq!(view["disputes"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(view["disputes"][0]["id"], dispute_id.as_str());
    // The seller's share went out with the payment and came back with the
    // dispute: nothing is owed to it.
    let share = 3000 - market_fee(3000);
    assert_eq!(view["parts"][0]["settlement"]["owed"]["minor"], 0, "{view}");
    assert_eq!(
        transfers_of(&app, order_id).await[0]["amount_reversed"],
        share
    );
}
