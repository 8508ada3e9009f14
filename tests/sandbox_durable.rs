//! The sandbox's state file: what the sandbox answered is in it before the
//! answer arrives, a SIGKILL at any instant loses nothing it answered, and a
//! state file of the earlier JSON format is taken over.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common;
use crate::sandbox_support;
use common::cli::{free_port, sandbox_process};

use bazaar::sandbox::SandboxConfig;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use sandbox_support::{Env, Receiver, WAIT};
use serde_json::Value;

#[derive(QueryableByName)]
struct Body {
    #[diesel(sql_type = Text)]
    body: String,
}

/// The object `kind`/`id` as the state file holds it now, read by a
/// connection of its own.
fn in_file(file: &Path, kind: &str, id: &str) -> Option<Value> {
    let mut conn = diesel::SqliteConnection::establish(file.to_str().unwrap()).unwrap();
    diesel::sql_query("SELECT body FROM objects WHERE kind = ? AND id = ?")
        .bind::<Text, _>(kind)
        .bind::<Text, _>(id)
        .get_result::<Body>(&mut conn)
        .optional()
        .unwrap()
        .map(|row| serde_json::from_str(&row.body).unwrap())
}

#[tokio::test]
async fn every_answer_and_webhook_is_in_the_state_file_when_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sandbox.db");
    let mut platform = Receiver::start().await;
    let config = SandboxConfig {
        state_file: Some(file.clone()),
        webhook_endpoints: vec![platform.endpoint("whsec_durable", false)],
        ..SandboxConfig::default()
    };
    let env = Env::start(config).await;

    let seller = env.seller().await;
    let account = in_file(&file, "account", &seller).expect("the account is in the file");
    assert_eq!(account["onboarded"], true);

    for amount in [1_000, 2_500, 4_200] {
        let pi = env.pay(amount, "usd", "pm_card_visa").await;
        let id = pi["id"].as_str().unwrap();
        let stored = in_file(&file, "intent", id).expect("the intent is in the file");
        assert_eq!(stored["status"], "succeeded");
        assert_eq!(stored["amount"], amount);
        let charge = pi["latest_charge"].as_str().unwrap();
        assert!(in_file(&file, "charge", charge).is_some(), "{charge}");
        let transfer = env
            .post(
                "/v1/transfers",
                &[
                    ("amount", "300"),
                    ("currency", "usd"),
                    ("destination", &seller),
                    ("source_transaction", charge),
                ],
            )
            .await;
        let stored = in_file(&file, "transfer", transfer["id"].as_str().unwrap())
            .expect("the transfer is in the file");
        assert_eq!(stored["amount"], 300);
    }

    // A webhook tells only what is recorded: its event is in the file first.
    for received in platform.until("payment_intent.succeeded", WAIT).await {
        let event: Value = serde_json::from_str(&received.body).unwrap();
        let id = event["id"].as_str().unwrap();
        assert!(in_file(&file, "event", id).is_some(), "{id}");
    }

    // The clock's offset is the store's own value: in the file too.
    env.advance(3_600).await;
    env.sandbox.stop().await;
    let env = Env::start(SandboxConfig {
        state_file: Some(file.clone()),
        ..SandboxConfig::default()
    })
    .await;
    let clock = env.advance(1).await;
    assert_eq!(clock["offset_s"], 3_601, "{clock}");
    platform.stop().await;
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        idem: &str,
    ) -> Result<(u16, Value, bool), reqwest::Error> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth("sk_test_sandbox")
            .header("Idempotency-Key", idem)
            .form(form)
            .send()
            .await?;
        let status = response.status().as_u16();
        let replayed = response.headers().contains_key("Idempotent-Replayed");
        Ok((status, response.json().await?, replayed))
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth("sk_test_sandbox")
            .send()
            .await
            .expect("the sandbox answers")
            .json()
            .await
            .unwrap()
    }
}

/// A PaymentIntent of `amount` US cents, confirmed with a card that pays.
fn visa_payment(amount: &str) -> [(&'static str, &str); 4] {
    [
        ("amount", amount),
        ("currency", "usd"),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
    ]
}

/// What the workers were answered: per idempotency key, the object's id and amount.
type Answered = Arc<Mutex<BTreeMap<String, (String, i64)>>>;

/// Pays and transfers under distinct keys until the sandbox stops answering.
async fn work(
    client: Arc<Client>,
    worker: usize,
    round: usize,
    seller: String,
    answered: Answered,
) {
    for i in 0_i64.. {
        let amount = 1_000 + i % 97;
        let key = format!("pay-{round}-{worker}-{i}");
        let pay = client
            .post(
                "/v1/payment_intents",
                &visa_payment(&amount.to_string()),
                &key,
            )
            .await;
        let Ok((200, pi, _)) = pay else { return };
        let id = pi["id"].as_str().unwrap().to_owned();
        answered.lock().unwrap().insert(key, (id, amount));
        let key = format!("transfer-{round}-{worker}-{i}");
        let charge = pi["latest_charge"].as_str().unwrap();
        let transfer = client
            .post(
                "/v1/transfers",
                &[
                    ("amount", "100"),
                    ("currency", "usd"),
                    ("destination", &seller),
                    ("source_transaction", charge),
                ],
                &key,
            )
            .await;
        let Ok((200, transfer, _)) = transfer else {
            return;
        };
        let id = transfer["id"].as_str().unwrap().to_owned();
        answered.lock().unwrap().insert(key, (id, 100));
    }
}

/// Every transfer the provider holds to `seller`, through its list's pages.
async fn transfers_to(client: &Client, seller: &str) -> BTreeMap<String, i64> {
    let mut all = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = match &after {
            Some(id) => format!("/v1/transfers?destination={seller}&limit=100&starting_after={id}"),
            None => format!("/v1/transfers?destination={seller}&limit=100"),
        };
        let list = client.get(&page).await;
        let data = list["data"].as_array().unwrap();
        for t in data {
            all.insert(
                t["id"].as_str().unwrap().to_owned(),
                t["amount"].as_i64().unwrap(),
            );
        }
        if list["has_more"] != true {
            return all;
        }
        after = data
            .last()
            .and_then(|t| t["id"].as_str())
            .map(str::to_owned);
    }
}

#[tokio::test]
async fn a_sigkilled_sandbox_forgets_nothing_it_answered() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data/sandbox.db");
    let port = free_port();
    let client = Arc::new(Client {
        http: crate::common::http_client(),
        base: format!("http://127.0.0.1:{port}"),
    });
    let mut process = sandbox_process(dir.path(), &file, port).await;
    let (_, account, _) = client
        .post(
            "/v1/accounts",
            &[("type", "express"), ("country", "US")],
            "seller",
        )
        .await
        .unwrap();
    let seller = account["id"].as_str().unwrap().to_owned();
    let onboard = format!("/v1/test_helpers/accounts/{seller}/complete_onboarding");
    let (status, _, _) = client.post(&onboard, &[], "onboard").await.unwrap();
    assert_eq!(status, 200);

    let answered: Answered = Arc::default();
    for round in 0..3 {
        let workers: Vec<_> = (0..6)
            .map(|w| {
                tokio::spawn(work(
                    Arc::clone(&client),
                    w,
                    round,
                    seller.clone(),
                    Arc::clone(&answered),
                ))
            })
            .collect();
        // Killed with requests in flight, at a moment nobody chose.
        tokio::time::sleep(Duration::from_millis(600 + 250 * round as u64)).await;
        process.kill();
        for worker in workers {
            worker.await.unwrap();
        }
        process = sandbox_process(dir.path(), &file, port).await;
    }

    let answered = answered.lock().unwrap().clone();
    let transfers = answered
        .keys()
        .filter(|k| k.starts_with("transfer-"))
        .count();
    assert!(
        transfers > 30,
        "only {transfers} transfers answered before the kills"
    );
    for (key, (id, amount)) in &answered {
        if key.starts_with("pay-") {
            let pi = client.get(&format!("/v1/payment_intents/{id}")).await;
            assert_eq!(pi["status"], "succeeded", "{key}: {pi}");
            assert_eq!(pi["amount"], *amount, "{key}");
        } else {
            let transfer = client.get(&format!("/v1/transfers/{id}")).await;
            assert_eq!(transfer["amount"], *amount, "{key}: {transfer}");
        }
    }
    // An answered request sent again under its key replays the same object.
    let (key, (id, amount)) = answered
        .iter()
        .find(|(key, _)| key.starts_with("pay-"))
        .unwrap();
    let (status, pi, replayed) = client
        .post(
            "/v1/payment_intents",
            &visa_payment(&amount.to_string()),
            key,
        )
        .await
        .unwrap();
    assert_eq!(
        (status, pi["id"].as_str(), replayed),
        (200, Some(id.as_str()), true)
    );

    // The seller's balance is made of exactly the transfers the provider holds:
    // none half-recorded (an answer lost to the kill may have been recorded).
    let held = transfers_to(&client, &seller).await;
    for (key, (id, _)) in answered.iter().filter(|(k, _)| k.starts_with("transfer-")) {
        assert!(held.contains_key(id), "{key}: {id} answered, not held");
    }
    let balance = client
        .http
        .get(format!("{}/v1/balance", client.base))
        .bearer_auth("sk_test_sandbox")
        .header("Stripe-Account", &seller)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let total: i64 = ["available", "pending"]
        .iter()
        .flat_map(|part| balance[part].as_array().unwrap())
        .filter(|b| b["currency"] == "usd")
        .map(|b| b["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(total, held.values().sum::<i64>(), "{balance}");
    process.kill();
}

#[tokio::test]
async fn a_webhook_a_kill_interrupted_is_sent_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data/sandbox.db");
    let (port, receiver_port) = (free_port(), free_port());
    let client = Client {
        http: crate::common::http_client(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let mut process = sandbox_process(dir.path(), &file, port).await;
    // Nobody listens there yet: every attempt is refused and retried.
    let url = format!("http://127.0.0.1:{receiver_port}/webhooks");
    let (status, _, _) = client
        .post(
            "/v1/webhook_endpoints",
            &[("url", &url), ("enabled_events[]", "*")],
            "endpoint",
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (_, pi, _) = client
        .post("/v1/payment_intents", &visa_payment("2000"), "pay")
        .await
        .unwrap();
    let pending = || {
        let mut conn = diesel::SqliteConnection::establish(file.to_str().unwrap()).unwrap();
        diesel::sql_query("SELECT COUNT(*) AS n FROM deliveries")
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n
    };
    assert_eq!(
        pending(),
        3,
        "created, charge and succeeded wait for their endpoint"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    process.kill();
    // Rows name their endpoint, so a restart sends them to its URL then. A
    // file of format 1 (rows with only a URL) still has them sent there, and
    // gains the column.
    let mut conn = diesel::SqliteConnection::establish(file.to_str().unwrap()).unwrap();
    let named =
        diesel::sql_query("SELECT COUNT(*) AS n FROM deliveries WHERE endpoint LIKE 'we_%'")
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n;
    assert_eq!(named, 3);
    conn.batch_execute("ALTER TABLE deliveries DROP COLUMN endpoint; PRAGMA user_version = 1;")
        .unwrap();
    drop(conn);

    let listener = std::net::TcpListener::bind(("127.0.0.1", receiver_port)).unwrap();
    let mut receiver = Receiver::on(listener, 0).await;
    let mut process = sandbox_process(dir.path(), &file, port).await;
    let got = receiver.until("payment_intent.succeeded", WAIT).await;
    let last: Value = serde_json::from_str(&got.last().unwrap().body).unwrap();
    assert_eq!(last["data"]["object"]["id"], pi["id"]);
    // Acknowledged deliveries leave the file.
    for _ in 0..100 {
        if pending() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pending(), 0);
    process.kill();
    receiver.stop().await;
    let mut conn = diesel::SqliteConnection::establish(file.to_str().unwrap()).unwrap();
    let format = diesel::sql_query("SELECT user_version AS n FROM pragma_user_version")
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n;
    assert_eq!(format, 2);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn a_json_state_file_of_the_earlier_format_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // A sandbox in memory, whose state is written as the earlier format did:
    // the whole store as one JSON document.
    let env = Env::default().await;
    let seller = env.seller().await;
    let pi = env.pay(1_800, "usd", "pm_card_visa").await;
    let balance = env.balance(None, "usd").await;
    let snapshot = {
        let store = env.sandbox.shared().store.lock().unwrap();
        serde_json::to_vec(&*store).unwrap()
    };
    env.sandbox.stop().await;
    std::fs::write(data.join("sandbox.json"), &snapshot).unwrap();

    let file = data.join("sandbox.db");
    let env = Env::start(SandboxConfig {
        state_file: Some(file.clone()),
        ..SandboxConfig::default()
    })
    .await;
    let account = env.get(&format!("/v1/accounts/{seller}"), None).await;
    assert_eq!(account["charges_enabled"], true);
    let reread = env
        .get(
            &format!("/v1/payment_intents/{}", pi["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(reread["status"], "succeeded");
    assert_eq!(env.balance(None, "usd").await, balance);
    assert!(
        !data.join("sandbox.json").exists(),
        "the JSON is taken over"
    );
    assert_eq!(
        std::fs::read(data.join("sandbox.json.migrated")).unwrap(),
        snapshot,
        "and kept beside"
    );
    // What the JSON held is in the new file, and new changes follow it.
    assert!(in_file(&file, "account", &seller).is_some());
    env.sandbox.stop().await;

    // A file that is neither is refused with its name, not started over.
    let garbage = dir.path().join("garbage.db");
    std::fs::write(
        &garbage,
        b"not a database at all, and long enough to be read",
    )
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = bazaar::sandbox::Sandbox::start(
        SandboxConfig {
            state_file: Some(garbage.clone()),
            ..SandboxConfig::default()
        },
        listener,
    )
    .await;
    let message = refused.err().expect("refused").to_string();
    assert!(message.contains("garbage.db"), "{message}");
}
