//! Graceful overload: past `server.in_flight_*_max` requests of a class in
//! flight, the next is answered 503 `overloaded` at once, while the other
//! classes (the pages, the provider's webhooks, the probes) keep their share.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use common::{assert_error, TestApp};
use tokio::sync::Semaphore;

/// Requests inside the holding handlers, and the gate that lets them finish.
static HELD: AtomicUsize = AtomicUsize::new(0);
static GATE: Semaphore = Semaphore::const_new(0);

async fn hold() -> HttpResponse {
    HELD.fetch_add(1, Ordering::SeqCst);
    GATE.acquire().await.unwrap().forget();
    HttpResponse::Ok().body("released")
}

fn holding_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/test/hold", web::get().to(hold))
        .route("/test/hold", web::get().to(hold));
}

async fn wait_held(count: usize) {
    let started = Instant::now();
    while HELD.load(Ordering::SeqCst) < count {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "requests never arrived"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_class_at_its_bound_answers_503_at_once_and_the_others_keep_their_share() {
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__SERVER__IN_FLIGHT_API_MAX", "2"),
            ("BAZAAR__SERVER__IN_FLIGHT_PAGES_MAX", "1"),
        ],
        holding_routes,
    )
    .await;
    // The API's two places and the pages' one, taken by requests that wait.
    let held: Vec<_> = ["/v1/test/hold", "/v1/test/hold", "/test/hold"]
        .into_iter()
        .map(|path| {
            let request = app.client.get(format!("{}{path}", app.address)).send();
            tokio::spawn(request)
        })
        .collect();
    wait_held(3).await;

    // One more API request: refused at once, with when to come back.
    let started = Instant::now();
    let refused = app.get("/v1/products").await;
    let refused_in = started.elapsed();
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_error(refused, 503, "overloaded").await;
    assert!(
        refused_in < Duration::from_secs(2),
        "{refused_in:?}: not queued"
    );
    // A page for a browser: the error page, also with Retry-After.
    let page = app
        .client
        .get(format!("{}/", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert_eq!(page.headers()["retry-after"], "1");
    assert!(page.text().await.unwrap().contains("Busy right now"));
    // The probes and the provider's webhooks have places of their own.
    assert_eq!(app.get("/healthz").await.status(), 200);
    let webhook = app
        .client
        .post(format!("{}/webhooks/stripe", app.address))
        .header("content-type", "application/json")
        .header("stripe-signature", "t=1,v1=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        webhook.status(),
        400,
        "judged on its signature, not refused"
    );

    // Once the held requests finish, the API answers again.
    GATE.add_permits(3);
    for request in held {
        let answer = request.await.unwrap().unwrap();
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(app.get("/v1/products").await.status(), 200);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("bazaar_http_overloaded_total{class=\"api\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bazaar_http_overloaded_total{class=\"pages\"} 1"),
        "{metrics}"
    );
}
