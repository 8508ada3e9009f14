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

mod net;
mod raw;
mod show;
mod tls;

pub use net::IpRange;
use raw::RawSettings;
pub use show::{redact_url_password, REDACTED};
pub use tls::TlsSettings;

/// The defaults compiled into the binary, so `bazaar serve` runs from any folder.
pub const EMBEDDED_DEFAULTS: &str = include_str!("../../config/default.toml");

/// Environment variables that override settings start with this prefix.
pub const ENV_PREFIX: &str = "BAZAAR";

/// Keys whose values are secrets: accepted from the environment or a file, never from a config file.
pub const SECRET_KEYS: [&str; 6] = [
    "server.metrics_token",
    "auth.totp_encryption_keys",
    "provider.secret_key",
    "provider.webhook_secrets",
    "provider.connect_webhook_secrets",
    "email.smtp_password",
];

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

pub(crate) fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
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
    pub orders: OrderSettings,
    pub jobs: JobSettings,
    pub limits: LimitSettings,
    pub media: MediaSettings,
    pub events: EventSettings,
    pub outgoing_webhooks: OutgoingWebhookSettings,
}

/// Signed webhooks sent to integrators' endpoints (see `crate::events::delivery`).
#[derive(Debug, Clone)]
pub struct OutgoingWebhookSettings {
    /// Whether endpoints may be private, loopback or link-local addresses
    /// (and plain http to loopback): tests and local development only.
    pub allow_private_addresses: bool,
    /// How long one attempt may take, connection to the answer's last byte read.
    pub timeout: Duration,
    /// The waits before each retry after a failure (± 20 % jitter); after the
    /// last, the delivery has failed for good.
    pub retry_schedule: Vec<Duration>,
    /// An endpoint failing every attempt this long is disabled and its owner told.
    pub disable_after_failing: Duration,
    /// How long the previous secret keeps signing after a rotation.
    pub secret_grace: Duration,
    /// How often the dispatcher looks for new events and due deliveries.
    pub poll_interval: Duration,
}

/// The events feed (see `crate::events`).
#[derive(Debug, Clone)]
pub struct EventSettings {
    /// How long an event is kept in the feed; older ones are purged hourly.
    pub retention: std::time::Duration,
}

/// Pictures sellers upload (see `crate::media`).
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Where the local-disk store keeps the re-encoded pictures.
    pub dir: PathBuf,
    /// The largest upload read, in bytes; 413 past it.
    pub max_upload_bytes: usize,
    /// Uploads per seller per minute (decoding is a core's work for a while).
    pub uploads_per_minute: u32,
    /// How long an upload no product or shop uses is kept before it is
    /// deleted; `None`: kept for ever.
    pub unused_after: Option<std::time::Duration>,
}

/// Request rates each client may use (per process; see `http::rate_limit`).
#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// Sign-ups per client address per minute.
    pub signup_per_minute: u32,
    /// Checkouts per buyer per minute.
    pub checkout_per_minute: u32,
    /// Webhook deliveries per client address per second.
    pub webhooks_per_second: u32,
    /// Requests that call the payments provider, per user per minute.
    pub provider_calls_per_minute: u32,
    /// Sign-in attempts per client address per minute, counted before any
    /// password is checked.
    pub logins_per_minute: u32,
    /// Sign-in attempts per subnet (IPv4 /24, IPv6 /64) per minute.
    pub logins_per_minute_per_subnet: u32,
    /// Passwords hashed or verified at once (argon2 takes a core each).
    pub password_checks_at_once: usize,
    /// Sign-ins and sign-ups that may wait for a password check; beyond
    /// them, 429 at once instead of a queue that slows everyone.
    pub password_checks_waiting_max: usize,
}

/// The job queue's workers (processing provider events, for now).
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// Worker tasks per process; 0 runs none (another process works the queue).
    pub workers: u32,
    /// Jobs one worker runs at once (each waits mostly on the provider and
    /// the database, so a few in flight keep a core busy).
    pub concurrency: u32,
    /// How often an idle worker looks for due jobs.
    pub poll_interval: Duration,
    /// Attempts before a job is dead.
    pub attempts_max: u32,
    /// Wait before the first retry; doubles after each failure.
    pub backoff_first: Duration,
    /// How long a claimed job is its worker's before another may take it
    /// (a worker that died mid-job holds it this long).
    pub lease: Duration,
}

/// Unpaid orders and the background sweep that finishes what requests started.
#[derive(Debug, Clone)]
pub struct OrderSettings {
    /// How long an unpaid order keeps its stock reserved before it expires.
    pub unpaid_ttl: Duration,
    /// How often the sweep runs: expiries, transfers, reversals, refunds left pending.
    pub sweep_interval: Duration,
    /// When a seller's share leaves the platform, unless its fee rule says otherwise.
    pub release: ReleasePolicy,
    /// Days after shipment a part not confirmed delivered counts as delivered
    /// (and, under `on_delivery`, is released), unless its fee rule says otherwise.
    pub release_after_days: i32,
    /// How long before its ship-by date an unshipped part's seller is
    /// reminded, once (zero: never).
    pub ship_soon: Duration,
}

/// When a seller's share of a part may be transferred to its connected
/// account; until then the platform holds it (the seller's `payable`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReleasePolicy {
    /// As soon as the buyer has paid.
    OnPayment,
    /// Once every unit of the part has shipped.
    OnShipment,
    /// Once the part is delivered, or `release_after_days` after it shipped.
    OnDelivery,
}

impl ReleasePolicy {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnPayment => "on_payment",
            Self::OnShipment => "on_shipment",
            Self::OnDelivery => "on_delivery",
        }
    }

    /// Parses a stored or configured name.
    pub fn parse(value: &str) -> Option<Self> {
        [Self::OnPayment, Self::OnShipment, Self::OnDelivery]
            .into_iter()
            .find(|p| p.as_str() == value)
    }
}

/// Sessions, login throttling and the operators' second factor.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// How long a login token is valid.
    pub session_ttl: Duration,
    /// How long a staff member's (operator, finance, support) login token
    /// is valid, instead of `session_ttl`.
    pub staff_session_ttl: Duration,
    /// An account nobody has signed in to for this many days (counted from
    /// its creation if never) is listed as stale.
    pub stale_after_days: u32,
    /// Failed logins (per account, and per client address) before a lockout.
    pub login_failures_max: u32,
    /// How long a lockout lasts, and the window failures are counted in.
    pub login_lockout: Duration,
    /// Shown by authenticator apps next to the operator's account.
    pub totp_issuer: String,
    /// Keys (64 hex characters each) the TOTP secrets are encrypted with at
    /// rest: the first encrypts, all decrypt. Empty: a key kept in the database
    /// (development only; `BAZAAR_ENV=production` refuses to start without one).
    pub totp_encryption_keys: Vec<SecretString>,
    /// How long an emailed address-verification link works.
    pub email_verification_ttl: Duration,
    /// How long an emailed password-reset link works.
    pub password_reset_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    /// Where people reach the storefront (links in emails); `None`: this
    /// server's own address.
    pub public_url: Option<String>,
    /// Worker threads; `None` lets actix use one per core.
    pub workers: Option<usize>,
    pub body_bytes_max: usize,
    pub shutdown_timeout: Duration,
    /// Origins browsers may call the API from (CORS); empty: CORS off, no
    /// `Access-Control-Allow-*` header is ever sent.
    pub cors_allowed_origins: Vec<String>,
    /// TLS on the listener (`server.tls_cert_file` + `server.tls_key_file`);
    /// `None` serves plain HTTP, for a proxy that terminates TLS.
    pub tls: Option<TlsSettings>,
    /// How long a request's head (request line and headers) may take to
    /// arrive (`server.request_header_timeout_ms`): 408, then the connection
    /// is closed. Also closes a kept-alive connection whose next request has
    /// not fully arrived this long after its keep-alive ended.
    pub request_header_timeout: Duration,
    /// How long a request's body may take to arrive, from its head
    /// (`server.body_timeout_ms`): 408 `request_timeout`, connection closed.
    pub body_timeout: Duration,
    /// Open connections one client address may hold
    /// (`server.connections_per_address_max`); more are closed on accept.
    /// `None` (0): no cap.
    pub connections_per_address_max: Option<usize>,
    /// A second listener serving only `/metrics` (plain HTTP, for a scraper on
    /// a private network); the main listener then answers 404 there.
    pub metrics_bind: Option<SocketAddr>,
    /// A bearer token `/metrics` requires when set.
    pub metrics_token: Option<SecretString>,
    /// Peers whose `X-Forwarded-For` is believed (a proxy in front); empty:
    /// the client address is always the TCP peer.
    pub trusted_proxies: Vec<IpRange>,
    /// Requests one process works on at once, per route class
    /// (`server.in_flight_*_max`); one more is answered 503 `overloaded` at once.
    pub in_flight: InFlightMax,
}

/// Requests in flight at once per route class (see `http::overload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlightMax {
    /// `/v1/…`.
    pub api: usize,
    /// The storefront, the workspace, the console and their assets.
    pub pages: usize,
    /// The provider's webhooks (`/webhooks/…`).
    pub webhooks: usize,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub probes: usize,
}

impl ServerSettings {
    /// `https` when the listener speaks TLS itself, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
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
    /// The key the payment page's Payment Element runs with (`pk_…`); public.
    pub publishable_key: Option<String>,
    pub webhook_secrets: Vec<SecretString>,
    pub connect_webhook_secrets: Vec<SecretString>,
    /// Where the provider sends a seller back after onboarding; `{shop_id}`
    /// is replaced by the shop's id. Empty: the seller workspace's page on
    /// `server.public_url` (or the host the request came to).
    pub connect_onboarding_return_url: String,
    /// Where an expired onboarding link leads (a page that makes a fresh
    /// one); as `connect_onboarding_return_url`.
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
    pub fault_jitter_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTransport {
    File,
    Smtp,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, refused if the server cannot (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS: only to a relay on this machine (loopback), never across a network.
    None,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub transport: EmailTransport,
    pub outbox_dir: PathBuf,
    /// The sender, validated as a mailbox (`Name <user@host>`).
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    pub smtp_timeout: Duration,
    pub smtp_username: String,
    pub smtp_password: Option<SecretString>,
}

/// Settings as read from the layers, before validation.
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
        Self::load_layers(config_dir, environment).map(|(settings, _)| settings)
    }

    /// The settings `load` would use, as TOML for `bazaar config`: the same
    /// sections and keys as `config/default.toml`, secrets and URL passwords
    /// replaced by [`REDACTED`]. Validated first, so a bad setting is an error here too.
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn effective_toml(
        config_dir: &Path,
        environment: &HashMap<String, String>,
    ) -> Result<String, ConfigError> {
        let (_, merged) = Self::load_layers(config_dir, environment)?;
        show::to_toml(merged)
    }

    /// The validated settings and the merged layers they were read from.
    fn load_layers(
        config_dir: &Path,
        environment: &HashMap<String, String>,
    ) -> Result<(Self, config::Config), ConfigError> {
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
            .clone()
            .try_deserialize()
            .map_err(|e| ConfigError::Source(e.to_string()))?;
        let settings = raw.validate()?;
        // The sandbox takes any card and moves no money: a production
        // deployment that fell back to it would accept orders it never charges.
        if env_name == Some("production") && settings.provider.kind == ProviderKind::Sandbox {
            return Err(invalid(
                "provider.kind",
                "BAZAAR_ENV=production needs provider.kind = stripe (the sandbox moves no money)",
            ));
        }
        // A key kept next to the secrets it protects protects nothing.
        if env_name == Some("production") && settings.auth.totp_encryption_keys.is_empty() {
            return Err(invalid(
                "auth.totp_encryption_keys",
                "required when BAZAAR_ENV=production: set BAZAAR__AUTH__TOTP_ENCRYPTION_KEYS or auth.totp_encryption_keys_file (64 hex characters: openssl rand -hex 32)",
            ));
        }
        Ok((settings, merged))
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
