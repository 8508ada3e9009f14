//! Health, readiness and metrics, as an orchestrator and a scraper see them.

use crate::common;

use common::TestApp;
use serde_json::Value;

#[tokio::test]
async fn a_fresh_server_is_healthy_and_ready() {
    let app = TestApp::spawn().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], app.database.backend());
    assert_eq!(ready["migrations_pending"], 0);
    assert!(ready["instance_id"]
        .as_str()
        .is_some_and(|id| id.len() == 36));
}

#[tokio::test]
async fn metrics_count_requests_per_route_pattern_and_show_the_pool() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        assert_eq!(app.get("/healthz").await.status(), 200);
    }
    assert_eq!(app.get("/no/such/route").await.status(), 404);
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            r#"bazaar_http_requests_total{method="GET",route="/healthz",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"bazaar_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"bazaar_http_request_duration_seconds_count{method="GET",route="/healthz"} 3"#
        ),
        "{text}"
    );
    let pool_max = app.settings.database.pool_size_max;
    assert!(
        text.contains(&format!("bazaar_db_pool_size_max {pool_max}")),
        "{text}"
    );
    assert!(text.contains("bazaar_db_pool_connections "), "{text}");
}

#[tokio::test]
async fn two_servers_on_one_database_report_the_same_instance() {
    let first = TestApp::spawn().await;
    let settings = common::test_settings(&first.database.url, &[]);
    let second = bazaar::app::Application::build(settings)
        .await
        .expect("second server builds");
    let address = format!("http://127.0.0.1:{}", second.port());
    tokio::spawn(second.run_until_stopped());
    let a: Value = first.get("/readyz").await.json().await.unwrap();
    let b: Value = first
        .client
        .get(format!("{address}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a["instance_id"], b["instance_id"]);
}
