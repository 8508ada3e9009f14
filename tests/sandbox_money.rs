//! Money over time: the clock, funds becoming available, automatic and manual payouts
//! (paid and failed), disputes won and lost, and persistence across restarts.
//! Expected amounts are worked out by hand in each test, never by sandbox code.

use crate::sandbox_support;

use bazaar::sandbox::SandboxConfig;
use sandbox_support::{err, event_type, json, Env, Receiver, WAIT};
use serde_json::Value;
use stripe_webhook::{EventObject, Webhook};

const DAY: i64 = 86_400;
const CONNECT_SECRET: &str = "whsec_connect_money";

async fn transfer_from(env: &Env, charge: &str, seller: &str, amount: i64) -> Value {
    env.post(
        "/v1/transfers",
        &[
            ("amount", &amount.to_string()),
            ("currency", "usd"),
            ("destination", seller),
            ("source_transaction", charge),
        ],
    )
    .await
}

async fn payouts_of(env: &Env, seller: &str) -> Vec<Value> {
    env.get("/v1/payouts", Some(seller)).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn funds_become_available_and_are_paid_out_on_schedule() {
    let mut connect = Receiver::start().await;
    let env = Env::start(SandboxConfig {
        webhook_endpoints: vec![connect.endpoint(CONNECT_SECRET, true)],
        ..SandboxConfig::default()
    })
    .await;
    let seller = env.seller().await;
    let pi = env.pay(10_000, "usd", "pm_card_visa").await;
    let charge = pi["latest_charge"].as_str().unwrap();
    let tr = transfer_from(&env, charge, &seller, 8_000).await;
    env.post(
        &format!("/v1/transfers/{}/reversals", tr["id"].as_str().unwrap()),
        &[("amount", "1000")],
    )
    .await;
    assert_eq!(env.balance(Some(&seller), "usd").await, (-1_000, 8_000));
    // Platform: charge 10000 − fee 320 = 9680 pending, transfer −8000 pending with it,
    // reversal +1000 available at once.
    assert_eq!(env.balance(None, "usd").await, (1_000, 1_680));

    // Day one: nothing is available to pay out yet.
    env.advance(DAY).await;
    assert!(payouts_of(&env, &seller).await.is_empty());
    // Past day three the funds (available after two days) are swept into one payout.
    let r = env.advance(2 * DAY + 60).await;
    assert_eq!(r["object"], "test_helpers.clock");
    assert_eq!(env.balance(None, "usd").await, (2_680, 0));
    let payouts = payouts_of(&env, &seller).await;
    assert_eq!(payouts.len(), 1, "{payouts:?}");
    let po = &payouts[0];
    assert_eq!(po["amount"], 7_000);
    assert_eq!(po["automatic"], true);
    assert_eq!(po["method"], "standard");
    assert!(po["id"].as_str().unwrap().starts_with("po_"));
    assert_eq!(env.balance(Some(&seller), "usd").await, (0, 0));

    let po_id = po["id"].as_str().unwrap();
    let settled = env
        .get(
            &format!("/v1/balance_transactions?payout={po_id}"),
            Some(&seller),
        )
        .await;
    let mut rows: Vec<(String, String, i64)> = settled["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["type"].as_str().unwrap().to_owned(),
                t["reporting_category"].as_str().unwrap().to_owned(),
                t["net"].as_i64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("payment".to_owned(), "charge".to_owned(), 8_000),
            ("payment_refund".to_owned(), "refund".to_owned(), -1_000),
        ]
    );
    assert_eq!(rows.iter().map(|r| r.2).sum::<i64>(), 7_000);

    env.advance(DAY).await;
    let paid = env
        .get(&format!("/v1/payouts/{po_id}"), Some(&seller))
        .await;
    assert_eq!(paid["status"], "paid");
    let got = connect.until("payout.paid", WAIT).await;
    let kinds: Vec<String> = got.iter().map(event_type).collect();
    assert!(kinds.contains(&"balance.available".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"payout.created".to_owned()), "{kinds:?}");
    let r = got.last().unwrap();
    let event = Webhook::construct_event(&r.body, &r.signature, CONNECT_SECRET).unwrap();
    assert_eq!(event.account.as_deref(), Some(seller.as_str()));
    assert!(matches!(event.data.object, EventObject::PayoutPaid(_)));
    assert_eq!(
        json(r)["data"]["previous_attributes"]["status"],
        "in_transit"
    );
}

#[tokio::test]
async fn a_failing_bank_account_returns_the_payout() {
    let env = Env::default().await;
    let seller = env.seller().await;
    env.post(
        &format!("/v1/test_helpers/accounts/{seller}/external_account"),
        &[("account_number", "000111111116")],
    )
    .await;
    let pi = env.pay(5_000, "usd", "pm_card_visa").await;
    transfer_from(&env, pi["latest_charge"].as_str().unwrap(), &seller, 3_000).await;
    env.advance(3 * DAY + 60).await;
    let payouts = payouts_of(&env, &seller).await;
    assert_eq!(payouts.len(), 1);
    let po_id = payouts[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(payouts[0]["amount"], 3_000);
    env.advance(DAY + 60).await;
    let failed = env
        .get(&format!("/v1/payouts/{po_id}"), Some(&seller))
        .await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["failure_code"], "no_account");
    assert!(failed["failure_balance_transaction"]
        .as_str()
        .unwrap()
        .starts_with("txn_"));
    let back = env
        .get(
            "/v1/balance_transactions?type=payout_failure",
            Some(&seller),
        )
        .await;
    assert_eq!(back["data"][0]["amount"], 3_000);
    assert_eq!(back["data"][0]["reporting_category"], "payout_reversal");
    let events = env.events(Some(&seller)).await;
    let failed_event = events
        .iter()
        .find(|e| e["type"] == "payout.failed")
        .expect("payout.failed");
    assert_eq!(failed_event["account"], seller.as_str());
    assert_eq!(failed_event["data"]["object"]["failure_code"], "no_account");
    // The money is back, and payouts stop until the bank account is replaced.
    let acct = env.get(&format!("/v1/accounts/{seller}"), None).await;
    assert_eq!(acct["payouts_enabled"], false);
    assert_eq!(acct["external_accounts"]["data"][0]["status"], "errored");
    env.advance(2 * DAY).await;
    assert_eq!(env.balance(Some(&seller), "usd").await, (3_000, 0));
    assert_eq!(payouts_of(&env, &seller).await.len(), 1);
    env.post(
        &format!("/v1/test_helpers/accounts/{seller}/external_account"),
        &[("account_number", "000123456789")],
    )
    .await;
    env.advance(DAY).await;
    let payouts = payouts_of(&env, &seller).await;
    assert_eq!(payouts.len(), 2);
    assert_eq!(payouts[0]["amount"], 3_000);
    let settled = env
        .get(
            &format!(
                "/v1/balance_transactions?payout={}",
                payouts[0]["id"].as_str().unwrap()
            ),
            Some(&seller),
        )
        .await;
    let data = settled["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["type"], "payout_failure");
}

#[tokio::test]
async fn manual_payouts_are_bounded_by_the_available_balance() {
    let env = Env::default().await;
    let acct = env
        .post(
            "/v1/accounts",
            &[
                ("country", "US"),
                ("capabilities[transfers][requested]", "true"),
                ("settings[payouts][schedule][interval]", "manual"),
            ],
        )
        .await;
    let seller = acct["id"].as_str().unwrap().to_owned();
    env.post(
        &format!("/v1/test_helpers/accounts/{seller}/complete_onboarding"),
        &[],
    )
    .await;
    let pi = env.pay(5_000, "usd", "pm_card_visa").await;
    transfer_from(&env, pi["latest_charge"].as_str().unwrap(), &seller, 2_000).await;
    env.advance(3 * DAY).await;
    assert!(
        payouts_of(&env, &seller).await.is_empty(),
        "manual schedule paid out"
    );
    assert_eq!(env.balance(Some(&seller), "usd").await, (2_000, 0));

    let r = env
        .send(
            "POST",
            "/v1/payouts",
            &[("amount", "2001"), ("currency", "usd")],
            Some(&seller),
            None,
        )
        .await;
    err(&r, 400, "invalid_request_error", "balance_insufficient");
    assert!(payouts_of(&env, &seller).await.is_empty());
    assert_eq!(env.balance(Some(&seller), "usd").await, (2_000, 0));

    let r = env
        .send(
            "POST",
            "/v1/payouts",
            &[
                ("amount", "1500"),
                ("currency", "usd"),
                ("metadata[run]", "r1"),
            ],
            Some(&seller),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["automatic"], false);
    assert_eq!(r.body["metadata"]["run"], "r1");
    let own = env
        .get(
            &format!(
                "/v1/balance_transactions?payout={}",
                r.body["id"].as_str().unwrap()
            ),
            Some(&seller),
        )
        .await;
    let data = own["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["type"], "payout");
    assert_eq!(data[0]["amount"], -1_500);
    assert_eq!(env.balance(Some(&seller), "usd").await, (500, 0));
}

async fn disputed_payment(env: &Env) -> (String, String) {
    let pi = env.pay(5_000, "usd", "pm_card_createDispute").await;
    assert_eq!(pi["status"], "succeeded");
    let charge = pi["latest_charge"].as_str().unwrap().to_owned();
    let events = env.events(None).await;
    let created = events
        .iter()
        .find(|e| e["type"] == "charge.dispute.created")
        .expect("charge.dispute.created");
    let withdrawn = events
        .iter()
        .find(|e| e["type"] == "charge.dispute.funds_withdrawn")
        .expect("charge.dispute.funds_withdrawn");
    let dispute = created["data"]["object"]["id"].as_str().unwrap().to_owned();
    assert!(dispute.starts_with("dp_"));
    let txns = withdrawn["data"]["object"]["balance_transactions"]
        .as_array()
        .unwrap();
    assert_eq!(txns.len(), 1);
    assert_eq!(txns[0]["amount"], -5_000);
    assert_eq!(txns[0]["fee"], 1_500);
    assert_eq!(txns[0]["net"], -6_500);
    assert_eq!(txns[0]["type"], "adjustment");
    assert_eq!(txns[0]["reporting_category"], "dispute");
    let c = env.get(&format!("/v1/charges/{charge}"), None).await;
    assert_eq!(c["disputed"], true);
    // Fee on 5000: 2.9 % is 145, plus 30 = 175, so 4825 pending; the dispute −6500 now.
    assert_eq!(env.balance(None, "usd").await, (-6_500, 4_825));
    (charge, dispute)
}

#[tokio::test]
async fn a_dispute_closed_by_the_platform_is_lost() {
    let env = Env::default().await;
    let (_, dispute) = disputed_payment(&env).await;
    let d = env.get(&format!("/v1/disputes/{dispute}"), None).await;
    assert_eq!(d["status"], "needs_response");
    assert_eq!(d["reason"], "fraudulent");
    let closed = env
        .post(&format!("/v1/disputes/{dispute}/close"), &[])
        .await;
    assert_eq!(closed["status"], "lost");
    let r = env
        .send(
            "POST",
            &format!("/v1/disputes/{dispute}/close"),
            &[],
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(env.balance(None, "usd").await, (-6_500, 4_825));
    let last = env.events(None).await.pop().unwrap();
    assert_eq!(last["type"], "charge.dispute.closed");
    assert_eq!(last["data"]["object"]["status"], "lost");
}

#[tokio::test]
async fn winning_evidence_wins_the_dispute_and_returns_the_money() {
    let env = Env::default().await;
    let (_, dispute) = disputed_payment(&env).await;
    let won = env
        .post(
            &format!("/v1/disputes/{dispute}"),
            &[
                ("evidence[uncategorized_text]", "winning_evidence"),
                ("metadata[case]", "c1"),
            ],
        )
        .await;
    assert_eq!(won["status"], "won");
    assert_eq!(won["evidence"]["uncategorized_text"], "winning_evidence");
    let txns = won["balance_transactions"].as_array().unwrap();
    assert_eq!(txns.len(), 2);
    assert_eq!(txns[1]["amount"], 5_000);
    assert_eq!(txns[1]["fee"], -1_500);
    assert_eq!(txns[1]["net"], 6_500);
    assert_eq!(txns[1]["reporting_category"], "dispute_reversal");
    assert_eq!(env.balance(None, "usd").await, (0, 4_825));
    let kinds: Vec<Value> = env
        .events(None)
        .await
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    let tail = &kinds[kinds.len() - 3..];
    assert_eq!(
        tail,
        [
            "charge.dispute.updated",
            "charge.dispute.funds_reinstated",
            "charge.dispute.closed"
        ]
    );
}

#[tokio::test]
async fn losing_evidence_loses_the_dispute() {
    let env = Env::default().await;
    let (_, dispute) = disputed_payment(&env).await;
    let lost = env
        .post(
            &format!("/v1/disputes/{dispute}"),
            &[("evidence[uncategorized_text]", "losing_evidence")],
        )
        .await;
    assert_eq!(lost["status"], "lost");
    assert_eq!(lost["balance_transactions"].as_array().unwrap().len(), 1);
    assert_eq!(env.balance(None, "usd").await, (-6_500, 4_825));
}

#[tokio::test]
async fn the_clock_refuses_odd_steps() {
    let env = Env::default().await;
    for seconds in ["0", "-1", "31536001", "soon"] {
        let r = env
            .send(
                "POST",
                "/v1/test_helpers/advance_clock",
                &[("seconds", seconds)],
                None,
                None,
            )
            .await;
        assert_eq!(r.status, 400, "{seconds}: {}", r.body);
    }
    // A year in one step stays cheap, even with a one-second payout interval.
    let env = Env::start(SandboxConfig {
        payout_interval_s: 1,
        ..SandboxConfig::default()
    })
    .await;
    env.seller().await;
    let started = std::time::Instant::now();
    env.advance(31_536_000).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn state_survives_a_restart_with_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    // In a folder that does not exist yet: the sandbox makes it.
    let file = dir.path().join("data").join("sandbox.db");
    let config = SandboxConfig {
        state_file: Some(file.clone()),
        ..SandboxConfig::default()
    };
    let env = Env::start(config.clone()).await;
    let seller = env.seller().await;
    env.pay(1_000, "usd", "pm_card_visa").await;
    env.advance(DAY).await;
    let balance = env.balance(None, "usd").await;
    env.sandbox.stop().await;
    assert!(file.exists());

    let env = Env::start(config).await;
    let acct = env.get(&format!("/v1/accounts/{seller}"), None).await;
    assert_eq!(acct["charges_enabled"], true);
    assert_eq!(env.balance(None, "usd").await, balance);
    assert_eq!(env.events(None).await.len(), 3);
}
