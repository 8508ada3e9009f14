//! Emails against a real SMTP server on loopback (aiosmtpd): what each fact
//! sends and to whom, read back from what the server received; a mail server
//! that is down loses nothing (retried, then a dead letter an operator
//! replays); a change that rolls back queues nothing.

use crate::common;
use crate::orders_support;
use crate::smtp_support;

use std::time::Duration;

use common::people::{get_as, pool, post_as, signup, Person};
use common::TestApp;
use orders_support::*;
use serde_json::{json, Value};
use smtp_support::SmtpSink;

/// `minor` as the emails show it (two-decimal currencies).
fn usd(minor: i64) -> String {
    format!("{}.{:02} USD", minor / 100, minor % 100)
}

async fn spawn_with_sink(sink: &SmtpSink, extra: &[(&str, &str)]) -> TestApp {
    let owned = sink.overrides();
    let mut overrides: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    overrides.extend_from_slice(extra);
    TestApp::spawn_with(&overrides, |_| {}).await
}

/// Polls `check` every 50 ms for up to `seconds`; panics with `what` after.
async fn eventually<F, Fut>(seconds: u64, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..seconds * 20 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not reached in {seconds} s: {what}");
}

/// The one message to `to` whose subject starts with `subject`.
fn only(sink: &SmtpSink, to: &str, subject: &str) -> Value {
    let found: Vec<Value> = sink
        .to(to)
        .into_iter()
        .filter(|m| m["subject"].as_str().unwrap().starts_with(subject))
        .collect();
    assert_eq!(found.len(), 1, "one {subject:?} to {to}: {found:?}");
    found.into_iter().next().unwrap()
}

fn text(message: &Value) -> &str {
    message["text"].as_str().expect("a text part")
}

fn html(message: &Value) -> &str {
    message["html"].as_str().expect("an HTML part")
}

/// Every email the outbox holds, as operators see it, but the sign-ups'
/// verification links (see `SmtpSink::messages`).
async fn outbox(app: &TestApp, operator: &Person) -> Vec<Value> {
    json_of(get_as(app, operator, "/v1/emails?limit=100").await, 200).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["template"] != "verify_email")
        .cloned()
        .collect()
}

fn line_id(order: &Value, title: &str) -> Value {
    order["parts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["lines"].as_array().unwrap().clone())
        .find(|l| l["title"] == title)
        .unwrap_or_else(|| panic!("line {title} in {order}"))["id"]
        .clone()
}

#[tokio::test]
async fn each_fact_mails_the_right_people_through_a_real_smtp_server() {
    if !smtp_support::available() {
        return;
    }
    let sink = SmtpSink::start();
    let app = spawn_with_sink(&sink, &[]).await;
    let market = market(&app).await;
    // Bob's bank account is one the provider cannot pay into.
    let (ann, shop_a, bob, shop_b) = a_seller_and_one_with_a_closed_bank(&app).await;
    let vase = product(&app, &ann, &shop_a, "Vase", 3000, 5).await;
    let bowl = product(&app, &bob, &shop_b, "Bowl", 2000, 5).await;
    let cup = product(&app, &bob, &shop_b, "Cup", 1000, 5).await;
    for item in [&vase, &bowl, &cup] {
        add_to_cart(&app, &market.buyer, item, 1).await;
    }
    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_visa")).await;
    let order_id = order["id"].as_str().unwrap();
    let (name_a, name_b) = (
        shop_a["name"].as_str().unwrap(),
        shop_b["name"].as_str().unwrap(),
    );

    eventually(10, "the order's three emails", || async {
        sink.messages().len() >= 3
    })
    .await;
    let confirmation = only(
        &sink,
        &market.buyer.email,
        &format!("Your Bazaar order {order_id} is confirmed"),
    );
    assert_eq!(confirmation["mail_from"], "no-reply@bazaar.localhost");
    assert_eq!(confirmation["content_type"], "multipart/alternative");
    assert_eq!(confirmation["rcpt_tos"], json!([market.buyer.email]));
    let body = text(&confirmation);
    for expected in [
        format!("From {name_a}:"),
        format!("From {name_b}:"),
        "1 x Vase".into(),
        "1 x Bowl".into(),
        "1 x Cup".into(),
        format!("Subtotal: {}", usd(3000)),
        format!("Subtotal: {}", usd(3000)),
        format!("Total paid: {}", usd(6000)),
        "Ann Buyer".into(),
        "1 Main St".into(),
    ] {
        assert!(body.contains(&expected), "{expected:?} in {body}");
    }
    assert!(html(&confirmation).contains("Vase") && html(&confirmation).contains(name_b));

    // Each seller hears of its own lines only, with its fee and what it is owed.
    let to_ann = only(
        &sink,
        &ann.email,
        &format!("New order {order_id} for {name_a}"),
    );
    let body = text(&to_ann);
    assert!(body.contains("1 x Vase") && !body.contains("Bowl") && !body.contains("Cup"));
    assert!(body.contains(&format!("Platform fee:  {}", usd(market_fee(3000)))));
    assert!(body.contains(&format!("You are owed:  {}", usd(3000 - market_fee(3000)))));
    let to_bob = only(
        &sink,
        &bob.email,
        &format!("New order {order_id} for {name_b}"),
    );
    let body = text(&to_bob);
    assert!(body.contains("1 x Bowl") && body.contains("1 x Cup") && !body.contains("Vase"));
    assert!(body.contains(&format!("You are owed:  {}", usd(3000 - market_fee(3000)))));
    assert!(html(&to_bob).contains("Ship to"));

    // A refund of the cup: the buyer is told, with what the order has had back.
    let body =
        json!({"lines": [{"line_id": line_id(&order, "Cup"), "quantity": 1}], "reason": "chipped"});
    let refund = json_of(
        post_keyed(
            &app,
            &market.operator,
            &format!("/v1/orders/{order_id}/refunds"),
            "refund-cup",
            &body,
        )
        .await,
        201,
    )
    .await;
    assert_eq!(refund["status"], "succeeded");
    let refund_id = refund["id"].as_str().unwrap();
    eventually(10, "the refund's email", || async {
        sink.to(&market.buyer.email).len() >= 2
    })
    .await;
    let notice = only(
        &sink,
        &market.buyer.email,
        &format!("Your refund of {} for order {order_id}", usd(1000)),
    );
    let body = text(&notice);
    assert!(body.contains(refund_id), "{body}");
    assert!(body.contains(&format!(
        "Refunded so far on this order: {} of {}",
        usd(1000),
        usd(6000)
    )));

    // Four days later Ann's payout is paid and Bob's fails; each is told once,
    // Bob with what to do, and again when the provider restricts his account.
    let (paid, failed) = four_days_of_payouts(&app, (&ann, &shop_a), (&bob, &shop_b)).await;
    let (paid, failed) = (&paid, &failed);
    let paid_subject = format!(
        "{name_a}: payout of {} is paid",
        usd(paid["amount"]["minor"].as_i64().unwrap())
    );
    let failed_subject = format!(
        "{name_b}: payout of {} failed, action needed",
        usd(failed["amount"]["minor"].as_i64().unwrap())
    );
    // Bob also hears of the refund's share: wait for the payout emails themselves.
    eventually(10, "the payout emails", || async {
        sink.to(&ann.email)
            .iter()
            .any(|m| m["subject"] == paid_subject.as_str())
            && sink
                .to(&bob.email)
                .iter()
                .any(|m| m["subject"] == failed_subject.as_str())
    })
    .await;
    let paid_email = only(&sink, &ann.email, &paid_subject);
    assert!(text(&paid_email).contains(paid["id"].as_str().unwrap()));
    let failed_email = only(&sink, &bob.email, &failed_subject);
    let body = text(&failed_email);
    assert!(body.contains("(no_account)"), "{body}");
    let action = failed["action"].as_str().unwrap();
    assert!(body.contains(&format!("What to do: {action}")), "{body}");

    let shop_b_path = format!("/v1/shops/{}", shop_b["id"].as_str().unwrap());
    let restricted_subject = format!("{name_b} is restricted: action needed");
    eventually(10, "the restricted shop's email", || async {
        sink.to(&bob.email)
            .iter()
            .any(|m| m["subject"] == restricted_subject.as_str())
    })
    .await;
    let shop = json_of(get_as(&app, &bob, &shop_b_path).await, 200).await;
    assert_eq!(shop["status"], "restricted", "{shop}");
    let restricted = only(&sink, &bob.email, &restricted_subject);
    let base = app.sandbox_url.as_deref().unwrap();
    assert!(
        text(&restricted).contains(base),
        "a fresh onboarding link at the provider: {}",
        text(&restricted)
    );

    // Once each, every one sent, none with a header a value could have added.
    let all = sink.messages();
    let mut ids: Vec<&str> = all
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "one message per email");
    for message in &all {
        let headers = message["header_names"].as_array().unwrap();
        assert!(
            !headers.iter().any(|h| h == "bcc" || h == "cc"),
            "{message}"
        );
    }
    let rows = outbox(&app, &market.operator).await;
    assert_eq!(rows.len(), all.len(), "{rows:?}");
    assert!(rows.iter().all(|r| r["status"] == "sent"), "{rows:?}");
    let mut row_ids: Vec<String> = rows
        .iter()
        .map(|r| r["message_id"].as_str().unwrap().to_owned())
        .collect();
    row_ids.sort_unstable();
    assert_eq!(row_ids, ids, "the outbox names what the server received");
    // Support can read it too; sellers and buyers cannot.
    let support = common::people::staff(&app, &market.operator, "support").await;
    json_of(get_as(&app, &support, "/v1/emails").await, 200).await;
    for person in [&ann, &market.buyer] {
        common::assert_error(get_as(&app, person, "/v1/emails").await, 403, "forbidden").await;
    }
}

/// A paid one-shop order (its buyer's confirmation and its seller's new-order email).
async fn paid_order(app: &TestApp) -> (Market, Person) {
    let market = market(app).await;
    let seller = signup(app, "seller").await;
    let shop = active_shop(app, &seller, "USD").await;
    let vase = product(app, &seller, &shop, "Vase", 3000, 5).await;
    add_to_cart(app, &market.buyer, &vase, 1).await;
    checkout_ok(app, &market.buyer, "k", Some("pm_card_visa")).await;
    (market, seller)
}

#[tokio::test]
async fn a_mail_server_outage_delays_emails_and_loses_none() {
    if !smtp_support::available() {
        return;
    }
    let mut sink = SmtpSink::start();
    let app = spawn_with_sink(&sink, &[("BAZAAR__JOBS__ATTEMPTS_MAX", "100")]).await;
    sink.stop();
    let (market, seller) = paid_order(&app).await;

    // Both emails wait in the outbox, their jobs retried with the relay's error.
    eventually(10, "two failed attempts per email", || async {
        let rows = outbox(&app, &market.operator).await;
        rows.len() == 2
            && rows.iter().all(|r| {
                r["status"] == "queued"
                    && r["job_status"] == "queued"
                    && r["attempts"].as_i64().unwrap() >= 2
                    && r["last_error"]
                        .as_str()
                        .is_some_and(|e| e.contains("not sent"))
            })
    })
    .await;
    assert!(sink.messages().is_empty());

    sink.restart();
    eventually(20, "both emails sent after the relay is back", || async {
        outbox(&app, &market.operator)
            .await
            .iter()
            .all(|r| r["status"] == "sent")
    })
    .await;
    let received = sink.messages();
    assert_eq!(received.len(), 2, "each once: {received:?}");
    assert_eq!(sink.to(&market.buyer.email).len(), 1);
    assert_eq!(sink.to(&seller.email).len(), 1);
}

#[tokio::test]
async fn emails_out_of_retries_are_dead_letters_an_operator_replays() {
    if !smtp_support::available() {
        return;
    }
    let mut sink = SmtpSink::start();
    let app = spawn_with_sink(&sink, &[("BAZAAR__JOBS__ATTEMPTS_MAX", "2")]).await;
    sink.stop();
    let (market, seller) = paid_order(&app).await;
    eventually(10, "both email jobs dead", || async {
        let rows = outbox(&app, &market.operator).await;
        rows.len() == 2 && rows.iter().all(|r| r["job_status"] == "dead")
    })
    .await;
    let dead = outbox(&app, &market.operator).await;
    assert!(dead.iter().all(|r| r["status"] == "queued"));

    // The relay is back, but dead letters wait for a person: nothing is sent…
    sink.restart();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sink.messages().is_empty());
    // …until an operator replays them, one by id and the rest all at once.
    let first = dead[0]["job_id"].as_str().unwrap();
    json_of(
        post_as(
            &app,
            &market.operator,
            &format!("/v1/jobs/{first}/replay"),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    json_of(
        post_as(&app, &market.operator, "/v1/jobs/replay", &json!({})).await,
        200,
    )
    .await;
    eventually(10, "both replayed emails sent", || async {
        outbox(&app, &market.operator)
            .await
            .iter()
            .all(|r| r["status"] == "sent")
    })
    .await;
    assert_eq!(sink.to(&market.buyer.email).len(), 1);
    assert_eq!(sink.to(&seller.email).len(), 1);
    assert_eq!(sink.messages().len(), 2);
}

#[tokio::test]
async fn a_rolled_back_change_queues_no_email_and_a_declined_card_sends_none() {
    if !smtp_support::available() {
        return;
    }
    use bazaar::notify::messages::RefundIssued;
    use bazaar::notify::{self, Message};

    let sink = SmtpSink::start();
    let app = spawn_with_sink(&sink, &[]).await;
    let message = Message::RefundIssued(RefundIssued {
        order_id: "ord_x".into(),
        refund_id: "rf_x".into(),
        amount: usd(100),
        refunded_total: usd(100),
        order_total: usd(500),
    });
    let pool = pool(&app);
    let counts = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let rolled_back: Result<(), bazaar::error::AppError> =
            bazaar::db::write_transaction(&mut conn, |conn| {
                assert!(notify::enqueue(
                    conn,
                    "test:rolled-back",
                    "a@example.com",
                    &message
                )?);
                Err(bazaar::error::AppError::Conflict {
                    code: "test_rollback",
                    message: "the change failed after its email was queued".into(),
                })
            });
        assert!(rolled_back.is_err());
        let count = |conn: &mut bazaar::db::DbConnection, sql: &str| {
            use diesel::prelude::*;
            #[derive(QueryableByName)]
            struct N {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            diesel::sql_query(sql).get_result::<N>(conn).unwrap().n
        };
        (
            count(&mut conn, "SELECT COUNT(*) AS n FROM outbox"),
            count(
                &mut conn,
                "SELECT COUNT(*) AS n FROM jobs WHERE kind = 'email'",
            ),
        )
    })
    .await
    .unwrap();
    assert_eq!(
        counts,
        (0, 0),
        "no outbox row and no job after the rollback"
    );

    // A declined card pays nothing, so nobody is told of an order.
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let vase = product(&app, &seller, &shop, "Vase", 3000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    let order = checkout_ok(
        &app,
        &market.buyer,
        "declined",
        Some("pm_card_chargeDeclined"),
    )
    .await;
    assert_ne!(order["status"], "paid", "{order}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(outbox(&app, &market.operator).await.is_empty());
    assert!(sink.messages().is_empty());
}
