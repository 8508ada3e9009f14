//! The test harness: every test gets its own database and its own server.
//!
//! SQLite by default (a temp file per test). When `BAZAAR_TEST_DATABASE_URL`
//! names a PostgreSQL server, each test creates its own database there and
//! drops it afterwards, so tests run in parallel and never share state.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod cli;
pub mod edge;
pub mod mail;
pub mod people;

use std::collections::HashMap;
use std::path::PathBuf;

use bazaar::app::Application;
use bazaar::config::Settings;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use serde_json::Value;

/// The in-process sandbox's API key (its public default).
pub const SANDBOX_KEY: &str = "sk_test_sandbox";

/// The environment variable that switches the suite to PostgreSQL.
pub const TEST_DATABASE_URL_VAR: &str = "BAZAAR_TEST_DATABASE_URL";

/// When set, every server a test binary starts logs at debug level into
/// `{dir}/{binary}-{pid}.log` (see `.ci/log-leaks`).
pub const TEST_LOG_DIR_VAR: &str = "BAZAAR_TEST_LOG_DIR";

/// The capture's filter: everything of ours and of the HTTP, TLS, database
/// and provider client stacks at debug, except per-byte chatter of the
/// runtime and the HTTP/2 framing, which carries no values.
const CAPTURE_FILTER: &str = "debug,mio=info,tokio=info,runtime=info,h2=info";

fn capture_logs(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).expect("log capture folder");
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "test".into());
    let path = dir.join(format!("{binary}-{}.log", std::process::id()));
    bazaar::telemetry::init_file(CAPTURE_FILTER, &path).expect("log capture file");
}

/// A database owned by one test; dropped with it.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A fresh, empty database on the backend the suite runs against.
    pub fn create() -> Self {
        match std::env::var(TEST_DATABASE_URL_VAR) {
            Ok(admin_url) if !admin_url.is_empty() => Self::postgres(&admin_url),
            _ => Self::sqlite(),
        }
    }

    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("bazaar.db").display());
        Self {
            url,
            postgres: None,
            _dir: Some(dir),
        }
    }

    fn postgres(admin_url: &str) -> Self {
        let name = format!("bazaar_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = diesel::PgConnection::establish(admin_url).unwrap_or_else(|e| {
            panic!("{TEST_DATABASE_URL_VAR}={admin_url} is not reachable: {e}")
        });
        // The name is generated above, never input, so formatting it is safe.
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        let url = with_database_name(admin_url, &name);
        Self {
            url,
            postgres: Some((admin_url.to_owned(), name)),
            _dir: None,
        }
    }

    /// Which backend this database is on.
    pub fn backend(&self) -> &'static str {
        if self.postgres.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(mut admin) = diesel::PgConnection::establish(admin_url) {
                // FORCE ends the server's pooled connections, which may outlive the test body.
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// An HTTP client for a Bazaar server (or its sandbox) that never reuses a
/// connection the server may be closing: see `CLIENT_POOL_IDLE`.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(bazaar::http::slow_clients::CLIENT_POOL_IDLE)
}

/// [`http_client_builder`], built.
pub fn http_client() -> reqwest::Client {
    http_client_builder().build().expect("HTTP client")
}

/// Replaces the database name (the last path segment) of a PostgreSQL URL.
pub fn with_database_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].rfind('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// The repository's config folder.
pub fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// Settings as the test environment defines them, pointed at `database_url`,
/// with `overrides` given as `BAZAAR__…` variables.
pub fn test_settings(database_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut environment = HashMap::from([
        ("BAZAAR_ENV".to_owned(), "test".to_owned()),
        ("BAZAAR__DATABASE__URL".to_owned(), database_url.to_owned()),
    ]);
    // Uploaded pictures go to a folder of this test's own, never the repo's data/.
    let media_dir =
        std::env::temp_dir().join(format!("bazaar-media-{}", uuid::Uuid::new_v4().simple()));
    environment.insert(
        "BAZAAR__MEDIA__DIR".to_owned(),
        media_dir.display().to_string(),
    );
    for (key, value) in overrides {
        environment.insert((*key).to_owned(), (*value).to_owned());
    }
    Settings::load_from(&config_dir(), &environment).expect("test settings are valid")
}

/// A running server on a random port, with its own database.
pub struct TestApp {
    pub address: String,
    /// The provider client the server uses (the production client, on the sandbox).
    pub provider: std::sync::Arc<dyn bazaar::payments::Provider>,
    /// The in-process sandbox's base URL.
    pub sandbox_url: Option<String>,
    pub client: reqwest::Client,
    pub database: TestDatabase,
    pub settings: Settings,
    /// Where the file transport writes this test's emails (`email.outbox_dir`).
    pub outbox_dir: tempfile::TempDir,
}

impl TestApp {
    /// Starts the real server on its own fresh database.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[], |_| {}).await
    }

    /// Starts the server with settings overrides and extra routes mounted next
    /// to the real ones (for testing the shared HTTP machinery).
    pub async fn spawn_with(
        overrides: &[(&str, &str)],
        extra_routes: fn(&mut actix_web::web::ServiceConfig),
    ) -> Self {
        if let Some(dir) = std::env::var_os(TEST_LOG_DIR_VAR).filter(|d| !d.is_empty()) {
            capture_logs(std::path::Path::new(&dir));
        } else if std::env::var("TEST_LOG").is_ok() {
            bazaar::telemetry::init(&bazaar::config::LogSettings {
                format: bazaar::config::LogFormat::Human,
                filter: "debug".into(),
            });
        }
        let database = TestDatabase::create();
        let outbox_dir = tempfile::tempdir().expect("outbox dir");
        let outbox_path = outbox_dir.path().display().to_string();
        let mut overrides = overrides.to_vec();
        if !overrides
            .iter()
            .any(|(k, _)| *k == "BAZAAR__EMAIL__OUTBOX_DIR")
        {
            overrides.push(("BAZAAR__EMAIL__OUTBOX_DIR", &outbox_path));
        }
        // Uploaded pictures beside the outbox, removed with it.
        let media_path = outbox_dir.path().join("media").display().to_string();
        if !overrides.iter().any(|(k, _)| *k == "BAZAAR__MEDIA__DIR") {
            overrides.push(("BAZAAR__MEDIA__DIR", &media_path));
        }
        let settings = test_settings(&database.url, &overrides);
        let application = Application::build_with(settings.clone(), extra_routes)
            .await
            .expect("application builds");
        let mut client = http_client_builder().redirect(reqwest::redirect::Policy::none());
        // With server.tls_* set the server speaks only HTTPS; the client trusts
        // exactly its certificate, which names localhost.
        let address = match &settings.server.tls {
            Some(tls) => {
                let pem = tls.certificate_pem().expect("test certificate");
                let certificate = reqwest::Certificate::from_pem(&pem).expect("PEM certificate");
                client = client.add_root_certificate(certificate);
                format!("https://localhost:{}", application.port())
            }
            None => format!("http://127.0.0.1:{}", application.port()),
        };
        let provider = application.provider();
        let sandbox_url = application.sandbox_url();
        tokio::spawn(application.run_until_stopped());
        let client = client.build().expect("http client");
        Self {
            address,
            provider,
            sandbox_url,
            client,
            database,
            settings,
            outbox_dir,
        }
    }

    /// Starts a second server on this one's database, as a second `bazaar
    /// serve` process would run (its own pool, dispatcher, workers and
    /// sweeper); it runs until the test ends. Returns its address.
    pub async fn spawn_beside(&self) -> String {
        let application = Application::build_with(self.settings.clone(), |_| {})
            .await
            .expect("the second application builds");
        let address = format!("http://127.0.0.1:{}", application.port());
        tokio::spawn(application.run_until_stopped());
        address
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `POST path` to the in-process sandbox (its test helpers), asserting success.
    pub async fn sandbox_post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let base = self.sandbox_url.as_deref().expect("in-process sandbox");
        let response = self
            .client
            .post(format!("{base}{path}"))
            .bearer_auth(SANDBOX_KEY)
            .form(form)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let body: Value = response.json().await.expect("sandbox JSON");
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// `POST path` with raw bytes and a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }
}

/// Asserts the response is the API's error shape with this status and code;
/// returns the `error` object for further checks.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "content type was {content_type}"
    );
    let body: Value = response.json().await.expect("JSON error body");
    let error = body
        .get("error")
        .cloned()
        .unwrap_or_else(|| panic!("no error object in {body}"));
    assert_eq!(error["code"], code, "error code in {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error message in {body}"
    );
    error
}

/// Polls `check` every 50 ms until it holds; panics after 10 s.
pub async fn wait_until<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("condition not reached in 10 s");
}

/// README.md, then every Markdown file under docs/ by name.
pub fn documentation_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("a docs entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    let mut files = vec![root.join("README.md")];
    files.extend(docs);
    files
}
