//! Signed outgoing webhooks, received by a small HTTP server of the test's own
//! and verified with the `standardwebhooks` crate (an implementation of the
//! specification that shares no code with ours): retries through a receiver
//! that is down and then failing, a secret rotation, 410, private addresses,
//! sellers' isolation, test sends and redelivery.

use crate::common;
use crate::orders_support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bazaar::events::outbox::{emit, NewEvent};
use bazaar::events::types::EventType;
use common::people::{get_as, operator, pool, post_as, signup, Person};
use common::{assert_error, wait_until, TestApp};
use orders_support::{active_shop, json_of};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: String,
    status: u16,
}

impl Received {
    fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Behaviour {
    received: Vec<Received>,
    /// Answer 500 to the first this-many requests of each webhook-id.
    fail_first_per_id: usize,
    /// Answer this to everything (instead of 200 / the failures above).
    always: Option<u16>,
    /// Send `Retry-After: <seconds>` with every answer.
    retry_after: Option<u64>,
}

/// A webhook receiver on 127.0.0.1 that can be stopped (connections refused)
/// and started again on the same port.
struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<Behaviour>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut receiver = Self {
            addr: listener.local_addr().unwrap(),
            state: Arc::new(Mutex::new(Behaviour::default())),
            task: None,
        };
        receiver.serve(listener);
        receiver
    }

    fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    fn serve(&mut self, listener: TcpListener) {
        let state = Arc::clone(&self.state);
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = Arc::clone(&state);
                tokio::spawn(answer(stream, state));
            }
        }));
    }

    /// Stops listening: attempts meet a refused connection.
    async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.state.lock().unwrap());
    }
}

async fn answer(mut stream: tokio::net::TcpStream, state: Arc<Mutex<Behaviour>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut headers = HeaderMap::new();
    for line in head.lines().skip(1).filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap();
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    let length: usize = headers
        .get("content-length")
        .map_or(0, |v| v.to_str().unwrap().parse().unwrap());
    while buffer.len() < head_end + length {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned();
    let (status, retry_after) = {
        let mut state = state.lock().unwrap();
        let id = headers
            .get("webhook-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let seen = state.received.iter().filter(|r| Some(r.id()) == id).count();
        let status = state.always.unwrap_or(if seen < state.fail_first_per_id {
            500
        } else {
            200
        });
        state.received.push(Received {
            headers,
            body,
            status,
        });
        (status, state.retry_after)
    };
    let reply = format!("{{\"answered\":{status}}}");
    let retry_after = retry_after.map_or(String::new(), |s| format!("retry-after: {s}\r\n"));
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{retry_after}content-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Records `event` as a domain function would, in a transaction of its own.
fn emit_event(app: &TestApp, event: NewEvent) -> String {
    let pool = pool(app);
    let mut conn = pool.get().unwrap();
    bazaar::db::write_transaction(&mut conn, |conn| emit(conn, event)).unwrap()
}

async fn create_endpoint(app: &TestApp, who: &Person, body: Value) -> Value {
    json_of(post_as(app, who, "/v1/webhook_endpoints", &body).await, 201).await
}

async fn deliveries(app: &TestApp, who: &Person, endpoint: &Value) -> Vec<Value> {
    let path = format!(
        "/v1/webhook_endpoints/{}/deliveries?limit=100",
        endpoint["id"].as_str().unwrap()
    );
    let body = json_of(get_as(app, who, &path).await, 200).await;
    body["data"].as_array().unwrap().clone()
}

fn verify(secret: &str, received: &Received) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(received.body.as_bytes(), &received.headers)
        .is_ok()
}

fn product_event(title: &str) -> NewEvent {
    NewEvent::new(
        EventType::ProductUpdated,
        json!({"title": title, "marker": uuid::Uuid::new_v4().to_string()}),
    )
}

#[tokio::test]
async fn every_event_arrives_signed_through_a_receiver_down_then_failing() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let mut receiver = Receiver::start().await;
    let endpoint = create_endpoint(
        &app,
        &operator,
        json!({"url": receiver.url(), "description": "analytics", "types": ["product.*"]}),
    )
    .await;
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{endpoint}");
    assert_eq!(endpoint["shop_id"], Value::Null);
    assert_eq!(endpoint["types"], json!(["product.*"]));
    // The secret is shown once: never in a read.
    let path = format!("/v1/webhook_endpoints/{}", endpoint["id"].as_str().unwrap());
    let read = json_of(get_as(&app, &operator, &path).await, 200).await;
    assert!(read.get("secret").is_none(), "{read}");

    // Down: every attempt meets a refused connection.
    receiver.stop().await;
    let ids: Vec<String> = (0..3)
        .map(|n| emit_event(&app, product_event(&format!("Vase {n}"))))
        .collect();
    // An event the endpoint's filter leaves out.
    emit_event(
        &app,
        NewEvent::new(EventType::PayoutPaid, json!({"id": "po_1"})),
    );
    wait_until(|| async {
        let log = deliveries(&app, &operator, &endpoint).await;
        log.len() == 3
            && log.iter().all(|d| {
                d["attempts"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|a| a["error_kind"] == "connect"))
            })
    })
    .await;
    // Up again, answering 500 to the first request of each event, then 200.
    receiver.set(|b| b.fail_first_per_id = 1);
    receiver.restart().await;
    wait_until(|| async {
        deliveries(&app, &operator, &endpoint)
            .await
            .iter()
            .all(|d| d["status"] == "delivered")
    })
    .await;

    let received = receiver.received();
    let mut by_id: HashMap<String, Vec<&Received>> = HashMap::new();
    for r in &received {
        by_id.entry(r.id()).or_default().push(r);
    }
    let mut got: Vec<&String> = by_id.keys().collect();
    got.sort();
    let mut expected: Vec<&String> = ids.iter().collect();
    expected.sort();
    assert_eq!(got, expected, "exactly the filtered events, by their ids");
    for (id, requests) in &by_id {
        let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            vec![500, 200],
            "{id}: failed once, then acknowledged once"
        );
        assert_eq!(
            requests[0].body, requests[1].body,
            "{id}: the same body on a retry"
        );
        for request in requests {
            assert!(verify(&secret, request), "{id}: signature verifies");
            assert_eq!(request.headers["content-type"], "application/json");
            let body = request.json();
            assert_eq!(body["type"], "product.updated");
            assert!(body["data"]["marker"].is_string(), "{body}");
            assert!(
                chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok()
            );
        }
    }
    // The log: every attempt, numbered, down (connect) then 500 then 200.
    for delivery in deliveries(&app, &operator, &endpoint).await {
        let attempts = delivery["attempts"].as_array().unwrap();
        let numbers: Vec<i64> = attempts
            .iter()
            .map(|a| a["attempt"].as_i64().unwrap())
            .collect();
        assert_eq!(numbers, (1..=attempts.len() as i64).collect::<Vec<_>>());
        let (last, before) = attempts.split_last().unwrap();
        assert_eq!(last["status_code"], 200);
        assert_eq!(last["error_kind"], Value::Null);
        assert_eq!(last["response_excerpt"], r#"{"answered":200}"#);
        let (failed, down) = before.split_last().unwrap();
        assert_eq!(failed["status_code"], 500, "{delivery}");
        assert_eq!(failed["error_kind"], "status");
        assert!(!down.is_empty(), "{delivery}");
        for attempt in down {
            assert_eq!(attempt["error_kind"], "connect", "{delivery}");
            assert_eq!(attempt["status_code"], Value::Null);
        }
        assert!(ids.contains(&delivery["event_id"].as_str().unwrap().to_owned()));
    }
    // Metrics: per endpoint and outcome, nothing pending.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let id = endpoint["id"].as_str().unwrap();
    assert!(
        metrics.contains(&format!(
            "bazaar_webhook_deliveries{{endpoint=\"{id}\",status=\"delivered\"}} 3"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("bazaar_webhook_deliveries_pending 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn test_sends_rotation_and_redelivery_are_signed_with_the_right_secrets() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let receiver = Receiver::start().await;
    let endpoint = create_endpoint(&app, &operator, json!({"url": receiver.url()})).await;
    let id = endpoint["id"].as_str().unwrap();
    let old_secret = endpoint["secret"].as_str().unwrap().to_owned();

    let queued = json_of(
        post_as(
            &app,
            &operator,
            &format!("/v1/webhook_endpoints/{id}/test"),
            &json!({}),
        )
        .await,
        202,
    )
    .await;
    assert_eq!(queued["event_type"], "webhook_endpoint.test");
    wait_until(|| async { receiver.received().len() == 1 }).await;
    let first = &receiver.received()[0];
    assert_eq!(first.json()["type"], "webhook_endpoint.test");
    assert_eq!(first.json()["data"]["endpoint_id"], id);
    assert!(verify(&old_secret, first));
    assert_eq!(
        first.headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        1
    );

    let rotated = json_of(
        post_as(
            &app,
            &operator,
            &format!("/v1/webhook_endpoints/{id}/rotate_secret"),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);
    assert!(rotated["previous_secret_until"].is_string(), "{rotated}");
    let event = emit_event(&app, product_event("Bowl"));
    wait_until(|| async { receiver.received().len() == 2 }).await;
    let second = &receiver.received()[1];
    assert_eq!(second.id(), event);
    assert_eq!(
        second.headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        2,
        "both secrets sign during the grace"
    );
    assert!(verify(&new_secret, second), "the new secret verifies");
    assert!(
        verify(&old_secret, second),
        "the previous secret still verifies"
    );
    assert!(!verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", second));

    // Redeliver the product event: the same webhook-id, again.
    let log = deliveries(&app, &operator, &endpoint).await;
    let delivery = log
        .iter()
        .find(|d| d["event_id"] == event.as_str())
        .unwrap();
    assert_eq!(delivery["status"], "delivered");
    let redelivered = json_of(
        post_as(
            &app,
            &operator,
            &format!(
                "/v1/webhook_deliveries/{}/redeliver",
                delivery["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(redelivered["status"], "pending");
    wait_until(|| async { receiver.received().len() == 3 }).await;
    let third = &receiver.received()[2];
    assert_eq!(third.id(), event);
    assert_eq!(third.body, second.body);
    assert!(verify(&new_secret, third));
    // Staff actions are audited.
    let rotations =
        common::people::audit_rows(&app, &operator, "webhook_endpoint.rotate_secret").await;
    assert_eq!(rotations.len(), 1);
    let redeliveries =
        common::people::audit_rows(&app, &operator, "webhook_delivery.redeliver").await;
    assert_eq!(redeliveries.len(), 1);
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_emails_its_owner() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let receiver = Receiver::start().await;
    receiver.set(|b| b.always = Some(410));
    let endpoint = create_endpoint(&app, &operator, json!({"url": receiver.url()})).await;
    let path = format!("/v1/webhook_endpoints/{}", endpoint["id"].as_str().unwrap());
    emit_event(&app, product_event("Jug"));
    wait_until(|| async {
        let read = json_of(get_as(&app, &operator, &path).await, 200).await;
        read["enabled"] == false
    })
    .await;
    let read = json_of(get_as(&app, &operator, &path).await, 200).await;
    assert!(
        read["disabled_reason"].as_str().unwrap().contains("410"),
        "{read}"
    );
    let log = deliveries(&app, &operator, &endpoint).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "failed", "no retry after 410");
    assert_eq!(log[0]["attempts"].as_array().unwrap().len(), 1);
    // Disabled: later events are not sent, test sends are refused.
    emit_event(&app, product_event("Cup"));
    assert_error(
        post_as(&app, &operator, &format!("{path}/test"), &json!({})).await,
        409,
        "endpoint_disabled",
    )
    .await;
    let emails = json_of(
        get_as(
            &app,
            &operator,
            &format!("/v1/emails?to={}", operator.email.replace('+', "%2B")),
        )
        .await,
        200,
    )
    .await;
    assert!(
        emails["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["template"] == "webhook_endpoint_disabled"),
        "{emails}"
    );
    assert_eq!(receiver.received().len(), 1);
    // Enabled again, it receives what comes next.
    let enabled = json_of(
        app.client
            .patch(format!("{}{path}", app.address))
            .bearer_auth(&operator.token)
            .json(&json!({"enabled": true}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(enabled["enabled"], true);
    assert_eq!(enabled["disabled_reason"], Value::Null);
}

#[tokio::test]
async fn private_addresses_are_refused_at_registration_and_at_delivery() {
    let app = TestApp::spawn_with(
        &[(
            "BAZAAR__OUTGOING_WEBHOOKS__ALLOW_PRIVATE_ADDRESSES",
            "false",
        )],
        |_| {},
    )
    .await;
    let operator = operator(&app).await;
    let receiver = Receiver::start().await;
    let port = receiver.addr.port();
    for (url, code) in [
        (format!("https://127.0.0.1:{port}/hooks"), "refused_address"),
        (format!("https://localhost:{port}/hooks"), "refused_address"),
        ("https://10.1.2.3/hooks".to_owned(), "refused_address"),
        (
            "https://169.254.169.254/latest".to_owned(),
            "refused_address",
        ),
        ("https://[::1]/hooks".to_owned(), "refused_address"),
        (receiver.url(), "invalid_url"),
        ("https://user:pw@93.184.216.34/".to_owned(), "invalid_url"),
    ] {
        let error = assert_error(
            post_as(
                &app,
                &operator,
                "/v1/webhook_endpoints",
                &json!({"url": url}),
            )
            .await,
            422,
            code,
        )
        .await;
        assert_eq!(error["param"], "url", "{url}");
    }
    // Registered at a public address, then pointed (behind the API's back, as
    // a DNS change would) at this machine: every attempt is refused.
    let literal = create_endpoint(
        &app,
        &operator,
        json!({"url": "https://93.184.216.34/hooks"}),
    )
    .await;
    let named = create_endpoint(
        &app,
        &operator,
        json!({"url": "https://93.184.216.34/named"}),
    )
    .await;
    {
        use bazaar::events::endpoints::schema::webhook_endpoints;
        use diesel::prelude::*;
        let pool = pool(&app);
        let mut conn = pool.get().unwrap();
        for (endpoint, url) in [
            (&literal, format!("https://127.0.0.1:{port}/hooks")),
            (&named, format!("https://localhost:{port}/hooks")),
        ] {
            diesel::update(webhook_endpoints::table.find(endpoint["id"].as_str().unwrap()))
                .set(webhook_endpoints::url.eq(url))
                .execute(&mut *conn)
                .unwrap();
        }
    }
    emit_event(&app, product_event("Lamp"));
    for endpoint in [&literal, &named] {
        wait_until(|| async {
            deliveries(&app, &operator, endpoint)
                .await
                .first()
                .is_some_and(|d| d["attempts"].as_array().unwrap().len() >= 2)
        })
        .await;
        let log = deliveries(&app, &operator, endpoint).await;
        for attempt in log[0]["attempts"].as_array().unwrap() {
            assert_eq!(attempt["error_kind"], "refused_address", "{log:?}");
            assert_eq!(attempt["status_code"], Value::Null);
        }
    }
    assert!(
        receiver.received().is_empty(),
        "nothing reached this machine"
    );
}

#[tokio::test]
async fn a_sellers_endpoint_never_receives_another_sellers_events() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let ann = signup(&app, "seller").await;
    let bob = signup(&app, "seller").await;
    let shop_a = active_shop(&app, &ann, "USD").await;
    let shop_b = active_shop(&app, &bob, "USD").await;
    let (a_id, b_id) = (
        shop_a["id"].as_str().unwrap().to_owned(),
        shop_b["id"].as_str().unwrap().to_owned(),
    );
    let (rx_a, rx_b, rx_platform) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    // A seller names one of its shops; another's is not found.
    assert_error(
        post_as(
            &app,
            &ann,
            "/v1/webhook_endpoints",
            &json!({"url": rx_a.url()}),
        )
        .await,
        422,
        "missing_field",
    )
    .await;
    assert_error(
        post_as(
            &app,
            &ann,
            "/v1/webhook_endpoints",
            &json!({"url": rx_a.url(), "shop_id": b_id}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let ep_a = create_endpoint(&app, &ann, json!({"url": rx_a.url(), "shop_id": a_id})).await;
    let ep_b = create_endpoint(&app, &bob, json!({"url": rx_b.url(), "shop_id": b_id})).await;
    create_endpoint(&app, &operator, json!({"url": rx_platform.url()})).await;
    assert_eq!(ep_a["shop_id"], a_id.as_str());
    // Neither sees the other's endpoint.
    let b_path = format!("/v1/webhook_endpoints/{}", ep_b["id"].as_str().unwrap());
    assert_error(get_as(&app, &ann, &b_path).await, 404, "not_found").await;
    let listed = json_of(get_as(&app, &ann, "/v1/webhook_endpoints").await, 200).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["id"], ep_a["id"]);

    // One order with both shops' products: each shop sees its own part.
    let order = emit_event(
        &app,
        NewEvent::new(
            EventType::OrderPaid,
            json!({"id": "ord_1", "parts": [{"shop_id": a_id, "total": 3000}, {"shop_id": b_id, "total": 2000}], "buyer": {"email": "buyer@example.com"}}),
        )
        .order("ord_1")
        .seen_by(&a_id, json!({"id": "ord_1", "parts": [{"shop_id": a_id, "total": 3000}]}))
        .seen_by(&b_id, json!({"id": "ord_1", "parts": [{"shop_id": b_id, "total": 2000}]})),
    );
    let bobs_own = emit_event(&app, product_event("Bowl").shop(&b_id));
    let staff_only = emit_event(
        &app,
        NewEvent::new(EventType::FeeRuleVersionCreated, json!({"id": "fr_1"})),
    );

    let ids = |rx: &Receiver| {
        let mut ids: Vec<String> = rx.received().iter().map(Received::id).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    // A last event both shops see: once each has it, everything before it
    // was fanned out to them (in order); then wait for those to be sent.
    let sentinel = emit_event(
        &app,
        NewEvent::new(EventType::ShopFrozen, json!({"sentinel": true}))
            .seen_by(&a_id, json!({"sentinel": true}))
            .seen_by(&b_id, json!({"sentinel": true})),
    );
    wait_until(|| async {
        [&rx_a, &rx_b, &rx_platform]
            .iter()
            .all(|rx| ids(rx).contains(&sentinel))
    })
    .await;
    for (endpoint, who) in [(&ep_a, &ann), (&ep_b, &bob)] {
        wait_until(|| async {
            deliveries(&app, who, endpoint)
                .await
                .iter()
                .all(|d| d["status"] == "delivered")
        })
        .await;
    }
    assert!(!ids(&rx_a).contains(&bobs_own));
    assert!(!ids(&rx_a).contains(&staff_only));
    assert!(!ids(&rx_b).contains(&staff_only));
    for r in rx_a.received() {
        assert!(
            !r.body.contains(&b_id),
            "Ann received Bob's data: {}",
            r.body
        );
        assert!(!r.body.contains("buyer@example.com"), "{}", r.body);
    }
    for r in rx_b.received() {
        assert!(
            !r.body.contains(&a_id),
            "Bob received Ann's data: {}",
            r.body
        );
        assert!(!r.body.contains("buyer@example.com"), "{}", r.body);
    }
    let a_order = rx_a
        .received()
        .into_iter()
        .find(|r| r.id() == order)
        .unwrap();
    assert_eq!(a_order.json()["data"]["parts"][0]["total"], 3000);
    let platform_order = rx_platform
        .received()
        .into_iter()
        .find(|r| r.id() == order)
        .unwrap();
    assert_eq!(
        platform_order.json()["data"]["parts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(ids(&rx_platform).contains(&staff_only));
}

/// An instant strictly between the events emitted before and after it, as
/// RFC 3339 (the sleeps keep microsecond timestamps apart; nothing is timed).
async fn instant_between() -> String {
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    at
}

#[tokio::test]
async fn replay_sends_the_periods_events_again_and_nothing_else() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let receiver = Receiver::start().await;
    let endpoint = create_endpoint(&app, &operator, json!({"url": receiver.url()})).await;
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    let replay_path = format!(
        "/v1/webhook_endpoints/{}/replay",
        endpoint["id"].as_str().unwrap()
    );

    let before = emit_event(&app, product_event("Before"));
    let from = instant_between().await;
    let inside = [
        emit_event(&app, product_event("Inside 1")),
        emit_event(&app, product_event("Inside 2")),
    ];
    let to = instant_between().await;
    let after = emit_event(&app, product_event("After"));
    wait_until(|| async {
        let log = deliveries(&app, &operator, &endpoint).await;
        log.len() == 4 && log.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    let first_sent = receiver.received();
    assert_eq!(first_sent.len(), 4);

    // Bad periods are refused and queue nothing.
    for (body, param) in [
        (json!({"from": to, "to": from}), "from"),
        (json!({"from": "yesterday", "to": to}), "from"),
        (json!({"from": from, "to": "2026-13-40T00:00:00Z"}), "to"),
        (json!({"from": from, "to": "2026-12-07 10:00:00"}), "to"),
    ] {
        let error = assert_error(
            post_as(&app, &operator, &replay_path, &body).await,
            422,
            "invalid_value",
        )
        .await;
        assert_eq!(error["param"], param, "{body}");
    }
    assert_eq!(deliveries(&app, &operator, &endpoint).await.len(), 4);

    let replayed = json_of(
        post_as(
            &app,
            &operator,
            &replay_path,
            &json!({"from": from, "to": to}),
        )
        .await,
        202,
    )
    .await;
    assert_eq!(replayed["queued"], 2, "{replayed}");
    // Just queued: pending until sent, so this waits for the replay's sends.
    wait_until(|| async {
        deliveries(&app, &operator, &endpoint)
            .await
            .iter()
            .all(|d| d["status"] == "delivered")
    })
    .await;
    let log = deliveries(&app, &operator, &endpoint).await;
    assert_eq!(log.len(), 6, "{log:?}");

    let received = receiver.received();
    let count = |id: &str| received.iter().filter(|r| r.id() == id).count();
    assert_eq!(count(&before), 1, "before the period: not sent again");
    assert_eq!(count(&after), 1, "after the period: not sent again");
    for id in &inside {
        assert_eq!(count(id), 2, "{id}: sent again with the same webhook-id");
        let original = first_sent.iter().find(|r| r.id() == *id).unwrap();
        let again = received.iter().rfind(|r| r.id() == *id).unwrap();
        assert_eq!(again.body, original.body, "{id}: the same body");
        assert!(verify(&secret, again), "{id}: signed");
    }
    assert_eq!(received.len(), 6);
    let audits = common::people::audit_rows(&app, &operator, "webhook_endpoint.replay").await;
    assert_eq!(audits.len(), 1);
}

#[tokio::test]
async fn retry_after_on_503_and_429_delays_the_next_attempt() {
    const WAIT_SECONDS: i64 = 120;
    for refusal in [503u16, 429] {
        let app = TestApp::spawn().await;
        let operator = operator(&app).await;
        let receiver = Receiver::start().await;
        receiver.set(|b| {
            b.always = Some(refusal);
            b.retry_after = Some(WAIT_SECONDS as u64);
        });
        let endpoint = create_endpoint(&app, &operator, json!({"url": receiver.url()})).await;
        emit_event(&app, product_event("Kettle"));
        wait_until(|| async {
            deliveries(&app, &operator, &endpoint)
                .await
                .first()
                .is_some_and(|d| !d["attempts"].as_array().unwrap().is_empty())
        })
        .await;
        let log = deliveries(&app, &operator, &endpoint).await;
        let delivery = &log[0];
        assert_eq!(delivery["status"], "pending", "{delivery}");
        let attempt = &delivery["attempts"][0];
        assert_eq!(attempt["status_code"], refusal, "{delivery}");
        let time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
        let waits = time(&delivery["next_attempt_at"]) - time(&attempt["at"]);
        // The schedule alone would retry after 5 s ± 20 %.
        assert!(
            waits >= chrono::Duration::seconds(WAIT_SECONDS),
            "{refusal}: next attempt {waits} after the first: {delivery}"
        );
        assert!(
            waits <= chrono::Duration::seconds(WAIT_SECONDS + 60),
            "{refusal}: {delivery}"
        );
        // Several dispatcher passes later, still the one attempt.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(receiver.received().len(), 1, "{refusal}");
        let log = deliveries(&app, &operator, &endpoint).await;
        assert_eq!(log[0]["attempts"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn an_endpoint_failing_for_the_configured_hours_is_disabled_and_its_owner_emailed() {
    let app = TestApp::spawn_with(
        &[(
            "BAZAAR__OUTGOING_WEBHOOKS__DISABLE_AFTER_FAILING_HOURS",
            "48",
        )],
        |_| {},
    )
    .await;
    let ann = signup(&app, "seller").await;
    let shop = active_shop(&app, &ann, "USD").await;
    let shop_id = shop["id"].as_str().unwrap().to_owned();
    let receiver = Receiver::start().await;
    receiver.set(|b| b.always = Some(500));
    let endpoint = create_endpoint(
        &app,
        &ann,
        json!({"url": receiver.url(), "shop_id": shop_id}),
    )
    .await;
    let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/webhook_endpoints/{endpoint_id}");
    emit_event(&app, product_event("Tray").shop(&shop_id));
    wait_until(|| async {
        deliveries(&app, &ann, &endpoint)
            .await
            .first()
            .is_some_and(|d| !d["attempts"].as_array().unwrap().is_empty())
    })
    .await;
    // One failure is not enough: still enabled.
    let read = json_of(get_as(&app, &ann, &path).await, 200).await;
    assert_eq!(read["enabled"], true, "{read}");

    // Make the failures look older than the limit (but younger than the
    // default 120 h, so the configured value is what counts), and the retry due.
    {
        use bazaar::events::endpoints::schema::{webhook_deliveries, webhook_endpoints};
        use diesel::prelude::*;
        let pool = pool(&app);
        let mut conn = pool.get().unwrap();
        let now = chrono::Utc::now().naive_utc();
        let changed = diesel::update(webhook_endpoints::table.find(&endpoint_id))
            .set(webhook_endpoints::failing_since.eq(Some(now - chrono::Duration::hours(49))))
            .execute(&mut *conn)
            .unwrap();
        assert_eq!(changed, 1);
        diesel::update(
            webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(&endpoint_id)),
        )
        .set(webhook_deliveries::next_attempt_at.eq(now))
        .execute(&mut *conn)
        .unwrap();
    }
    wait_until(|| async {
        let read = json_of(get_as(&app, &ann, &path).await, 200).await;
        read["enabled"] == false
    })
    .await;
    let read = json_of(get_as(&app, &ann, &path).await, 200).await;
    let reason = read["disabled_reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("48 hours"), "{read}");
    let log = deliveries(&app, &ann, &endpoint).await;
    assert_eq!(log[0]["attempts"].as_array().unwrap().len(), 2, "{log:?}");
    assert_eq!(receiver.received().len(), 2);

    // The shop's owner is told, with the reason.
    wait_until(|| async {
        common::mail::messages_to(&app, &ann.email)
            .iter()
            .any(|m| m.contains(&endpoint_id) || m.contains(&reason))
    })
    .await;
    let told: Vec<String> = common::mail::messages_to(&app, &ann.email)
        .into_iter()
        .filter(|m| m.contains(&reason))
        .collect();
    assert_eq!(told.len(), 1, "one email, with the reason");

    // Disabled: a later event is not sent.
    emit_event(&app, product_event("Plate").shop(&shop_id));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn two_servers_on_one_database_deliver_a_burst_exactly_once() {
    let app = TestApp::spawn().await;
    let beside = app.spawn_beside().await;
    let operator = operator(&app).await;
    let receiver = Receiver::start().await;
    let endpoint = create_endpoint(
        &app,
        &operator,
        json!({"url": receiver.url(), "description": "warehouse"}),
    )
    .await;
    // Both servers answer: each runs its own dispatcher on the same queue.
    assert_eq!(
        app.client
            .get(format!("{beside}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // A burst larger than one pass claims, committed in one go: the two
    // dispatchers claim from the same queue while the other's sends are in flight.
    let pool = pool(&app);
    let mut conn = pool.get().unwrap();
    let burst = 400;
    let ids: Vec<String> = bazaar::db::write_transaction(&mut conn, |conn| {
        (0..burst)
            .map(|n| emit(conn, product_event(&format!("Vase {n}"))))
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    drop(conn);
    wait_until(|| async {
        let got: std::collections::HashSet<String> =
            receiver.received().iter().map(Received::id).collect();
        got.len() == burst
    })
    .await;
    // Let a duplicate, if any were coming, arrive before counting.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let received = receiver.received();
    let mut arrivals: HashMap<String, usize> = HashMap::new();
    for r in &received {
        *arrivals.entry(r.id()).or_default() += 1;
    }
    let twice: Vec<_> = arrivals.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "each event once; {} came more often, e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(5)]
    );
    let mut got: Vec<&String> = arrivals.keys().collect();
    got.sort();
    let mut expected: Vec<&String> = ids.iter().collect();
    expected.sort();
    assert_eq!(got, expected);
    // Every delivery recorded once, delivered at its first attempt.
    let log = {
        let mut conn = pool.get().unwrap();
        bazaar::events::delivery::stats(&mut conn).unwrap()
    };
    let id = endpoint["id"].as_str().unwrap().to_owned();
    assert_eq!(
        log.by_endpoint,
        vec![(id, "delivered".to_owned(), i64::try_from(burst).unwrap())]
    );
    assert_eq!(log.pending, 0);
    let recorded = deliveries(&app, &operator, &endpoint).await;
    assert!(
        recorded
            .iter()
            .all(|d| d["attempts"].as_array().unwrap().len() == 1),
        "one attempt each"
    );
}
