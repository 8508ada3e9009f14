//! The provider-shaped payloads under webhooks/: every one is accepted at its
//! endpoint, stored once and processed without a dead letter (their objects
//! are the provider's examples, unknown to this marketplace, so each is
//! acknowledged as "nothing of ours"); `bazaar replay` posts them signed.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use common::people::{get_as, operator};
use common::TestApp;
use serde_json::Value;

const PLATFORM: &str = "whsec_payloads_platform";
const CONNECT: &str = "whsec_payloads_connect";

fn payload_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("webhooks");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// `bazaar replay --url URL FILES…` with this test's secrets.
async fn replay(url: &str, files: &[PathBuf]) -> std::process::Output {
    let (url, files) = (url.to_owned(), files.to_vec());
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_bazaar"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("BAZAAR__PROVIDER__WEBHOOK_SECRETS", PLATFORM)
            .env("BAZAAR__PROVIDER__CONNECT_WEBHOOK_SECRETS", CONNECT)
            .env("BAZAAR__LOG__FILTER", "error")
            .args(["replay", "--url", &url])
            .args(&files)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn every_payload_is_accepted_stored_once_and_processed() {
    let files = payload_files();
    let kinds: Vec<String> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for handled in [
        "account.updated",
        "capability.updated",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "charge.succeeded",
        "charge.refunded",
        "refund.updated",
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "transfer.created",
        "transfer.reversed",
        "transfer.updated",
        "payout.created",
        "payout.paid",
        "payout.failed",
        "payout.canceled",
        "balance.available",
    ] {
        assert!(
            kinds.iter().any(|k| k == handled),
            "webhooks/{handled}.json is missing"
        );
    }
    for file in &files {
        let event: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let kind = file.file_stem().unwrap().to_string_lossy();
        assert_eq!(event["type"], kind.as_ref(), "{}", file.display());
        assert!(
            event["data"]["object"]["object"].is_string(),
            "{} has a provider object",
            file.display()
        );
    }

    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__PROVIDER__WEBHOOK_SECRETS", PLATFORM),
            ("BAZAAR__PROVIDER__CONNECT_WEBHOOK_SECRETS", CONNECT),
        ],
        |_| {},
    )
    .await;
    // The real command, as an operator would run it.
    let output = replay(&app.address, &files).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "replay failed: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("200 ")).count(),
        files.len(),
        "{stdout}"
    );
    // Again: every one is a duplicate now.
    let again = replay(&app.address, &files).await;
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(
        stdout.matches("\"duplicate\":true").count(),
        files.len(),
        "{stdout}"
    );

    let operator = operator(&app).await;
    let mut done = 0;
    for _ in 0..200 {
        let jobs: Value = get_as(&app, &operator, "/v1/jobs?status=done&limit=100")
            .await
            .json()
            .await
            .unwrap();
        done = jobs["data"].as_array().unwrap().len();
        if done == files.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(done, files.len());
    let dead: Value = get_as(&app, &operator, "/v1/jobs?status=dead")
        .await
        .json()
        .await
        .unwrap();
    assert!(dead["data"].as_array().unwrap().is_empty(), "{dead}");
}
