//! Settings: layers, validation that names the key, and secrets that stay secret.

use crate::common;

use std::collections::HashMap;

use bazaar::config::{ConfigError, DatabaseUrl, LogFormat, ProviderKind, Settings};
use common::config_dir;
use secrecy::ExposeSecret;

fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let environment: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Settings::load_from(&config_dir(), &environment)
}

fn error_of(vars: &[(&str, &str)]) -> String {
    load(vars)
        .expect_err("settings should be refused")
        .to_string()
}

#[test]
fn the_embedded_defaults_need_nothing() {
    let settings = load(&[]).unwrap();
    assert_eq!(settings.server.bind.to_string(), "127.0.0.1:8080");
    assert!(
        matches!(&settings.database.url, DatabaseUrl::Sqlite(path) if path.as_path() == std::path::Path::new("data/bazaar.db")),
        "{:?}",
        settings.database.url
    );
    assert_eq!(settings.server.body_bytes_max, 65536);
    assert_eq!(settings.provider.kind, ProviderKind::Sandbox);
    assert_eq!(settings.log.format, LogFormat::Human);
}

#[test]
fn environment_variables_override_files() {
    let settings = load(&[
        ("BAZAAR__SERVER__BIND", "0.0.0.0:9000"),
        ("BAZAAR__LOG__FORMAT", "json"),
        ("BAZAAR__DATABASE__POOL_SIZE_MAX", "3"),
    ])
    .unwrap();
    assert_eq!(settings.server.bind.to_string(), "0.0.0.0:9000");
    assert_eq!(settings.log.format, LogFormat::Json);
    assert_eq!(settings.database.pool_size_max, 3);
}

#[test]
fn the_environment_file_is_layered_over_the_defaults() {
    let settings = load(&[("BAZAAR_ENV", "test")]).unwrap();
    assert_eq!(settings.server.bind.port(), 0);
    assert_eq!(settings.database.pool_size_max, 4);
    // Untouched keys keep their defaults.
    assert_eq!(settings.server.body_bytes_max, 65536);
}

#[test]
fn a_named_environment_without_a_file_is_refused() {
    let error = error_of(&[("BAZAAR_ENV", "staging")]);
    assert!(error.contains("BAZAAR_ENV"), "{error}");
    assert!(error.contains("staging.toml"), "{error}");
}

#[test]
fn bad_values_name_their_key() {
    let cases: [(&str, &str, &str); 16] = [
        (
            "BAZAAR__MEDIA__UNUSED_AFTER_HOURS",
            "5",
            "media.unused_after_hours",
        ),
        (
            "BAZAAR__SERVER__PUBLIC_URL",
            "market.example",
            "server.public_url",
        ),
        (
            "BAZAAR__SERVER__PUBLIC_URL",
            "https://market.example/?a=1",
            "server.public_url",
        ),
        (
            "BAZAAR__AUTH__EMAIL_VERIFICATION_TTL_S",
            "10",
            "auth.email_verification_ttl_s",
        ),
        (
            "BAZAAR__AUTH__PASSWORD_RESET_TTL_S",
            "999999",
            "auth.password_reset_ttl_s",
        ),
        (
            "BAZAAR__SERVER__CORS_ALLOWED_ORIGINS",
            "*",
            "server.cors_allowed_origins",
        ),
        (
            "BAZAAR__SERVER__CORS_ALLOWED_ORIGINS",
            "https://ok.example, https://shop.example/path",
            "server.cors_allowed_origins",
        ),
        (
            "BAZAAR__SERVER__CORS_ALLOWED_ORIGINS",
            "shop.example",
            "server.cors_allowed_origins",
        ),
        ("BAZAAR__SERVER__BIND", "not-an-address", "server.bind"),
        (
            "BAZAAR__SERVER__BODY_BYTES_MAX",
            "0",
            "server.body_bytes_max",
        ),
        (
            "BAZAAR__DATABASE__URL",
            "mysql://localhost/db",
            "database.url",
        ),
        (
            "BAZAAR__DATABASE__POOL_SIZE_MAX",
            "0",
            "database.pool_size_max",
        ),
        ("BAZAAR__LOG__FORMAT", "xml", "log.format"),
        ("BAZAAR__PROVIDER__KIND", "paypal", "provider.kind"),
        (
            "BAZAAR__PROVIDER__API_BASE",
            "ftp://example.com",
            "provider.api_base",
        ),
        ("BAZAAR__EMAIL__FROM", "no address", "email.from"),
    ];
    for (var, value, key) in cases {
        let error = error_of(&[(var, value)]);
        assert!(
            error.contains(&format!("`{key}`")),
            "{var}={value}: {error}"
        );
    }
}

#[test]
fn the_public_url_is_kept_without_its_trailing_slash() {
    let settings = load(&[("BAZAAR__SERVER__PUBLIC_URL", "https://market.example/")]).unwrap();
    assert_eq!(
        settings.server.public_url.as_deref(),
        Some("https://market.example")
    );
    assert_eq!(load(&[]).unwrap().server.public_url, None);
}

#[test]
fn a_value_of_the_wrong_type_names_its_key() {
    let error = error_of(&[("BAZAAR__DATABASE__POOL_SIZE_MAX", "many")]);
    assert!(error.contains("pool_size_max"), "{error}");
}

#[test]
fn a_misspelt_key_is_refused_not_ignored() {
    let error = error_of(&[("BAZAAR__SERVER__BIN", "0.0.0.0:1")]);
    assert!(error.contains("bin"), "{error}");
}

#[test]
fn the_real_provider_needs_a_key_and_webhook_secrets() {
    let error = error_of(&[("BAZAAR__PROVIDER__KIND", "stripe")]);
    assert!(error.contains("`provider.secret_key`"), "{error}");

    let error = error_of(&[
        ("BAZAAR__PROVIDER__KIND", "stripe"),
        ("BAZAAR__PROVIDER__SECRET_KEY", "pk_test_publishable"),
    ]);
    assert!(error.contains("`provider.secret_key`"), "{error}");
    assert!(
        !error.contains("pk_test_publishable"),
        "the key was echoed: {error}"
    );

    let error = error_of(&[
        ("BAZAAR__PROVIDER__KIND", "stripe"),
        ("BAZAAR__PROVIDER__SECRET_KEY", "sk_test_abc"),
    ]);
    assert!(error.contains("`provider.webhook_secrets`"), "{error}");

    // Without the Connect endpoint's secret every payout, balance and account
    // event would be refused: refused at start instead.
    let error = error_of(&[
        ("BAZAAR__PROVIDER__KIND", "stripe"),
        ("BAZAAR__PROVIDER__SECRET_KEY", "sk_test_abc"),
        ("BAZAAR__PROVIDER__WEBHOOK_SECRETS", "whsec_new, whsec_old"),
    ]);
    assert!(
        error.contains("`provider.connect_webhook_secrets`"),
        "{error}"
    );

    let settings = load(&[
        ("BAZAAR__PROVIDER__KIND", "stripe"),
        ("BAZAAR__PROVIDER__SECRET_KEY", "sk_test_abc"),
        ("BAZAAR__PROVIDER__WEBHOOK_SECRETS", "whsec_new, whsec_old"),
        ("BAZAAR__PROVIDER__CONNECT_WEBHOOK_SECRETS", "whsec_connect"),
    ])
    .unwrap();
    let secrets: Vec<&str> = settings
        .provider
        .webhook_secrets
        .iter()
        .map(ExposeSecret::expose_secret)
        .collect();
    assert_eq!(secrets, ["whsec_new", "whsec_old"]);
}

#[test]
fn secrets_are_read_from_files_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("stripe_key");
    std::fs::write(&key_file, "sk_live_from_a_file\n").unwrap();
    let settings = load(&[
        (
            "BAZAAR__PROVIDER__SECRET_KEY_FILE",
            key_file.to_str().unwrap(),
        ),
        ("BAZAAR__EMAIL__SMTP_PASSWORD", "smtp-hunter2"),
        (
            "BAZAAR__DATABASE__URL",
            "postgres://app:db-hunter2@db.internal:5432/bazaar",
        ),
    ])
    .unwrap();
    assert_eq!(
        settings
            .provider
            .secret_key
            .as_ref()
            .map(ExposeSecret::expose_secret),
        Some("sk_live_from_a_file")
    );
    let printed = format!("{settings:?} {settings:#?}");
    for secret in ["sk_live_from_a_file", "smtp-hunter2", "db-hunter2"] {
        assert!(!printed.contains(secret), "{secret} printed in {printed}");
    }
    assert!(printed.contains("db.internal"), "{printed}");
}

#[test]
fn a_secret_in_a_config_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("leaky.toml"),
        "[provider]\nsecret_key = \"sk_live_committed_by_mistake\"\n",
    )
    .unwrap();
    let environment = HashMap::from([("BAZAAR_ENV".to_owned(), "leaky".to_owned())]);
    let error = Settings::load_from(dir.path(), &environment)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("`provider.secret_key`"), "{error}");
    assert!(error.contains("BAZAAR__PROVIDER__SECRET_KEY"), "{error}");
    assert!(!error.contains("sk_live_committed_by_mistake"), "{error}");
}

#[test]
fn an_unreadable_secret_file_names_its_key() {
    let error = error_of(&[("BAZAAR__EMAIL__SMTP_PASSWORD_FILE", "/nonexistent/secret")]);
    assert!(error.contains("`email.smtp_password_file`"), "{error}");
}

#[test]
fn production_refuses_the_sandbox_provider() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("production.toml"), "").unwrap();
    let environment = HashMap::from([("BAZAAR_ENV".to_owned(), "production".to_owned())]);
    let error = Settings::load_from(dir.path(), &environment)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("`provider.kind`"), "{error}");
}

#[test]
fn the_sandboxs_fixed_webhook_secrets_sign_only_on_loopback() {
    let fixed = bazaar::app::SANDBOX_WEBHOOK_SECRETS;
    let local = bazaar::app::webhook_secrets(&load(&[]).unwrap());
    assert_eq!(local.platform, [fixed.0]);
    assert_eq!(local.connect, [fixed.1]);
    let public = load(&[("BAZAAR__SERVER__BIND", "0.0.0.0:8080")]).unwrap();
    let first = bazaar::app::webhook_secrets(&public);
    assert_ne!(first.platform, [fixed.0]);
    assert_ne!(first.connect, [fixed.1]);
    assert_ne!(first.platform, first.connect);
    // The same pair for the whole process: the sandbox signs with what the endpoints accept.
    let again = bazaar::app::webhook_secrets(&public);
    assert_eq!(
        (first.platform, first.connect),
        (again.platform, again.connect)
    );
}
