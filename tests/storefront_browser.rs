//! The storefront in a real browser: the real server on its own database,
//! seeded with the demo catalog, driven by `tests/browser/journeys.mjs`
//! (Playwright's core on Debian's chromium, axe-core, html-validate). Sign-up
//! sends a verification link: the journeys read it from the app's outbox
//! directory (`BAZAAR_OUTBOX_DIR`), as a buyer reads their email. The
//! operator console's journeys get their staff (an operator to enrol, finance
//! and support with their TOTP secrets) and a dead job from here
//! (`BAZAAR_OPS_*`).
//!
//! Needs chromium (`/usr/bin/chromium`, or `CHROME_PATH`), node and the pinned
//! node packages (`npm ci --prefix tests/browser`). Without them the test
//! says how to install them and passes, unless `CI` is set: then it fails.
//! Screenshots of failed journeys land in `target/browser/`.

use crate::common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::people::{
    forget_used_step, get_as, operator, pool, staff, unenrolled_staff, Person, PASSWORD,
};
use common::TestApp;
use serde_json::Value;

/// The whole browser run is bounded: a hung browser fails the test, not CI's clock.
const RUN_SECONDS_MAX: u64 = 420;

const HOW_TO_INSTALL: &str = "install them with `apt-get update && apt-get install -y \
     chromium chromium-driver` and `npm ci --prefix tests/browser` (Node 20)";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium_path() -> PathBuf {
    std::env::var_os("CHROME_PATH")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// What the run needs and this machine lacks.
fn missing_prerequisites() -> Vec<String> {
    let mut missing = Vec::new();
    let chromium = chromium_path();
    if !chromium.is_file() {
        missing.push(format!("chromium ({})", chromium.display()));
    }
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        missing.push("node".to_owned());
    }
    for package in ["playwright-core", "axe-core", "html-validate"] {
        let dir = browser_dir().join("node_modules").join(package);
        if !dir.is_dir() {
            missing.push(format!("{}", dir.display()));
        }
    }
    missing
}

/// Runs the journeys against `base_url`, reading the emailed links from
/// `outbox` (where the app's file transport writes), with `env` (the console
/// journeys' staff) set; returns (success, stdout, stderr).
fn run_journeys(base_url: &str, outbox: &Path, env: &[(String, String)]) -> (bool, String, String) {
    let mut child = Command::new("node")
        .arg(browser_dir().join("journeys.mjs"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("BAZAAR_URL", base_url)
        .env("BAZAAR_OUTBOX_DIR", outbox)
        .env("CHROME_PATH", chromium_path())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + Duration::from_secs(RUN_SECONDS_MAX);
    let status = loop {
        if let Some(status) = child.try_wait().expect("node's status") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = stdout.join().unwrap_or_default();
    let mut stderr = stderr.join().unwrap_or_default();
    if status.is_none() {
        stderr.push_str(&format!(
            "\nthe browser run was stopped after {RUN_SECONDS_MAX} s\n"
        ));
    }
    (status.is_some_and(|s| s.success()), stdout, stderr)
}

// Several threads: the server runs on this runtime while the browser, started
// from a blocking task, talks to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storefront_works_in_a_real_browser() {
    let missing = missing_prerequisites();
    if !missing.is_empty() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "the browser checks cannot run: missing {}; {HOW_TO_INSTALL} (.ci/run does)",
                missing.join(", ")
            );
        }
        println!(
            "skipped: the browser checks need {}; {HOW_TO_INSTALL}",
            missing.join(", ")
        );
        return;
    }

    let app = TestApp::spawn().await;
    let pool = pool(&app);
    bazaar::demo::seed(
        &app.settings,
        &pool,
        app.provider.as_ref(),
        app.sandbox_url.as_deref(),
    )
    .await
    .expect("the demo catalog is seeded");

    let env = console_staff(&app).await;

    let base_url = app.address.clone();
    let outbox = app.outbox_dir.path().to_path_buf();
    let (success, stdout, stderr) =
        tokio::task::spawn_blocking(move || run_journeys(&base_url, &outbox, &env))
            .await
            .expect("the browser run's thread");
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        println!("--- stderr ---\n{stderr}");
    }
    let failed: Vec<&str> = stdout
        .lines()
        .filter(|line| line.trim_start().starts_with("not ok"))
        .collect();
    assert!(
        success,
        "the storefront's browser checks failed (output above; screenshots in target/browser/):\n{}",
        failed.join("\n")
    );
}

/// The console journeys' staff, as environment variables for node: an
/// operator not yet enrolled in two-step sign-in (the browser enrols it),
/// finance and support enrolled (their TOTP secrets), the password. And a
/// dead job for the operator to replay.
async fn console_staff(app: &TestApp) -> Vec<(String, String)> {
    let setup = operator(app).await;
    let ops = unenrolled_staff(app, &setup, "operator").await;
    let finance = staff(app, &setup, "finance").await;
    let support = staff(app, &setup, "support").await;
    dead_job(app, &setup).await;
    // Enrolment used the current time step: forget it, so a code of this
    // step signs in (replay protection is tested in auth_totp).
    for person in [&finance, &support] {
        forget_used_step(app, person).await;
    }
    let secret = |p: &Person| p.totp_secret.clone().expect("enrolled");
    vec![
        ("BAZAAR_OPS_PASSWORD".into(), PASSWORD.into()),
        ("BAZAAR_OPS_OPERATOR_EMAIL".into(), ops.email.clone()),
        ("BAZAAR_OPS_FINANCE_EMAIL".into(), finance.email.clone()),
        ("BAZAAR_OPS_FINANCE_TOTP".into(), secret(&finance)),
        ("BAZAAR_OPS_SUPPORT_EMAIL".into(), support.email.clone()),
        ("BAZAAR_OPS_SUPPORT_TOTP".into(), secret(&support)),
    ]
}

/// A job nobody handles, retried until it is dead (a few seconds with the
/// tests' backoff): the operator journey replays it.
async fn dead_job(app: &TestApp, operator: &Person) {
    let pool = pool(app);
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().expect("connection");
        assert!(
            bazaar::jobs::enqueue(&mut conn, "ops_test_unhandled", "browser-journey")
                .expect("enqueue")
        );
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = get_as(app, operator, "/v1/jobs?status=dead&limit=100").await;
        assert_eq!(response.status(), 200, "GET /v1/jobs?status=dead");
        let body: Value = response.json().await.expect("jobs");
        let dead = body["data"]
            .as_array()
            .is_some_and(|jobs| jobs.iter().any(|j| j["subject"] == "browser-journey"));
        if dead {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the unhandled job is not dead after 30 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
