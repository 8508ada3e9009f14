//! A real nginx (Debian's) in front of `bazaar serve`, configured by
//! `config/nginx/bazaar.conf` as shipped (only addresses and paths replaced):
//! public pages and catalog JSON are served from its cache, a product change
//! reaches buyers through it within the stated bound (10 s `s-maxage` plus
//! the request that starts the refresh), and nothing personal is ever kept or
//! served to someone else.
//!
//! Without nginx (`/usr/sbin/nginx`) the test says how to install it and
//! passes, unless `CI` is set: then it fails.

use crate::common;
use crate::orders_support;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cli::free_port;
use common::edge::{start_edge, Edge, NGINX};
use common::people::{bearer, signup};
use common::TestApp;
use orders_support::{active_shop, product};
use serde_json::{json, Value};

/// The configuration's `s-maxage`: how long the edge serves a copy as fresh.
const EDGE_FRESH: Duration = Duration::from_secs(10);

/// A GET through the edge: status, `X-Cache-Status`, body.
async fn through(
    client: &reqwest::Client,
    edge: &Edge,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut request = client.get(format!("{}{path}", edge.address));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("through nginx");
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("x-cache-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, cache, response.text().await.unwrap())
}

#[tokio::test]
async fn nginx_serves_the_public_catalog_from_its_cache_and_never_anything_personal() {
    if !Path::new(NGINX).is_file() {
        let message = "edge cache test skipped: nginx is not installed (apt-get install nginx)";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("{message}");
        return;
    }
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let id = product(&app, &seller, &shop, "Edge teapot", 4_200, 5).await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let edge = start_edge(port, free_port(), 1);
    let client = common::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Public answers: the first fills the cache, the next is served from it.
    for path in [
        format!("/products/{id}"),
        format!("/v1/products/{id}"),
        "/v1/products?q=teapot".to_owned(),
        "/search?q=teapot".to_owned(),
    ] {
        let (status, first, body) = through(&client, &edge, &path, &[]).await;
        assert_eq!((status, first.as_str()), (200, "MISS"), "{path}");
        let (_, second, again) = through(&client, &edge, &path, &[]).await;
        assert_eq!(second, "HIT", "{path}");
        assert_eq!(again, body, "{path}");
    }

    // A change reaches buyers through the edge within its bound.
    let changed_at = Instant::now();
    let renamed = app
        .client
        .patch(format!("{}/v1/products/{id}", app.address))
        .header("Authorization", bearer(&seller.token))
        .json(&json!({"title": "Edge kettle"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let (_, _, stale) = through(&client, &edge, &format!("/v1/products/{id}"), &[]).await;
    let stale: Value = serde_json::from_str(&stale).unwrap();
    assert_eq!(
        stale["title"], "Edge teapot",
        "the edge still serves its copy"
    );
    loop {
        let (_, _, body) = through(&client, &edge, &format!("/v1/products/{id}"), &[]).await;
        let (_, _, page) = through(&client, &edge, &format!("/products/{id}"), &[]).await;
        let product: Value = serde_json::from_str(&body).unwrap();
        if product["title"] == "Edge kettle" && page.contains("Edge kettle") {
            break;
        }
        // The bound: fresh for EDGE_FRESH, then one request starts the refresh.
        assert!(
            changed_at.elapsed() < EDGE_FRESH + Duration::from_secs(5),
            "the change did not reach buyers through the edge"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Personal: a signed-in visitor's page and the API with a bearer are
    // never stored, and never served to anyone else.
    let buyer = signup(&app, "buyer").await;
    let cookie = format!("bz_session={}", buyer.token);
    for _ in 0..2 {
        let (status, cache, page) = through(
            &client,
            &edge,
            &format!("/products/{id}"),
            &[("Cookie", &cookie)],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(cache, "BYPASS");
        assert!(
            page.contains(&buyer.email) || page.contains("Sign out"),
            "a personal page"
        );
        let (status, cache, me) = through(
            &client,
            &edge,
            "/v1/me",
            &[("Authorization", &bearer(&buyer.token))],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(cache, "BYPASS");
        assert!(me.contains(&buyer.email));
    }
    let (_, _, anonymous) = through(&client, &edge, &format!("/products/{id}"), &[]).await;
    assert!(!anonymous.contains(&buyer.email) && !anonymous.contains("Sign out"));
    // Without credentials, a personal URL answers for nobody, and is not kept.
    let (status, cache, _) = through(&client, &edge, "/v1/me", &[]).await;
    assert_eq!(status, 401);
    assert_ne!(cache, "HIT");
    let (status, cache, _) = through(&client, &edge, "/v1/me", &[]).await;
    assert_eq!(status, 401);
    assert_ne!(cache, "HIT", "an error is not cached either");
}
