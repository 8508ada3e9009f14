//! Typed settings, loaded in layers: the embedded `config/default.toml`, then
//! `config/{BAZAAR_ENV}.toml`, then `BAZAAR__SECTION__KEY` environment variables.
//!
//! Files and environment are first read into loosely typed `Raw*` structs, then
//! [`RawSettings::validate`] turns them into [`Settings`], so every bad value is
//! reported with the dotted key that holds it (`database.url: ...`) instead of a
//! serde error deep inside a struct. Secrets are refused in files: they come from
//! the environment or from a `*_file` path, and their `Debug` is redacted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The defaults compiled into the binary, so `bazaar serve` runs from any folder.
pub const EMBEDDED_DEFAULTS: &str = include_str!("../config/default.toml");

/// Environment variables that override settings start with this prefix.
pub const ENV_PREFIX: &str = "BAZAAR";

/// Keys whose values are secrets: accepted from the environment or a file, never from a config file.
pub const SECRET_KEYS: [&str; 4] = [
    "provider.secret_key",
    "provider.webhook_secrets",
    "provider.connect_webhook_secrets",
    "email.smtp_password",
];

const POOL_SIZE_MAX_LIMIT: u32 = 256;
const BODY_BYTES_MAX_LIMIT: usize = 16 * 1024 * 1024;
/// A year: longer sandbox delays only make tests advance the clock further.
const SANDBOX_DELAY_S_MAX: i64 = 31_536_000;

/// A setting that could not be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// One key holds a value we cannot use.
    #[error("config key `{key}`: {problem}")]
    Invalid { key: String, problem: String },
    /// A file or the environment could not be read or did not have the expected shape.
    #[error("configuration: {0}")]
    Source(String),
}

fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

/// Everything the process needs to know, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub provider: ProviderSettings,
    pub sandbox: SandboxSettings,
    pub email: EmailSettings,
    pub auth: AuthSettings,
}

/// Sessions, login throttling and the operators' second factor.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// How long a login token is valid.
    pub session_ttl: Duration,
    /// Failed logins (per account, and per client address) before a lockout.
    pub login_failures_max: u32,
    /// How long a lockout lasts, and the window failures are counted in.
    pub login_lockout: Duration,
    /// Shown by authenticator apps next to the operator's account.
    pub totp_issuer: String,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    /// Worker threads; `None` lets actix use one per core.
    pub workers: Option<usize>,
    pub body_bytes_max: usize,
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: DatabaseUrl,
    pub pool_size_max: u32,
    pub connect_timeout: Duration,
    pub busy_timeout: Duration,
    pub migrate_on_start: bool,
}

/// Which backend a URL names; the variant decides the connection type.
#[derive(Clone)]
pub enum DatabaseUrl {
    /// A file path (relative to the working directory) or `:memory:`.
    Sqlite(PathBuf),
    /// A libpq connection URL.
    Postgres(SecretString),
}

impl DatabaseUrl {
    /// Parses `sqlite://path`, `sqlite:path`, `postgres://…` or `postgresql://…`.
    ///
    /// # Errors
    /// Any other scheme, or an empty path.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if rest.is_empty() {
                return Err("a sqlite URL needs a file path, e.g. sqlite://data/bazaar.db".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(rest)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(SecretString::from(url.to_owned())));
        }
        Err("expected a URL starting with sqlite:// or postgres://".into())
    }

    /// The backend's name, for logs and `/readyz`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    // A PostgreSQL URL may carry a password: show the host part only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => {
                let url = url.expose_secret();
                let host = url.rsplit_once('@').map_or_else(
                    || url.split_once("://").map_or("", |(_, rest)| rest),
                    |(_, host)| host,
                );
                write!(f, "postgres://[REDACTED]@{host}")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// The in-process Stripe-compatible sandbox.
    Sandbox,
    /// The real provider API.
    Stripe,
}

#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub kind: ProviderKind,
    pub api_base: String,
    pub secret_key: Option<SecretString>,
    pub webhook_secrets: Vec<SecretString>,
    pub connect_webhook_secrets: Vec<SecretString>,
    pub connect_onboarding_return_url: String,
    pub connect_onboarding_refresh_url: String,
    pub webhook_tolerance: Duration,
    /// Total attempts for a provider call that keeps failing transiently.
    pub retry_attempts_max: u32,
    /// Delay before the first retry; doubles each time, jittered.
    pub retry_backoff: Duration,
    /// Per-attempt timeout of a provider call.
    pub request_timeout: Duration,
}

/// The Stripe-compatible sandbox: in-process under `provider.kind = "sandbox"`,
/// or standalone with `bazaar sandbox`.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    pub bind: SocketAddr,
    pub funds_delay_s: i64,
    pub payout_interval_s: i64,
    pub payout_transit_s: i64,
    /// Where the sandbox keeps its state between runs; `None` = memory only.
    pub state_file: Option<PathBuf>,
    pub fault_duplicate: bool,
    pub fault_shuffle: bool,
    pub fault_delay_ms: u64,
    pub fault_drop_first: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTransport {
    File,
    Smtp,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub transport: EmailTransport,
    pub outbox_dir: PathBuf,
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_username: String,
    pub smtp_password: Option<SecretString>,
}

/// Settings as read from the layers, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    server: RawServer,
    database: RawDatabase,
    log: RawLog,
    provider: RawProvider,
    sandbox: RawSandbox,
    email: RawEmail,
    auth: RawAuth,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    session_ttl_s: u64,
    login_failures_max: u32,
    login_lockout_s: u64,
    totp_issuer: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSandbox {
    bind: String,
    funds_delay_s: i64,
    payout_interval_s: i64,
    payout_transit_s: i64,
    state_file: String,
    fault_duplicate: bool,
    fault_shuffle: bool,
    fault_delay_ms: u64,
    fault_drop_first: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    bind: String,
    workers: usize,
    body_bytes_max: usize,
    shutdown_timeout_s: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: String,
    pool_size_max: u32,
    connect_timeout_ms: u64,
    busy_timeout_ms: u64,
    migrate_on_start: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: String,
    filter: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    kind: String,
    api_base: String,
    connect_onboarding_return_url: String,
    connect_onboarding_refresh_url: String,
    webhook_tolerance_s: u64,
    retry_attempts_max: u32,
    retry_backoff_ms: u64,
    request_timeout_ms: u64,
    secret_key: Option<SecretString>,
    secret_key_file: Option<PathBuf>,
    webhook_secrets: Option<SecretString>,
    webhook_secrets_file: Option<PathBuf>,
    connect_webhook_secrets: Option<SecretString>,
    connect_webhook_secrets_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    transport: String,
    outbox_dir: PathBuf,
    from: String,
    smtp_host: String,
    smtp_port: u16,
    smtp_username: String,
    smtp_password: Option<SecretString>,
    smtp_password_file: Option<PathBuf>,
}

impl Settings {
    /// Loads settings from the process environment and `config_dir`.
    ///
    /// `BAZAAR_ENV` names the environment file (`development` when unset, whose
    /// file is optional; a named environment's file must exist).
    ///
    /// # Errors
    /// A missing environment file, a secret in a file, or any invalid value.
    pub fn load(config_dir: &Path) -> Result<Self, ConfigError> {
        let environment: HashMap<String, String> = std::env::vars().collect();
        Self::load_from(config_dir, &environment)
    }

    /// Like [`Settings::load`], with the environment given as a map (for tests).
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn load_from(
        config_dir: &Path,
        environment: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let env_name = environment.get("BAZAAR_ENV").map(String::as_str);
        let files = file_layers(config_dir, env_name)?;
        for key in SECRET_KEYS {
            if files.get::<config::Value>(key).is_ok() {
                let env_var = format!("{ENV_PREFIX}__{}", key.replace('.', "__").to_uppercase());
                return Err(invalid(
                    key,
                    format!("secrets are not read from config files; set {env_var} or {key}_file"),
                ));
            }
        }
        let overrides: HashMap<String, String> = environment
            .iter()
            .filter(|(name, _)| name.starts_with(&format!("{ENV_PREFIX}__")))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let merged = config::Config::builder()
            .add_source(files)
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(overrides)),
            )
            .build()
            .map_err(|e| ConfigError::Source(e.to_string()))?;
        let raw: RawSettings = merged
            .try_deserialize()
            .map_err(|e| ConfigError::Source(e.to_string()))?;
        raw.validate()
    }
}

fn file_layers(config_dir: &Path, env_name: Option<&str>) -> Result<config::Config, ConfigError> {
    let mut builder = config::Config::builder().add_source(config::File::from_str(
        EMBEDDED_DEFAULTS,
        config::FileFormat::Toml,
    ));
    let (name, required) = match env_name {
        Some(name) => (name, true),
        None => ("development", false),
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid("BAZAAR_ENV", "use letters, digits, '-' or '_'"));
    }
    let path = config_dir.join(format!("{name}.toml"));
    if required && !path.is_file() {
        return Err(invalid(
            "BAZAAR_ENV",
            format!("environment `{name}` has no file {}", path.display()),
        ));
    }
    if path.is_file() {
        builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
    }
    builder
        .build()
        .map_err(|e| ConfigError::Source(e.to_string()))
}

impl RawSettings {
    /// Checks every value and builds the typed [`Settings`].
    ///
    /// # Errors
    /// The first invalid key, named.
    pub fn validate(self) -> Result<Settings, ConfigError> {
        Ok(Settings {
            server: self.server.validate()?,
            database: self.database.validate()?,
            log: self.log.validate()?,
            provider: self.provider.validate()?,
            sandbox: self.sandbox.validate()?,
            email: self.email.validate()?,
            auth: self.auth.validate()?,
        })
    }
}

impl RawServer {
    fn validate(self) -> Result<ServerSettings, ConfigError> {
        let bind = self.bind.parse().map_err(|_| {
            invalid(
                "server.bind",
                format!("`{}` is not an address like 127.0.0.1:8080", self.bind),
            )
        })?;
        if self.body_bytes_max == 0 || self.body_bytes_max > BODY_BYTES_MAX_LIMIT {
            return Err(invalid(
                "server.body_bytes_max",
                format!("must be between 1 and {BODY_BYTES_MAX_LIMIT}"),
            ));
        }
        Ok(ServerSettings {
            bind,
            workers: (self.workers > 0).then_some(self.workers),
            body_bytes_max: self.body_bytes_max,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_s),
        })
    }
}

impl RawDatabase {
    fn validate(self) -> Result<DatabaseSettings, ConfigError> {
        let url =
            DatabaseUrl::parse(&self.url).map_err(|problem| invalid("database.url", problem))?;
        if self.pool_size_max == 0 || self.pool_size_max > POOL_SIZE_MAX_LIMIT {
            return Err(invalid(
                "database.pool_size_max",
                format!("must be between 1 and {POOL_SIZE_MAX_LIMIT}"),
            ));
        }
        if self.connect_timeout_ms == 0 {
            return Err(invalid("database.connect_timeout_ms", "must be above 0"));
        }
        Ok(DatabaseSettings {
            url,
            pool_size_max: self.pool_size_max,
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            busy_timeout: Duration::from_millis(self.busy_timeout_ms),
            migrate_on_start: self.migrate_on_start,
        })
    }
}

impl RawLog {
    fn validate(self) -> Result<LogSettings, ConfigError> {
        let format = match self.format.as_str() {
            "human" => LogFormat::Human,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid(
                    "log.format",
                    format!("`{other}` is not human or json"),
                ))
            }
        };
        tracing_subscriber::EnvFilter::try_new(&self.filter)
            .map_err(|e| invalid("log.filter", e.to_string()))?;
        Ok(LogSettings {
            format,
            filter: self.filter,
        })
    }
}

impl RawProvider {
    fn validate(self) -> Result<ProviderSettings, ConfigError> {
        let kind = match self.kind.as_str() {
            "sandbox" => ProviderKind::Sandbox,
            "stripe" => ProviderKind::Stripe,
            other => {
                return Err(invalid(
                    "provider.kind",
                    format!("`{other}` is not sandbox or stripe"),
                ))
            }
        };
        require_http_url("provider.api_base", &self.api_base)?;
        require_http_url(
            "provider.connect_onboarding_return_url",
            &self.connect_onboarding_return_url,
        )?;
        require_http_url(
            "provider.connect_onboarding_refresh_url",
            &self.connect_onboarding_refresh_url,
        )?;
        let secret_key = secret("provider.secret_key", self.secret_key, self.secret_key_file)?;
        let webhook_secrets = secret_list(
            "provider.webhook_secrets",
            self.webhook_secrets,
            self.webhook_secrets_file,
        )?;
        let connect_webhook_secrets = secret_list(
            "provider.connect_webhook_secrets",
            self.connect_webhook_secrets,
            self.connect_webhook_secrets_file,
        )?;
        if kind == ProviderKind::Stripe {
            let Some(key) = &secret_key else {
                return Err(invalid(
                    "provider.secret_key",
                    "required when provider.kind = stripe (set BAZAAR__PROVIDER__SECRET_KEY)",
                ));
            };
            let key = key.expose_secret();
            if !["sk_test_", "sk_live_", "rk_test_", "rk_live_"]
                .iter()
                .any(|prefix| key.starts_with(prefix))
            {
                return Err(invalid(
                    "provider.secret_key",
                    "expected a secret or restricted key (sk_test_…, sk_live_…, rk_…)",
                ));
            }
            if webhook_secrets.is_empty() {
                return Err(invalid(
                    "provider.webhook_secrets",
                    "required when provider.kind = stripe (set BAZAAR__PROVIDER__WEBHOOK_SECRETS)",
                ));
            }
        }
        if self.webhook_tolerance_s == 0 || self.webhook_tolerance_s > 3600 {
            return Err(invalid(
                "provider.webhook_tolerance_s",
                "must be between 1 and 3600",
            ));
        }
        if self.retry_attempts_max == 0 || self.retry_attempts_max > 10 {
            return Err(invalid(
                "provider.retry_attempts_max",
                "must be between 1 and 10",
            ));
        }
        if self.request_timeout_ms == 0 {
            return Err(invalid("provider.request_timeout_ms", "must be above 0"));
        }
        Ok(ProviderSettings {
            retry_attempts_max: self.retry_attempts_max,
            retry_backoff: Duration::from_millis(self.retry_backoff_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            kind,
            api_base: self.api_base.trim_end_matches('/').to_owned(),
            secret_key,
            webhook_secrets,
            connect_webhook_secrets,
            connect_onboarding_return_url: self.connect_onboarding_return_url,
            connect_onboarding_refresh_url: self.connect_onboarding_refresh_url,
            webhook_tolerance: Duration::from_secs(self.webhook_tolerance_s),
        })
    }
}

impl RawSandbox {
    fn validate(self) -> Result<SandboxSettings, ConfigError> {
        let bind = self.bind.parse().map_err(|_| {
            invalid(
                "sandbox.bind",
                format!("`{}` is not an address like 127.0.0.1:12111", self.bind),
            )
        })?;
        for (key, value) in [
            ("sandbox.funds_delay_s", self.funds_delay_s),
            ("sandbox.payout_interval_s", self.payout_interval_s),
            ("sandbox.payout_transit_s", self.payout_transit_s),
        ] {
            if !(0..=SANDBOX_DELAY_S_MAX).contains(&value) {
                return Err(invalid(
                    key,
                    format!("must be between 0 and {SANDBOX_DELAY_S_MAX}"),
                ));
            }
        }
        Ok(SandboxSettings {
            bind,
            funds_delay_s: self.funds_delay_s,
            payout_interval_s: self.payout_interval_s.max(1),
            payout_transit_s: self.payout_transit_s,
            state_file: (!self.state_file.trim().is_empty())
                .then(|| PathBuf::from(self.state_file)),
            fault_duplicate: self.fault_duplicate,
            fault_shuffle: self.fault_shuffle,
            fault_delay_ms: self.fault_delay_ms,
            fault_drop_first: self.fault_drop_first,
        })
    }
}

impl RawAuth {
    fn validate(self) -> Result<AuthSettings, ConfigError> {
        if !(60..=31_536_000).contains(&self.session_ttl_s) {
            return Err(invalid(
                "auth.session_ttl_s",
                "must be between 60 and 31536000",
            ));
        }
        if !(1..=100).contains(&self.login_failures_max) {
            return Err(invalid(
                "auth.login_failures_max",
                "must be between 1 and 100",
            ));
        }
        if !(1..=86_400).contains(&self.login_lockout_s) {
            return Err(invalid(
                "auth.login_lockout_s",
                "must be between 1 and 86400",
            ));
        }
        if self.totp_issuer.trim().is_empty() || self.totp_issuer.contains(':') {
            return Err(invalid(
                "auth.totp_issuer",
                "must be non-empty and without ':'",
            ));
        }
        Ok(AuthSettings {
            session_ttl: Duration::from_secs(self.session_ttl_s),
            login_failures_max: self.login_failures_max,
            login_lockout: Duration::from_secs(self.login_lockout_s),
            totp_issuer: self.totp_issuer,
        })
    }
}

impl RawEmail {
    fn validate(self) -> Result<EmailSettings, ConfigError> {
        let transport = match self.transport.as_str() {
            "file" => EmailTransport::File,
            "smtp" => EmailTransport::Smtp,
            other => {
                return Err(invalid(
                    "email.transport",
                    format!("`{other}` is not file or smtp"),
                ))
            }
        };
        // The sender goes into a header: a line break would let a value inject headers.
        if !self.from.contains('@') || self.from.contains(['\r', '\n']) {
            return Err(invalid(
                "email.from",
                "expected an address like Name <user@host>",
            ));
        }
        if transport == EmailTransport::Smtp && self.smtp_host.trim().is_empty() {
            return Err(invalid(
                "email.smtp_host",
                "required when email.transport = smtp",
            ));
        }
        let smtp_password = secret(
            "email.smtp_password",
            self.smtp_password,
            self.smtp_password_file,
        )?;
        Ok(EmailSettings {
            transport,
            outbox_dir: self.outbox_dir,
            from: self.from,
            smtp_host: self.smtp_host,
            smtp_port: self.smtp_port,
            smtp_username: self.smtp_username,
            smtp_password,
        })
    }
}

fn require_http_url(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(())
    } else {
        Err(invalid(key, format!("`{value}` is not an http(s) URL")))
    }
}

/// A secret given either directly (from the environment) or as a file path, not both.
fn secret(
    key: &str,
    value: Option<SecretString>,
    file: Option<PathBuf>,
) -> Result<Option<SecretString>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(invalid(
            key,
            format!("give either {key} or {key}_file, not both"),
        )),
        (Some(value), None) => Ok(Some(value)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                invalid(
                    &format!("{key}_file"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let text = text.trim();
            if text.is_empty() {
                return Err(invalid(
                    &format!("{key}_file"),
                    format!("{} is empty", path.display()),
                ));
            }
            Ok(Some(SecretString::from(text.to_owned())))
        }
        (None, None) => Ok(None),
    }
}

/// Several secrets at once, comma or newline separated, so one can be rolled.
fn secret_list(
    key: &str,
    value: Option<SecretString>,
    file: Option<PathBuf>,
) -> Result<Vec<SecretString>, ConfigError> {
    let Some(joined) = secret(key, value, file)? else {
        return Ok(Vec::new());
    };
    let mut secrets = Vec::new();
    for part in joined.expose_secret().split([',', '\n']).map(str::trim) {
        if part.is_empty() {
            continue;
        }
        if !part.starts_with("whsec_") {
            return Err(invalid(key, "each webhook secret starts with whsec_"));
        }
        secrets.push(SecretString::from(part.to_owned()));
    }
    Ok(secrets)
}
