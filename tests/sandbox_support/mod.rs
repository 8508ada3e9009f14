//! Helpers for the sandbox tests: a started sandbox with a form-speaking HTTP client, and
//! a local webhook receiver that records what it is sent.

#![allow(dead_code)] // each test binary uses a different part

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bazaar::sandbox::{Sandbox, SandboxConfig, WebhookEndpointConfig};
use serde_json::Value;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// A running sandbox and a client for it.
pub struct Env {
    pub sandbox: Sandbox,
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
}

/// One answer: status, headers and JSON body.
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Env {
    /// Starts a sandbox on an ephemeral port.
    pub async fn start(config: SandboxConfig) -> Env {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let sandbox = Sandbox::start(config, listener)
            .await
            .expect("sandbox starts");
        let base = sandbox.base_url().to_owned();
        let key = sandbox.secret_key().to_owned();
        Env {
            sandbox,
            http: crate::common::http_client(),
            base,
            key,
        }
    }

    /// A sandbox with the default configuration.
    pub async fn default() -> Env {
        Env::start(SandboxConfig::default()).await
    }

    /// Sends a request; `account` goes in `Stripe-Account`, `idem` in `Idempotency-Key`.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
        account: Option<&str>,
        idem: Option<&str>,
    ) -> Reply {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "GET" => self.http.get(&url).query(form),
            "DELETE" => self.http.delete(&url),
            _ => self.http.post(&url).form(form),
        };
        req = req.bearer_auth(&self.key);
        if let Some(a) = account {
            req = req.header("Stripe-Account", a);
        }
        if let Some(k) = idem {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.expect("sandbox answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            body,
            headers,
        }
    }

    /// POST as the platform, expecting success.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let r = self.send("POST", path, form, None, None).await;
        assert_eq!(r.status, 200, "POST {path}: {}", r.body);
        r.body
    }

    /// GET as the platform (or as `account`), expecting success.
    pub async fn get(&self, path: &str, account: Option<&str>) -> Value {
        let r = self.send("GET", path, &[], account, None).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.body
    }

    /// A connected account that finished onboarding.
    pub async fn seller(&self) -> String {
        let acct = self
            .post(
                "/v1/accounts",
                &[
                    ("type", "express"),
                    ("country", "US"),
                    ("email", "seller@example.com"),
                    ("capabilities[card_payments][requested]", "true"),
                    ("capabilities[transfers][requested]", "true"),
                ],
            )
            .await;
        let id = acct["id"].as_str().unwrap().to_owned();
        self.post(
            &format!("/v1/test_helpers/accounts/{id}/complete_onboarding"),
            &[],
        )
        .await;
        id
    }

    /// A confirmed PaymentIntent with `pm`.
    pub async fn pay(&self, amount: i64, currency: &str, pm: &str) -> Value {
        let amount = amount.to_string();
        self.post(
            "/v1/payment_intents",
            &[
                ("amount", &amount),
                ("currency", currency),
                ("payment_method", pm),
                ("confirm", "true"),
                ("transfer_group", "order_1"),
            ],
        )
        .await
    }

    /// Moves the sandbox clock.
    pub async fn advance(&self, seconds: i64) -> Value {
        self.post(
            "/v1/test_helpers/advance_clock",
            &[("seconds", &seconds.to_string())],
        )
        .await
    }

    /// Available and pending amounts of `currency` for the platform or `account`.
    pub async fn balance(&self, account: Option<&str>, currency: &str) -> (i64, i64) {
        let b = self.get("/v1/balance", account).await;
        let pick = |part: &str| {
            b[part]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["currency"] == currency)
                .map_or(0, |e| e["amount"].as_i64().unwrap())
        };
        (pick("available"), pick("pending"))
    }

    /// Every event visible to the platform or `account`, oldest first.
    pub async fn events(&self, account: Option<&str>) -> Vec<Value> {
        let list = self
            .send("GET", "/v1/events", &[("limit", "100")], account, None)
            .await;
        let mut data = list.body["data"].as_array().unwrap().clone();
        data.reverse();
        data
    }
}

/// What the receiver was sent.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: String,
    pub signature: String,
    pub attempt: usize,
}

/// A webhook receiver on an ephemeral port.
pub struct Receiver {
    pub url: String,
    rx: UnboundedReceiver<Received>,
    handle: actix_web::dev::ServerHandle,
    pub hits: Arc<AtomicUsize>,
}

impl Receiver {
    /// Starts a receiver answering 200.
    pub async fn start() -> Receiver {
        Receiver::failing_first(0).await
    }

    /// Starts a receiver answering 500 to its first `n` requests, then 200.
    pub async fn failing_first(n: usize) -> Receiver {
        Receiver::on(std::net::TcpListener::bind("127.0.0.1:0").unwrap(), n).await
    }

    /// Starts a receiver on `listener`, answering 500 to its first `n` requests.
    pub async fn on(listener: std::net::TcpListener, n: usize) -> Receiver {
        let (tx, rx) = unbounded_channel();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let url = format!("http://{}/webhooks", listener.local_addr().unwrap());
        let server = actix_web::HttpServer::new(move || {
            let tx = tx.clone();
            let counter = Arc::clone(&counter);
            actix_web::App::new().default_service(actix_web::web::to(
                move |req: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                    let tx = tx.clone();
                    let counter = Arc::clone(&counter);
                    async move {
                        let attempt = counter.fetch_add(1, Ordering::SeqCst);
                        let signature = req
                            .headers()
                            .get("Stripe-Signature")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        if attempt < n {
                            return actix_web::HttpResponse::InternalServerError().finish();
                        }
                        let _ = tx.send(Received {
                            body: String::from_utf8_lossy(&body).into_owned(),
                            signature,
                            attempt,
                        });
                        actix_web::HttpResponse::Ok().finish()
                    }
                },
            ))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url,
            rx,
            handle,
            hits,
        }
    }

    /// An endpoint configuration for this receiver.
    pub fn endpoint(&self, secret: &str, connect: bool) -> WebhookEndpointConfig {
        WebhookEndpointConfig {
            url: self.url.clone(),
            secret: secret.to_owned(),
            connect,
        }
    }

    /// The next delivery, or `None` after `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Received> {
        tokio::time::timeout(wait, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Deliveries until one whose event type is `kind` (returned last), within `wait`.
    pub async fn until(&mut self, kind: &str, wait: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(r) = self.next(left).await else {
                panic!("no {kind} event delivered; got {:?}", types(&seen));
            };
            let this = event_type(&r);
            seen.push(r);
            if this == kind {
                return seen;
            }
        }
    }

    /// Everything delivered until `wait` passes with nothing new.
    pub async fn drain(&mut self, wait: Duration) -> Vec<Received> {
        let mut seen = Vec::new();
        while let Some(r) = self.next(wait).await {
            seen.push(r);
        }
        seen
    }

    /// Stops the receiver.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// The `type` of a delivered event.
pub fn event_type(r: &Received) -> String {
    let v: Value = serde_json::from_str(&r.body).unwrap();
    v["type"].as_str().unwrap_or_default().to_owned()
}

/// The types of delivered events, in order.
pub fn types(rs: &[Received]) -> Vec<String> {
    rs.iter().map(event_type).collect()
}

/// The parsed body of a delivery.
pub fn json(r: &Received) -> Value {
    serde_json::from_str(&r.body).unwrap()
}

/// The error object of an answer, checked to be Stripe-shaped.
pub fn err(r: &Reply, status: u16, kind: &str, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    let e = &r.body["error"];
    assert_eq!(e["type"], kind, "{}", r.body);
    assert_eq!(e["code"], code, "{}", r.body);
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.body
    );
    e.clone()
}

/// A long enough wait for local deliveries.
pub const WAIT: Duration = Duration::from_secs(10);
