//! The storefront in a real browser: the real server on its own database,
//! seeded with the demo catalog, driven by `tests/browser/journeys.mjs`
//! (Playwright's core on Debian's chromium, axe-core, html-validate). Sign-up
//! sends a verification link: the journeys read it from the app's outbox
//! directory (`BAZAAR_OUTBOX_DIR`), as a buyer reads their email.
//!
//! Needs chromium (`/usr/bin/chromium`, or `CHROME_PATH`), node and the pinned
//! node packages (`npm ci --prefix tests/browser`). Without them the test
//! says how to install them and passes, unless `CI` is set: then it fails.
//! Screenshots of failed journeys land in `target/browser/`.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::people::pool;
use common::TestApp;

/// The whole browser run is bounded: a hung browser fails the test, not CI's clock.
const RUN_SECONDS_MAX: u64 = 300;

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
/// `outbox` (where the app's file transport writes); returns (success,
/// stdout, stderr).
fn run_journeys(base_url: &str, outbox: &Path) -> (bool, String, String) {
    let mut child = Command::new("node")
        .arg(browser_dir().join("journeys.mjs"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("BAZAAR_URL", base_url)
        .env("BAZAAR_OUTBOX_DIR", outbox)
        .env("CHROME_PATH", chromium_path())
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

    let base_url = app.address.clone();
    let outbox = app.outbox_dir.path().to_path_buf();
    let (success, stdout, stderr) =
        tokio::task::spawn_blocking(move || run_journeys(&base_url, &outbox))
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
