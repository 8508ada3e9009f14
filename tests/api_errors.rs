//! Every malformed request is answered in the API's error shape, never with
//! actix's plain-text defaults.

use crate::common;

use actix_web::{web, HttpResponse};
use bazaar::error::AppError;
use bazaar::http::JsonBody;
use common::{assert_error, TestApp};
use serde::Deserialize;
use serde_json::{json, Value};

/// A body shaped like the API's real requests: nested, typed, strict.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cart {
    email: String,
    lines: Vec<Line>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    sku: String,
    quantity: u32,
}

async fn echo_cart(body: JsonBody<Cart>) -> Result<HttpResponse, AppError> {
    let cart = body.into_inner()?;
    let units: u32 = cart.lines.iter().map(|line| line.quantity).sum();
    let skus: Vec<&str> = cart.lines.iter().map(|line| line.sku.as_str()).collect();
    Ok(HttpResponse::Ok().json(json!({ "email": cart.email, "units": units, "skus": skus })))
}

async fn fail_internally() -> Result<HttpResponse, AppError> {
    Err(AppError::Internal(anyhow::anyhow!(
        "secret detail: password=hunter2"
    )))
}

async fn typed_path(path: web::Path<u64>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "id": path.into_inner() }))
}

fn probe_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/test/carts", web::post().to(echo_cart))
        .route("/test/boom", web::get().to(fail_internally))
        .route("/test/items/{id}", web::get().to(typed_path));
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(&[("BAZAAR__SERVER__BODY_BYTES_MAX", "1024")], probe_routes).await
}

#[tokio::test]
async fn a_well_formed_body_is_accepted() {
    let app = spawn().await;
    let response = app
        .post_json(
            "/test/carts",
            &json!({"email": "ann@example.com", "lines": [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 3}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["units"], 5);
    assert_eq!(body["skus"], json!(["A", "B"]));
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn().await;
    let response = app
        .post_raw("/test/carts", "application/json", b"{\"email\": ".to_vec())
        .await;
    assert_error(response, 400, "malformed_json").await;

    let response = app
        .post_raw("/test/carts", "application/json", Vec::new())
        .await;
    assert_error(response, 400, "malformed_json").await;

    let response = app
        .post_raw(
            "/test/carts",
            "application/json",
            b"{\"email\":\"a\",\"lines\":[]} trailing".to_vec(),
        )
        .await;
    assert_error(response, 400, "malformed_json").await;
}

#[tokio::test]
async fn a_wrong_type_names_the_field_path() {
    let app = spawn().await;
    let response = app
        .post_json(
            "/test/carts",
            &json!({"email": "ann@example.com", "lines": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": "three"}]}),
        )
        .await;
    let error = assert_error(response, 422, "invalid_type").await;
    assert_eq!(error["param"], "lines[1].quantity");

    let response = app
        .post_json(
            "/test/carts",
            &json!({"email": "a@b.c", "lines": [{"sku": "A", "quantity": -1}]}),
        )
        .await;
    let error = assert_error(response, 422, "invalid_value").await;
    assert_eq!(error["param"], "lines[0].quantity");
}

#[tokio::test]
async fn a_missing_field_is_named() {
    let app = spawn().await;
    let response = app.post_json("/test/carts", &json!({"lines": []})).await;
    let error = assert_error(response, 422, "missing_field").await;
    assert_eq!(error["param"], "email");

    let response = app
        .post_json(
            "/test/carts",
            &json!({"email": "a@b.c", "lines": [{"sku": "A"}]}),
        )
        .await;
    let error = assert_error(response, 422, "missing_field").await;
    assert_eq!(error["param"], "lines[0].quantity");
}

#[tokio::test]
async fn an_unknown_field_is_refused_and_named() {
    let app = spawn().await;
    let response = app
        .post_json(
            "/test/carts",
            &json!({"email": "a@b.c", "lines": [], "coupon": "FREE"}),
        )
        .await;
    let error = assert_error(response, 422, "unknown_field").await;
    assert_eq!(error["param"], "coupon");

    let response = app
        .post_json(
            "/test/carts",
            &json!({"email": "a@b.c", "lines": [{"sku": "A", "quantity": 1, "price": 0}]}),
        )
        .await;
    let error = assert_error(response, 422, "unknown_field").await;
    assert_eq!(error["param"], "lines[0].price");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let app = spawn().await;
    let long_sku = "x".repeat(2000);
    let response = app
        .post_json(
            "/test/carts",
            &json!({"email": "a@b.c", "lines": [{"sku": long_sku, "quantity": 1}]}),
        )
        .await;
    assert_error(response, 413, "body_too_large").await;

    // Chunked, with no Content-Length to refuse it early: the stream is cut at the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..64).map(|_| Ok(vec![b' '; 100])).collect();
    let response = app
        .client
        .post(format!("{}/test/carts", app.address))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_error(response, 413, "body_too_large").await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let app = spawn().await;
    let response = app
        .post_raw(
            "/test/carts",
            "application/x-www-form-urlencoded",
            b"email=a".to_vec(),
        )
        .await;
    assert_error(response, 415, "unsupported_media_type").await;

    let response = app
        .client
        .post(format!("{}/test/carts", app.address))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(response, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_in_the_error_shape() {
    let app = spawn().await;
    assert_error(app.get("/no/such/route").await, 404, "route_not_found").await;
    let response = app
        .client
        .delete(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_error(response, 405, "method_not_allowed").await;
    let response = app.post_json("/readyz", &json!({})).await;
    assert_error(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn an_unparseable_path_id_is_a_404() {
    let app = spawn().await;
    let response = app.get("/test/items/42").await;
    assert_eq!(response.status(), 200);
    assert_error(app.get("/test/items/forty-two").await, 404, "not_found").await;
}

#[tokio::test]
async fn an_internal_error_leaks_nothing_and_carries_the_request_id() {
    let app = spawn().await;
    let response = app
        .client
        .get(format!("{}/test/boom", app.address))
        .header("x-request-id", "support-ticket-77")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "support-ticket-77");
    let error = assert_error(response, 500, "internal_error").await;
    let text = error.to_string();
    assert!(!text.contains("hunter2"), "leaked: {text}");
    assert!(!text.contains("secret detail"), "leaked: {text}");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn().await;
    let first = app.get("/healthz").await;
    let second = app.get("/no/such/route").await;
    let first_id = first.headers()["x-request-id"].to_str().unwrap().to_owned();
    let second_id = second.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!first_id.is_empty());
    assert_ne!(first_id, second_id);

    // An id with characters that could forge log lines is replaced, not echoed.
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "abc def\tinjected")
        .send()
        .await
        .unwrap();
    let echoed = response.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(echoed, "abc def\tinjected");
    assert!(echoed.chars().all(|c| c.is_ascii_alphanumeric()));
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/v1/no-such-route", "/v1/me"] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(
            headers["content-security-policy"], "default-src 'none'; frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert!(
            headers.get("access-control-allow-origin").is_none(),
            "CORS is off"
        );
    }
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let allowed = "https://shop.example.com";
    let app = TestApp::spawn_with(
        &[(
            "BAZAAR__SERVER__CORS_ALLOWED_ORIGINS",
            "https://shop.example.com, http://localhost:3000",
        )],
        |_| {},
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/checkout", app.address),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
    };
    let response = preflight(allowed).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], allowed);
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");

    // Another site's preflight gets no permission, and its simple requests no
    // CORS header, so its pages cannot read our answers.
    let response = preflight("https://evil.example").await.unwrap();
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    // The allowed origin reads answers, with the headers a client needs.
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("origin", allowed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], allowed);
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-request-id") && exposed.contains("retry-after"));
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn deeply_nested_json_is_refused_in_the_error_shape() {
    let app = spawn().await;
    // Within the body limit, nested far past anything a request type holds.
    let mut body = b"{\"email\":\"a@example.com\",\"lines\":".to_vec();
    body.extend(std::iter::repeat_n(b'[', 900));
    let response = app.post_raw("/test/carts", "application/json", body).await;
    let status = response.status().as_u16();
    assert!(status == 400 || status == 422, "{status}");
    let error: Value = response.json().await.unwrap();
    assert!(error["error"]["code"].is_string(), "{error}");

    // The webhook envelope (free-form `data.object`) is bounded by the JSON
    // parser's depth limit: an error, never a stack overflow.
    let mut event = br#"{"id":"evt_1","object":"event","type":"x","created":1,"livemode":false,"data":{"object":"#.to_vec();
    event.extend(std::iter::repeat_n(b'[', 100_000));
    event.extend(std::iter::repeat_n(b']', 100_000));
    event.extend(b"}}");
    let decoded = bazaar::webhooks::decode_event(bazaar::webhooks::Source::Platform, &event);
    assert!(decoded.is_err());
}
