//! Webhooks: Stripe's signature scheme (checked by async-stripe's own verifier), routing of
//! platform and connect events, registration through the API, and delivery faults.

use crate::sandbox_support;

use std::collections::BTreeMap;
use std::time::Duration;

use bazaar::sandbox::{Faults, SandboxConfig};
use sandbox_support::{event_type, json, types, Env, Receiver, WAIT};
use stripe_webhook::{EventObject, Webhook};

const PLATFORM_SECRET: &str = "whsec_platform_test_secret";
const CONNECT_SECRET: &str = "whsec_connect_test_secret";

fn config(platform: &Receiver, connect: &Receiver) -> SandboxConfig {
    SandboxConfig {
        webhook_endpoints: vec![
            platform.endpoint(PLATFORM_SECRET, false),
            connect.endpoint(CONNECT_SECRET, true),
        ],
        delivery_backoff_ms: 20,
        ..SandboxConfig::default()
    }
}

#[tokio::test]
async fn deliveries_verify_with_async_stripe_and_tampering_fails() {
    let mut platform = Receiver::start().await;
    let connect = Receiver::start().await;
    let env = Env::start(config(&platform, &connect)).await;
    let pi = env.pay(2_500, "usd", "pm_card_visa").await;

    let got = platform.until("payment_intent.succeeded", WAIT).await;
    assert_eq!(
        types(&got),
        [
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded"
        ]
    );
    for r in &got {
        let event = Webhook::construct_event(&r.body, &r.signature, PLATFORM_SECRET)
            .unwrap_or_else(|e| panic!("{} does not verify: {e:?}", event_type(r)));
        assert_eq!(event.type_.as_str(), event_type(r));
        assert!(event.account.is_none());
        assert_eq!(
            event.api_version.as_ref().map(|v| v.as_str()),
            Some("2026-09-30.endive")
        );
        assert!(Webhook::construct_event(&r.body, &r.signature, CONNECT_SECRET).is_err());
        // One byte changed: the signature no longer holds.
        let mut tampered = r.body.clone().into_bytes();
        let at = tampered.iter().position(|b| *b == b'2').unwrap_or(0);
        tampered[at] = b'3';
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(Webhook::construct_event(&tampered, &r.signature, PLATFORM_SECRET).is_err());
    }
    let last = Webhook::construct_event(&got[2].body, &got[2].signature, PLATFORM_SECRET).unwrap();
    match last.data.object {
        EventObject::PaymentIntentSucceeded(intent) => {
            assert_eq!(intent.id.as_str(), pi["id"].as_str().unwrap());
            assert_eq!(intent.amount, 2_500);
        }
        other => panic!("unexpected object {other:?}"),
    }
    let charge =
        Webhook::construct_event(&got[1].body, &got[1].signature, PLATFORM_SECRET).unwrap();
    assert!(matches!(
        charge.data.object,
        EventObject::ChargeSucceeded(_)
    ));
}

#[tokio::test]
async fn connected_account_events_go_to_connect_endpoints_with_account() {
    let mut platform = Receiver::start().await;
    let mut connect = Receiver::start().await;
    let env = Env::start(config(&platform, &connect)).await;
    let seller = env.seller().await;

    let got = connect.until("account.updated", WAIT).await;
    let r = got.last().unwrap();
    let event = Webhook::construct_event(&r.body, &r.signature, CONNECT_SECRET).unwrap();
    assert_eq!(event.account.as_deref(), Some(seller.as_str()));
    match &event.data.object {
        EventObject::AccountUpdated(account) => {
            assert_eq!(account.id.as_str(), seller);
            assert_eq!(account.charges_enabled, Some(true));
        }
        other => panic!("unexpected object {other:?}"),
    }
    let previous = &json(r)["data"]["previous_attributes"];
    assert_eq!(previous["charges_enabled"], false);
    assert_eq!(previous["details_submitted"], false);
    // Nothing of the seller's reaches the platform endpoint.
    assert!(platform.drain(Duration::from_millis(300)).await.is_empty());
}

#[tokio::test]
async fn endpoints_registered_through_the_api_get_their_own_secret() {
    let mut receiver = Receiver::start().await;
    let env = Env::default().await;
    let we = env
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", &receiver.url),
                ("enabled_events[]", "payment_intent.succeeded"),
                ("enabled_events[]", "charge.refunded"),
            ],
        )
        .await;
    assert_eq!(we["object"], "webhook_endpoint");
    assert!(we["id"].as_str().unwrap().starts_with("we_"));
    let secret = we["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let shown = env
        .get(
            &format!("/v1/webhook_endpoints/{}", we["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert!(shown.get("secret").is_none());

    env.pay(1_000, "usd", "pm_card_visa").await;
    let r = receiver.next(WAIT).await.expect("a delivery");
    assert_eq!(event_type(&r), "payment_intent.succeeded");
    Webhook::construct_event(&r.body, &r.signature, &secret)
        .expect("verifies with the returned secret");
    // Only the enabled types are sent.
    assert!(receiver.drain(Duration::from_millis(300)).await.is_empty());
}

#[tokio::test]
async fn duplicate_fault_delivers_every_event_twice() {
    let mut platform = Receiver::start().await;
    let connect = Receiver::start().await;
    let mut cfg = config(&platform, &connect);
    cfg.faults = Faults {
        duplicate: true,
        ..Faults::default()
    };
    let env = Env::start(cfg).await;
    env.pay(1_000, "usd", "pm_card_visa").await;
    let got = platform.drain(Duration::from_millis(500)).await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &got {
        *counts
            .entry(json(r)["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(counts.len(), 3, "{:?}", types(&got));
    assert!(counts.values().all(|n| *n == 2), "{counts:?}");
}

#[tokio::test]
async fn drop_first_still_delivers_through_retries() {
    let mut platform = Receiver::start().await;
    let connect = Receiver::start().await;
    let mut cfg = config(&platform, &connect);
    cfg.faults = Faults {
        drop_first: true,
        delay_ms: 5,
        ..Faults::default()
    };
    let env = Env::start(cfg).await;
    env.pay(1_000, "usd", "pm_card_visa").await;
    let mut got = Vec::new();
    while got.len() < 3 {
        got.push(platform.next(WAIT).await.expect("retried delivery"));
    }
    let mut kinds = types(&got);
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "charge.succeeded",
            "payment_intent.created",
            "payment_intent.succeeded"
        ]
    );
}

#[tokio::test]
async fn failing_receivers_are_retried_with_backoff() {
    let mut platform = Receiver::failing_first(2).await;
    let connect = Receiver::start().await;
    let env = Env::start(config(&platform, &connect)).await;
    env.post(
        "/v1/payment_intents",
        &[("amount", "1000"), ("currency", "usd")],
    )
    .await;
    let r = platform.next(WAIT).await.expect("delivered after retries");
    assert_eq!(event_type(&r), "payment_intent.created");
    assert!(
        r.attempt >= 2,
        "the receiver saw {} attempts",
        r.attempt + 1
    );
    Webhook::construct_event(&r.body, &r.signature, PLATFORM_SECRET).unwrap();
}

#[tokio::test]
async fn shuffle_fault_still_delivers_everything() {
    let mut platform = Receiver::start().await;
    let connect = Receiver::start().await;
    let mut cfg = config(&platform, &connect);
    cfg.faults = Faults {
        shuffle: true,
        ..Faults::default()
    };
    let env = Env::start(cfg).await;
    env.pay(1_000, "usd", "pm_card_visa").await;
    env.pay(2_000, "usd", "pm_card_visa").await;
    let got = platform.drain(Duration::from_millis(500)).await;
    assert_eq!(got.len(), 6, "{:?}", types(&got));
}
