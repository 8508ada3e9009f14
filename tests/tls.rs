//! Optional TLS on the listener: HTTPS with a certificate made here, HSTS only
//! when TLS is on, the sandbox's webhooks delivered over HTTPS, and bad
//! certificate settings refused at start with the key named.

use crate::common;
use crate::orders_support;

use std::collections::HashMap;
use std::path::Path;

use common::people::{get_as, post_as, signup};
use common::{config_dir, wait_until, TestApp};
use orders_support::json_of;
use serde_json::json;

const HSTS: &str = "strict-transport-security";

/// A self-signed certificate for localhost, written as PEM files into `dir`.
fn certificate(dir: &Path, name: &str) -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert.display().to_string(), key.display().to_string())
}

async fn spawn_tls(dir: &Path) -> TestApp {
    let (cert, key) = certificate(dir, "server");
    TestApp::spawn_with(
        &[
            ("BAZAAR__SERVER__TLS_CERT_FILE", &cert),
            ("BAZAAR__SERVER__TLS_KEY_FILE", &key),
        ],
        |_| {},
    )
    .await
}

#[tokio::test]
async fn https_answers_carry_hsts_and_the_sandbox_delivers_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_tls(dir.path()).await;
    assert!(app.address.starts_with("https://localhost:"));

    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers[HSTS], "max-age=31536000");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    let error = app.get("/no/such/route").await;
    assert_eq!(error.status(), 404);
    assert_eq!(error.headers()[HSTS], "max-age=31536000");

    // The listener speaks only TLS: plain HTTP on its port gets no answer.
    let plain = app.address.replace("https://", "http://");
    assert!(reqwest::get(format!("{plain}/healthz")).await.is_err());

    // The in-process sandbox's account.updated reaches the connect endpoint
    // over HTTPS and activates the shop with no sync call.
    let ann = signup(&app, "seller").await;
    let body = json!({"name": "Ann's", "slug": "anns-tls", "country": "US", "default_currency": "USD", "support_email": "a@shop.example"});
    let shop = json_of(post_as(&app, &ann, "/v1/shops", &body).await, 201).await;
    let account = shop["provider_account_id"].as_str().unwrap();
    app.sandbox_post(
        &format!("/v1/test_helpers/accounts/{account}/complete_onboarding"),
        &[],
    )
    .await;
    let shop_path = format!("/v1/shops/{}", shop["id"].as_str().unwrap());
    wait_until(|| async {
        json_of(get_as(&app, &ann, &shop_path).await, 200).await["status"] == "active"
    })
    .await;
}

#[tokio::test]
async fn plain_http_answers_carry_no_hsts() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get(HSTS).is_none());
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

fn load(overrides: &[(&str, &str)]) -> Result<bazaar::config::Settings, String> {
    let mut environment = HashMap::from([("BAZAAR_ENV".to_owned(), "test".to_owned())]);
    for (key, value) in overrides {
        environment.insert((*key).to_owned(), (*value).to_owned());
    }
    bazaar::config::Settings::load_from(&config_dir(), &environment).map_err(|e| e.to_string())
}

#[test]
fn bad_certificate_settings_stop_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "a");
    let (_, other_key) = certificate(dir.path(), "b");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a PEM file\n").unwrap();
    let garbage = garbage.display().to_string();
    let missing = dir.path().join("missing.pem").display().to_string();
    const CERT: &str = "BAZAAR__SERVER__TLS_CERT_FILE";
    const KEY: &str = "BAZAAR__SERVER__TLS_KEY_FILE";

    let settings = load(&[(CERT, &cert), (KEY, &key)]).expect("a matching pair loads");
    let tls = settings.server.tls.expect("tls on");
    assert_eq!(tls.cert_file.display().to_string(), cert);
    assert!(load(&[]).unwrap().server.tls.is_none());

    for (overrides, names, says) in [
        (
            vec![(CERT, cert.as_str())],
            "`server.tls_key_file`",
            "required",
        ),
        (
            vec![(KEY, key.as_str())],
            "`server.tls_cert_file`",
            "required",
        ),
        (
            vec![(CERT, missing.as_str()), (KEY, key.as_str())],
            "`server.tls_cert_file`",
            "cannot read",
        ),
        (
            vec![(CERT, cert.as_str()), (KEY, missing.as_str())],
            "`server.tls_key_file`",
            "cannot read",
        ),
        (
            vec![(CERT, garbage.as_str()), (KEY, key.as_str())],
            "`server.tls_cert_file`",
            "no CERTIFICATE",
        ),
        (
            vec![(CERT, cert.as_str()), (KEY, garbage.as_str())],
            "`server.tls_key_file`",
            "no PEM private key",
        ),
        // A key file holding a certificate is not a key either.
        (
            vec![(CERT, cert.as_str()), (KEY, cert.as_str())],
            "`server.tls_key_file`",
            "no PEM private key",
        ),
        (
            vec![(CERT, cert.as_str()), (KEY, other_key.as_str())],
            "`server.tls_key_file`",
            "does not fit",
        ),
    ] {
        let error = load(&overrides).expect_err("refused");
        assert!(error.contains(names), "{overrides:?}: {error}");
        assert!(error.contains(says), "{overrides:?}: {error}");
    }
}
