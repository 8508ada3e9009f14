//! The binary as an operator runs it: from an empty folder, with no set-up.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::cli::{free_port, Running};

const BAZAAR: &str = env!("CARGO_BIN_EXE_bazaar");

fn bazaar(dir: &std::path::Path) -> Command {
    let mut command = Command::new(BAZAAR);
    command
        .current_dir(dir)
        .env_remove("BAZAAR_ENV")
        .env_remove("BAZAAR_CONFIG_DIR")
        .env("RUST_LOG", "warn");
    for (name, _) in std::env::vars() {
        if name.starts_with("BAZAAR__") {
            command.env_remove(name);
        }
    }
    command
}

/// `bazaar admin create-operator --email {email}` with the password piped in.
fn create_operator(dir: &std::path::Path, email: &str, password: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = bazaar(dir)
        .args(["admin", "create-operator", "--email", email])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn serve_on_the_embedded_defaults_creates_and_migrates_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = Running(
        bazaar(dir.path())
            .arg("serve")
            .env("BAZAAR__SERVER__BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = crate::common::http_client();
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        match client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
        {
            Ok(response) => break response,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(error) => panic!("server never answered: {error}"),
        }
    };
    assert_eq!(health.status(), 200);
    let ready = client
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert!(dir.path().join("data/bazaar.db").is_file());
}

#[test]
fn migrate_runs_twice_without_error() {
    let dir = tempfile::tempdir().unwrap();
    let first = bazaar(dir.path()).arg("migrate").output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("applied"));
    let second = bazaar(dir.path()).arg("migrate").output().unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(String::from_utf8_lossy(&second.stdout).contains("up to date"));
}

#[test]
fn a_bad_setting_stops_the_start_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = bazaar(dir.path())
        .arg("serve")
        .env("BAZAAR__DATABASE__URL", "mysql://nope")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`database.url`"), "{stderr}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created on a bad setting"
    );
}

#[test]
fn help_explains_each_command() {
    let output = Command::new(BAZAAR).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "migrate", "config"] {
        assert!(help.contains(command), "{help}");
    }
}

#[test]
fn the_first_operator_is_created_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let create = |password: &str| create_operator(dir.path(), "ops@market.example", password);
    let short = create("short");
    assert!(!short.status.success());
    assert!(
        String::from_utf8_lossy(&short.stderr).contains("12"),
        "{}",
        String::from_utf8_lossy(&short.stderr)
    );

    let created = create("quartz-meadow-7-lantern");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(String::from_utf8_lossy(&created.stdout).contains("ops@market.example"));

    let again = create("quartz-meadow-7-lantern");
    assert!(!again.status.success(), "the same email twice must fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_exits_1_when_the_provider_moved_money_the_ledger_lacks() {
    const KEY: &str = "sk_test_reconcile_cli";
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let sandbox = bazaar::sandbox::Sandbox::start(
        bazaar::sandbox::SandboxConfig {
            secret_key: KEY.into(),
            state_file: None,
            ..Default::default()
        },
        listener,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (path, base) = (dir.path().to_owned(), sandbox.base_url().to_owned());
    let reconcile = move || {
        bazaar(&path)
            .arg("reconcile")
            .env("BAZAAR__PROVIDER__KIND", "stripe")
            .env("BAZAAR__PROVIDER__API_BASE", &base)
            .env("BAZAAR__PROVIDER__SECRET_KEY", KEY)
            .env("BAZAAR__PROVIDER__WEBHOOK_SECRETS", "whsec_cli_platform")
            .env(
                "BAZAAR__PROVIDER__CONNECT_WEBHOOK_SECRETS",
                "whsec_cli_connect",
            )
            .output()
            .unwrap()
    };
    let clean = tokio::task::spawn_blocking(reconcile.clone())
        .await
        .unwrap();
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(String::from_utf8_lossy(&clean.stdout).contains("0 difference(s)"));

    // A payment made at the provider behind Bazaar's back.
    let intent: serde_json::Value = crate::common::http_client()
        .post(format!("{}/v1/payment_intents", sandbox.base_url()))
        .bearer_auth(KEY)
        .form(&[
            ("amount", "1000"),
            ("currency", "usd"),
            ("confirm", "true"),
            ("payment_method", "pm_card_visa"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let charge = intent["latest_charge"].as_str().unwrap().to_owned();
    let found = tokio::task::spawn_blocking(reconcile).await.unwrap();
    assert_eq!(found.status.code(), Some(1));
    let printed = String::from_utf8_lossy(&found.stdout);
    assert!(printed.contains("missing_in_ledger"), "{printed}");
    assert!(printed.contains(&charge), "{printed}");
    sandbox.stop().await;
}

/// Waits until `GET http://{addr}/healthz` answers (30 s at most).
async fn healthy(addr: &str) -> reqwest::Response {
    let client = crate::common::http_client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.get(format!("http://{addr}/healthz")).send().await {
            Ok(response) => break response,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(error) => panic!("server never answered at {addr}: {error}"),
        }
    }
}

#[tokio::test]
async fn serve_bind_wins_over_server_bind_and_logs_without_colour_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let (port, configured) = (free_port(), free_port());
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = Running(
        bazaar(dir.path())
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("BAZAAR__SERVER__BIND", format!("127.0.0.1:{configured}"))
            // The default filter (info): serve still logs, but in plain text.
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let health = healthy(&format!("127.0.0.1:{port}")).await;
    assert_eq!(health.status(), 200);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", configured)).is_err(),
        "--bind replaces server.bind: nothing listens on the configured port"
    );
    drop(server);
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(logged.contains(" INFO "), "serve logs at info: {logged}");
    assert!(
        !logged.contains('\x1b'),
        "no ANSI colour codes when stderr is not a terminal: {logged:?}"
    );
}

#[test]
fn serve_help_says_how_to_change_the_port() {
    let output = Command::new(BAZAAR)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for hint in ["--bind", "server.bind", "BAZAAR__SERVER__BIND"] {
        assert!(help.contains(hint), "`serve --help` lacks {hint}: {help}");
    }
}

#[test]
fn a_taken_port_stops_serve_with_the_address_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = bazaar(dir.path())
        .args(["serve", "--bind", &addr])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.matches(&format!("cannot listen on {addr}")).count(),
        1,
        "the error names the address, once: {stderr}"
    );
    assert_eq!(stderr.matches(&addr).count(), 1, "printed once: {stderr}");
    assert!(
        stderr.contains("--bind") && stderr.contains("server.bind"),
        "{stderr}"
    );
    assert!(stderr.starts_with("bazaar: "), "{stderr}");
    drop(taken);
}

#[test]
fn one_shot_commands_print_no_info_lines_and_no_colour_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let output = bazaar(dir.path())
        .args(["demo", "--seed"])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("demo seeded"));
    assert!(!stderr.contains('\x1b'), "ANSI codes on a pipe: {stderr:?}");
    assert!(!stderr.contains(" INFO "), "info lines: {stderr}");
}

/// A TOML document's top-level tables, parsed by the `config` crate.
fn toml_tables(text: &str) -> std::collections::BTreeMap<String, config::Value> {
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .unwrap_or_else(|e| panic!("not TOML ({e}):\n{text}"))
        .try_deserialize()
        .unwrap()
}

#[test]
fn config_prints_toml_with_the_default_keys_and_no_secret() {
    const SECRET_KEY: &str = "sk_test_cli_config_never_printed";
    const METRICS_TOKEN: &str = "metrics-token-cli-config-never-printed-0123";
    const DB_PASSWORD: &str = "pa55-w0rd-never-printed";
    let dir = tempfile::tempdir().unwrap();
    let output = bazaar(dir.path())
        .arg("config")
        .env("BAZAAR__PROVIDER__SECRET_KEY", SECRET_KEY)
        .env("BAZAAR__SERVER__METRICS_TOKEN", METRICS_TOKEN)
        .env(
            "BAZAAR__DATABASE__URL",
            format!("postgres://shopkeeper:{DB_PASSWORD}@db.internal:5432/bazaar"),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for secret in [SECRET_KEY, METRICS_TOKEN, DB_PASSWORD] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
    }
    assert!(
        stdout.contains("[server]\nbind = \"127.0.0.1:8080\""),
        "{stdout}"
    );

    let printed = toml_tables(&stdout);
    let defaults = toml_tables(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml"))
            .unwrap(),
    );
    assert_eq!(
        printed.keys().collect::<Vec<_>>(),
        defaults.keys().collect::<Vec<_>>(),
        "the same sections as config/default.toml"
    );
    for (section, keys) in &defaults {
        let keys = keys.clone().into_table().unwrap();
        let shown = printed[section].clone().into_table().unwrap();
        for key in keys.keys() {
            assert!(
                shown.contains_key(key),
                "{section}.{key} missing:\n{stdout}"
            );
        }
    }
    let value = |section: &str, key: &str| {
        printed[section].clone().into_table().unwrap()[key]
            .clone()
            .into_string()
            .unwrap()
    };
    assert_eq!(value("provider", "secret_key"), "<redacted>");
    assert_eq!(value("server", "metrics_token"), "<redacted>");
    assert_eq!(
        value("database", "url"),
        "postgres://shopkeeper:<redacted>@db.internal:5432/bazaar",
        "the user stays, the password goes"
    );
    assert_eq!(value("log", "format"), "human");
}

#[test]
fn no_example_needs_uuidgen() {
    // Not installed on a fresh Debian: `$(uuidgen)` expands to nothing there,
    // and the checkout example fails with idempotency_key_required.
    let root = env!("CARGO_MANIFEST_DIR");
    let mut documents = vec![std::path::PathBuf::from(root).join("README.md")];
    for entry in std::fs::read_dir(format!("{root}/docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            documents.push(path);
        }
    }
    for path in documents {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("uuidgen"),
            "{} still uses uuidgen",
            path.display()
        );
    }
}

/// `bazaar serve` on `dir`'s embedded defaults, on a free port, answering
/// `/healthz`; the child (killed when dropped) and its base URL.
async fn serving(dir: &std::path::Path) -> (Running, String) {
    let port = free_port();
    let server = Running(
        bazaar(dir)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert_eq!(healthy(&format!("127.0.0.1:{port}")).await.status(), 200);
    (server, format!("http://127.0.0.1:{port}"))
}

/// `bazaar reconcile` in `dir`, off the test's runtime.
async fn reconcile_in(dir: &std::path::Path) -> std::process::Output {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || bazaar(&dir).arg("reconcile").output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn reconcile_beside_a_running_embedded_serve_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = serving(dir.path()).await;
    let state = dir.path().join("data/sandbox.db");
    let state_and_log = || {
        let mut bytes = std::fs::read(&state).expect("serve wrote the sandbox's state");
        bytes.extend(std::fs::read(dir.path().join("data/sandbox.db-wal")).unwrap_or_default());
        bytes
    };
    let before = state_and_log();

    // A second in-process sandbox on the same state would erase what the
    // running one confirms: refused, with the file and the way out named.
    let beside = reconcile_in(dir.path()).await;
    let stderr = String::from_utf8_lossy(&beside.stderr);
    assert_eq!(beside.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("data/sandbox.db is in use by another bazaar process"),
        "{stderr}"
    );
    assert!(
        stderr.contains("POST /v1/reconciliation/reports"),
        "{stderr}"
    );
    assert!(state_and_log() == before, "the state is untouched");

    // Once serve is gone, reconcile runs on the same folder.
    drop(server);
    let alone = reconcile_in(dir.path()).await;
    assert_eq!(
        alone.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&alone.stderr)
    );
}

/// The README's "Start from zero", steps 1–4, as written: `serve` on an empty
/// folder, `admin create-operator` beside it, the operator's two-step
/// enrolment and sign-in, and the platform fee rule from the README's JSON.
#[tokio::test]
async fn start_from_zero_an_operator_and_the_readmes_fee_rule() {
    use serde_json::{json, Value};
    let dir = tempfile::tempdir().unwrap();
    let (_server, base) = serving(dir.path()).await;

    const EMAIL: &str = "you@example.com";
    const PASSWORD: &str = "amber falcon meadow 42";
    let dir_path = dir.path().to_owned();
    let created = tokio::task::spawn_blocking(move || create_operator(&dir_path, EMAIL, PASSWORD))
        .await
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let client = crate::common::http_client();
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut request = client.post(format!("{base}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let code = |secret: &str, ahead: u64| {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(6)
            .with_step_duration(30)
            .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
            .build()
            .unwrap()
            .generate(unix + ahead)
            .to_string()
    };

    // Step 3: the first sign-in turns on two-step sign-in, then a code signs in.
    let (status, first) = post(
        "/v1/sessions",
        None,
        json!({"email": EMAIL, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let first = first["token"].as_str().unwrap().to_owned();
    let (status, enrolment) = post("/v1/me/totp", Some(&first), json!({})).await;
    assert_eq!(status, 201, "{enrolment}");
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let (status, confirmed) = post(
        "/v1/me/totp/confirm",
        Some(&first),
        json!({"code": code(&secret, 0)}),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    let (status, session) = post(
        "/v1/sessions",
        None,
        json!({"email": EMAIL, "password": PASSWORD, "totp_code": code(&secret, 30)}),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    let operator = session["token"].as_str().unwrap().to_owned();

    // Step 4: the README's fee rule, as written there, is accepted and in force.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("## Start from zero").expect("the section");
    let section = &readme[start..];
    let body_at = section
        .find("POST /v1/fee_rules ")
        .expect("the API's fee rule")
        + "POST /v1/fee_rules ".len();
    let body_end = body_at + section[body_at..].find("`.)").expect("the body's end");
    let body: Value = serde_json::from_str(&section[body_at..body_end].replace('\n', " "))
        .expect("the README's fee rule is JSON");
    let (status, rule) = post("/v1/fee_rules", Some(&operator), body).await;
    assert_eq!(status, 201, "{rule}");
    let rules: Value = client
        .get(format!("{base}/v1/fee_rules"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        rules.to_string().contains(rule["id"].as_str().unwrap()),
        "{rules}"
    );
}
