//! Settings as read from the layers (loosely typed), and their validation into
//! [`super::Settings`]: every bad value is reported with the dotted key that holds it.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{
    invalid, AuthSettings, ConfigError, DatabaseSettings, DatabaseUrl, EmailSettings,
    EmailTransport, JobSettings, LimitSettings, LogFormat, LogSettings, OrderSettings,
    ProviderKind, ProviderSettings, ReleasePolicy, SandboxSettings, ServerSettings, Settings,
    SmtpTls,
};

const POOL_SIZE_MAX_LIMIT: u32 = 256;
const BODY_BYTES_MAX_LIMIT: usize = 16 * 1024 * 1024;
/// A year: longer sandbox delays only make tests advance the clock further.
const SANDBOX_DELAY_S_MAX: i64 = 31_536_000;
/// A shorter bearer token for `/metrics` could be guessed.
const METRICS_TOKEN_CHARS_MIN: usize = 32;

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
    orders: RawOrders,
    jobs: RawJobs,
    limits: RawLimits,
    media: RawMedia,
    events: RawEvents,
    outgoing_webhooks: RawOutgoingWebhooks,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    signup_per_minute: u32,
    checkout_per_minute: u32,
    webhooks_per_second: u32,
    provider_calls_per_minute: u32,
    logins_per_minute: u32,
    logins_per_minute_per_subnet: u32,
    /// 0: one per core.
    password_checks_at_once: u32,
    password_checks_waiting_max: u32,
}

impl RawLimits {
    fn validate(self) -> Result<LimitSettings, ConfigError> {
        for (key, value) in [
            ("limits.signup_per_minute", self.signup_per_minute),
            ("limits.checkout_per_minute", self.checkout_per_minute),
            ("limits.webhooks_per_second", self.webhooks_per_second),
            (
                "limits.provider_calls_per_minute",
                self.provider_calls_per_minute,
            ),
            ("limits.logins_per_minute", self.logins_per_minute),
            (
                "limits.logins_per_minute_per_subnet",
                self.logins_per_minute_per_subnet,
            ),
        ] {
            if !(1..=1_000_000).contains(&value) {
                return Err(invalid(key, "must be between 1 and 1000000"));
            }
        }
        if self.password_checks_at_once > 1024 {
            return Err(invalid(
                "limits.password_checks_at_once",
                "must be between 0 (one per core) and 1024",
            ));
        }
        if self.password_checks_waiting_max > 100_000 {
            return Err(invalid(
                "limits.password_checks_waiting_max",
                "must be between 0 and 100000",
            ));
        }
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Ok(LimitSettings {
            signup_per_minute: self.signup_per_minute,
            checkout_per_minute: self.checkout_per_minute,
            webhooks_per_second: self.webhooks_per_second,
            provider_calls_per_minute: self.provider_calls_per_minute,
            logins_per_minute: self.logins_per_minute,
            logins_per_minute_per_subnet: self.logins_per_minute_per_subnet,
            password_checks_at_once: match self.password_checks_at_once {
                0 => cores,
                n => n as usize,
            },
            password_checks_waiting_max: self.password_checks_waiting_max as usize,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJobs {
    workers: u32,
    concurrency: u32,
    poll_interval_ms: u64,
    attempts_max: u32,
    backoff_first_ms: u64,
    lease_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrders {
    unpaid_ttl_s: u64,
    sweep_interval_ms: u64,
    release: String,
    release_after_days: i32,
    ship_soon_hours: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    session_ttl_s: u64,
    staff_session_ttl_s: u64,
    stale_after_days: u32,
    login_failures_max: u32,
    login_lockout_s: u64,
    totp_issuer: String,
    totp_encryption_keys: Option<SecretString>,
    totp_encryption_keys_file: Option<PathBuf>,
    email_verification_ttl_s: u64,
    password_reset_ttl_s: u64,
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
    fault_jitter_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    bind: String,
    workers: usize,
    body_bytes_max: usize,
    shutdown_timeout_s: u64,
    tls_cert_file: String,
    tls_key_file: String,
    cors_allowed_origins: String,
    request_header_timeout_ms: u64,
    body_timeout_ms: u64,
    connections_per_address_max: usize,
    metrics_bind: String,
    metrics_token: Option<SecretString>,
    metrics_token_file: Option<PathBuf>,
    trusted_proxies: String,
    public_url: String,
    in_flight_api_max: usize,
    in_flight_pages_max: usize,
    in_flight_webhooks_max: usize,
    in_flight_probes_max: usize,
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
    publishable_key: Option<String>,
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
    smtp_tls: String,
    smtp_timeout_ms: u64,
    smtp_username: String,
    smtp_password: Option<SecretString>,
    smtp_password_file: Option<PathBuf>,
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
            orders: self.orders.validate()?,
            jobs: self.jobs.validate()?,
            limits: self.limits.validate()?,
            media: self.media.validate()?,
            events: self.events.validate()?,
            outgoing_webhooks: self.outgoing_webhooks.validate()?,
        })
    }
}

/// Bounds of `server.request_header_timeout_ms` and `server.body_timeout_ms`:
/// under 100 ms honest clients on slow links fail; over 10 minutes the
/// timeout no longer protects anything.
const SERVER_TIMEOUT_MS_MIN: u64 = 100;
const SERVER_TIMEOUT_MS_MAX: u64 = 600_000;
/// The largest `server.in_flight_*_max`: past it the bound bounds nothing.
const IN_FLIGHT_MAX_LIMIT: usize = 100_000;

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
        let cors_allowed_origins = self
            .cors_allowed_origins
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(cors_origin)
            .collect::<Result<Vec<_>, _>>()?;
        let (metrics_bind, metrics_token, trusted_proxies) = edge_settings(
            &self.metrics_bind,
            self.metrics_token,
            self.metrics_token_file,
            &self.trusted_proxies,
        )?;
        let public_url = public_url(&self.public_url)?;
        let timeout = |key: &str, ms: u64| {
            if (SERVER_TIMEOUT_MS_MIN..=SERVER_TIMEOUT_MS_MAX).contains(&ms) {
                Ok(Duration::from_millis(ms))
            } else {
                Err(invalid(
                    key,
                    format!("must be between {SERVER_TIMEOUT_MS_MIN} and {SERVER_TIMEOUT_MS_MAX}"),
                ))
            }
        };
        let in_flight = |key: &str, max: usize| {
            if (1..=IN_FLIGHT_MAX_LIMIT).contains(&max) {
                Ok(max)
            } else {
                Err(invalid(
                    key,
                    format!("must be between 1 and {IN_FLIGHT_MAX_LIMIT}"),
                ))
            }
        };
        let in_flight = super::InFlightMax {
            api: in_flight("server.in_flight_api_max", self.in_flight_api_max)?,
            pages: in_flight("server.in_flight_pages_max", self.in_flight_pages_max)?,
            webhooks: in_flight("server.in_flight_webhooks_max", self.in_flight_webhooks_max)?,
            probes: in_flight("server.in_flight_probes_max", self.in_flight_probes_max)?,
        };
        Ok(ServerSettings {
            in_flight,
            public_url,
            metrics_bind,
            metrics_token,
            trusted_proxies,
            request_header_timeout: timeout(
                "server.request_header_timeout_ms",
                self.request_header_timeout_ms,
            )?,
            body_timeout: timeout("server.body_timeout_ms", self.body_timeout_ms)?,
            connections_per_address_max: (self.connections_per_address_max > 0)
                .then_some(self.connections_per_address_max),
            bind,
            workers: (self.workers > 0).then_some(self.workers),
            cors_allowed_origins,
            body_bytes_max: self.body_bytes_max,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_s),
            tls: super::TlsSettings::from_raw(&self.tls_cert_file, &self.tls_key_file)?,
        })
    }
}

/// One origin a browser may call the API from: `scheme://host[:port]`
/// exactly as browsers send it in `Origin` (no path, no wildcard), so a typo
/// cannot open the API to every site.
fn cors_origin(origin: &str) -> Result<String, ConfigError> {
    let refuse = |why: &str| {
        invalid(
            "server.cors_allowed_origins",
            format!(
                "`{origin}` {why}; give origins like https://shop.example.com, comma-separated"
            ),
        )
    };
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| refuse("is not an http(s) origin"))?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !host_ok || !port_ok {
        return Err(refuse("is not scheme://host[:port] (no path, no wildcard)"));
    }
    Ok(origin.to_ascii_lowercase())
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
        // Empty means "the seller workspace on this server" (`sellers::onboarding_urls`).
        for (key, value) in [
            (
                "provider.connect_onboarding_return_url",
                &self.connect_onboarding_return_url,
            ),
            (
                "provider.connect_onboarding_refresh_url",
                &self.connect_onboarding_refresh_url,
            ),
        ] {
            if !value.is_empty() {
                require_http_url(key, value)?;
            }
        }
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
            // Without it every payout, balance and account event is refused, and
            // sellers' money goes untracked until someone notices.
            if connect_webhook_secrets.is_empty() {
                return Err(invalid(
                    "provider.connect_webhook_secrets",
                    "required when provider.kind = stripe: the secret of the Connect endpoint (set BAZAAR__PROVIDER__CONNECT_WEBHOOK_SECRETS)",
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
            publishable_key: self
                .publishable_key
                .map(|key| key.trim().to_owned())
                .filter(|key| !key.is_empty()),
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
            fault_jitter_ms: self.fault_jitter_ms,
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
        // Staff sessions are the console's: at most a day, so a forgotten
        // signed-in browser does not keep the marketplace open for a week.
        if !(60..=86_400).contains(&self.staff_session_ttl_s) {
            return Err(invalid(
                "auth.staff_session_ttl_s",
                "must be between 60 and 86400",
            ));
        }
        if !(1..=3_650).contains(&self.stale_after_days) {
            return Err(invalid(
                "auth.stale_after_days",
                "must be between 1 and 3650",
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
        if !(300..=604_800).contains(&self.email_verification_ttl_s) {
            return Err(invalid(
                "auth.email_verification_ttl_s",
                "must be between 300 and 604800",
            ));
        }
        if !(300..=86_400).contains(&self.password_reset_ttl_s) {
            return Err(invalid(
                "auth.password_reset_ttl_s",
                "must be between 300 and 86400",
            ));
        }
        let totp_encryption_keys =
            totp_encryption_keys(self.totp_encryption_keys, self.totp_encryption_keys_file)?;
        Ok(AuthSettings {
            email_verification_ttl: Duration::from_secs(self.email_verification_ttl_s),
            password_reset_ttl: Duration::from_secs(self.password_reset_ttl_s),
            totp_encryption_keys,
            session_ttl: Duration::from_secs(self.session_ttl_s),
            staff_session_ttl: Duration::from_secs(self.staff_session_ttl_s),
            stale_after_days: self.stale_after_days,
            login_failures_max: self.login_failures_max,
            login_lockout: Duration::from_secs(self.login_lockout_s),
            totp_issuer: self.totp_issuer,
        })
    }
}

impl RawOrders {
    fn validate(self) -> Result<OrderSettings, ConfigError> {
        if !(1..=86_400).contains(&self.unpaid_ttl_s) {
            return Err(invalid(
                "orders.unpaid_ttl_s",
                "must be between 1 and 86400",
            ));
        }
        if !(10..=3_600_000).contains(&self.sweep_interval_ms) {
            return Err(invalid(
                "orders.sweep_interval_ms",
                "must be between 10 and 3600000",
            ));
        }
        let release = ReleasePolicy::parse(&self.release).ok_or_else(|| {
            invalid(
                "orders.release",
                "must be on_payment, on_shipment or on_delivery",
            )
        })?;
        if !(1..=90).contains(&self.release_after_days) {
            return Err(invalid(
                "orders.release_after_days",
                "must be between 1 and 90",
            ));
        }
        if self.ship_soon_hours > 168 {
            return Err(invalid(
                "orders.ship_soon_hours",
                "must be between 0 and 168",
            ));
        }
        Ok(OrderSettings {
            unpaid_ttl: Duration::from_secs(self.unpaid_ttl_s),
            sweep_interval: Duration::from_millis(self.sweep_interval_ms),
            release,
            release_after_days: self.release_after_days,
            ship_soon: Duration::from_secs(self.ship_soon_hours * 3600),
        })
    }
}

impl RawJobs {
    fn validate(self) -> Result<JobSettings, ConfigError> {
        if self.workers > 16 {
            return Err(invalid("jobs.workers", "must be between 0 and 16"));
        }
        if !(1..=64).contains(&self.concurrency) {
            return Err(invalid("jobs.concurrency", "must be between 1 and 64"));
        }
        if !(10..=60_000).contains(&self.poll_interval_ms) {
            return Err(invalid(
                "jobs.poll_interval_ms",
                "must be between 10 and 60000",
            ));
        }
        if !(1..=100).contains(&self.attempts_max) {
            return Err(invalid("jobs.attempts_max", "must be between 1 and 100"));
        }
        if !(1..=3_600_000).contains(&self.backoff_first_ms) {
            return Err(invalid(
                "jobs.backoff_first_ms",
                "must be between 1 and 3600000",
            ));
        }
        if !(100..=3_600_000).contains(&self.lease_ms) {
            return Err(invalid("jobs.lease_ms", "must be between 100 and 3600000"));
        }
        Ok(JobSettings {
            workers: self.workers,
            concurrency: self.concurrency,
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            attempts_max: self.attempts_max,
            backoff_first: Duration::from_millis(self.backoff_first_ms),
            lease: Duration::from_millis(self.lease_ms),
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
        // The sender goes into a header: it must parse as one mailbox, which
        // also rules out line breaks that would inject headers.
        if self.from.contains(['\r', '\n'])
            || self.from.parse::<lettre::message::Mailbox>().is_err()
        {
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
        let smtp_tls = match self.smtp_tls.as_str() {
            "starttls" => SmtpTls::Starttls,
            "implicit" => SmtpTls::Implicit,
            "none" => SmtpTls::None,
            other => {
                return Err(invalid(
                    "email.smtp_tls",
                    format!("`{other}` is not starttls, implicit or none"),
                ))
            }
        };
        // Mail (and a password) in clear text is acceptable only to a relay on
        // this machine.
        let loopback = matches!(self.smtp_host.as_str(), "localhost" | "127.0.0.1" | "::1")
            || self.smtp_host.starts_with("127.");
        if transport == EmailTransport::Smtp && smtp_tls == SmtpTls::None && !loopback {
            return Err(invalid(
                "email.smtp_tls",
                "none is allowed only for a relay on this machine (localhost, 127.0.0.0/8, ::1)",
            ));
        }
        if !(100..=300_000).contains(&self.smtp_timeout_ms) {
            return Err(invalid(
                "email.smtp_timeout_ms",
                "expected 100 to 300000 milliseconds",
            ));
        }
        let smtp_password = secret(
            "email.smtp_password",
            self.smtp_password,
            self.smtp_password_file,
        )?;
        if !self.smtp_username.is_empty() && smtp_password.is_none() {
            return Err(invalid(
                "email.smtp_password",
                "required with email.smtp_username (BAZAAR__EMAIL__SMTP_PASSWORD or smtp_password_file)",
            ));
        }
        Ok(EmailSettings {
            transport,
            outbox_dir: self.outbox_dir,
            from: self.from,
            smtp_host: self.smtp_host,
            smtp_port: self.smtp_port,
            smtp_tls,
            smtp_timeout: Duration::from_millis(self.smtp_timeout_ms),
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

/// The keys TOTP secrets are encrypted with: 32 bytes each, as 64 hex
/// characters, comma or newline separated; the first encrypts, all decrypt.
fn totp_encryption_keys(
    value: Option<SecretString>,
    file: Option<PathBuf>,
) -> Result<Vec<SecretString>, ConfigError> {
    const KEY: &str = "auth.totp_encryption_keys";
    let Some(joined) = secret(KEY, value, file)? else {
        return Ok(Vec::new());
    };
    let mut keys = Vec::new();
    for part in joined.expose_secret().split([',', '\n']).map(str::trim) {
        if part.is_empty() {
            continue;
        }
        if part.len() != 64 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(
                KEY,
                "each key is 32 bytes as 64 hex characters (openssl rand -hex 32)",
            ));
        }
        keys.push(SecretString::from(part.to_ascii_lowercase()));
    }
    Ok(keys)
}

/// `server.public_url`: empty, or an `http(s)://host[:port][/path]` URL,
/// kept without its trailing `/`.
fn public_url(raw: &str) -> Result<Option<String>, ConfigError> {
    let trimmed = raw.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(None);
    }
    let parsed = url::Url::parse(trimmed).ok().filter(|url| {
        matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
    });
    match parsed {
        Some(_) => Ok(Some(trimmed.to_owned())),
        None => Err(invalid(
            "server.public_url",
            format!("`{raw}` is not an http(s) URL like https://market.example"),
        )),
    }
}

/// `server.metrics_bind`, `server.metrics_token` and `server.trusted_proxies`.
type EdgeSettings = (
    Option<std::net::SocketAddr>,
    Option<SecretString>,
    Vec<super::IpRange>,
);

fn edge_settings(
    metrics_bind: &str,
    metrics_token: Option<SecretString>,
    metrics_token_file: Option<PathBuf>,
    trusted_proxies: &str,
) -> Result<EdgeSettings, ConfigError> {
    let metrics_bind = match metrics_bind.trim() {
        "" => None,
        address => Some(address.parse().map_err(|_| {
            invalid(
                "server.metrics_bind",
                format!("`{address}` is not an address like 127.0.0.1:9091 (\"\" = none)"),
            )
        })?),
    };
    let metrics_token = secret("server.metrics_token", metrics_token, metrics_token_file)?;
    if metrics_token
        .as_ref()
        .is_some_and(|token| token.expose_secret().len() < METRICS_TOKEN_CHARS_MIN)
    {
        return Err(invalid(
            "server.metrics_token",
            format!("must be at least {METRICS_TOKEN_CHARS_MIN} characters (openssl rand -hex 32)"),
        ));
    }
    let trusted_proxies = trusted_proxies
        .split(',')
        .map(str::trim)
        .filter(|proxy| !proxy.is_empty())
        .map(|proxy| {
            super::IpRange::parse(proxy).map_err(|problem| {
                invalid(
                    "server.trusted_proxies",
                    format!(
                        "`{proxy}` {problem}; give IPs or CIDRs like 10.0.0.0/8, comma-separated"
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((metrics_bind, metrics_token, trusted_proxies))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMedia {
    dir: PathBuf,
    max_upload_bytes: usize,
    uploads_per_minute: u32,
    unused_after_hours: u32,
}

/// Under this an upload could not hold a 200×200 picture worth selling with;
/// over it the whole upload sits in memory per request (and the pixel limit
/// in `media::images` refuses what such a file would decode to anyway).
const MEDIA_UPLOAD_BYTES_MIN: usize = 1024;
const MEDIA_UPLOAD_BYTES_MAX: usize = 64 * 1024 * 1024;

impl RawMedia {
    fn validate(self) -> Result<super::MediaSettings, ConfigError> {
        if self.dir.as_os_str().is_empty() {
            return Err(invalid("media.dir", "must name a folder"));
        }
        if !(MEDIA_UPLOAD_BYTES_MIN..=MEDIA_UPLOAD_BYTES_MAX).contains(&self.max_upload_bytes) {
            return Err(invalid(
                "media.max_upload_bytes",
                format!("must be between {MEDIA_UPLOAD_BYTES_MIN} and {MEDIA_UPLOAD_BYTES_MAX}"),
            ));
        }
        if !(1..=100_000).contains(&self.uploads_per_minute) {
            return Err(invalid(
                "media.uploads_per_minute",
                "must be between 1 and 100000",
            ));
        }
        // Under a day a seller who uploads, then finishes the product form
        // the next morning, would find the picture gone.
        if self.unused_after_hours != 0 && !(24..=8760).contains(&self.unused_after_hours) {
            return Err(invalid(
                "media.unused_after_hours",
                "must be 0 (keep every upload) or between 24 and 8760",
            ));
        }
        Ok(super::MediaSettings {
            dir: self.dir,
            max_upload_bytes: self.max_upload_bytes,
            uploads_per_minute: self.uploads_per_minute,
            unused_after: (self.unused_after_hours != 0)
                .then(|| std::time::Duration::from_secs(u64::from(self.unused_after_hours) * 3600)),
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvents {
    retention_days: u32,
}

/// Under a day a reader that pauses over a weekend loses events; past ten
/// years the table only grows.
const EVENTS_RETENTION_DAYS_MAX: u32 = 3650;

impl RawEvents {
    fn validate(self) -> Result<super::EventSettings, ConfigError> {
        if !(1..=EVENTS_RETENTION_DAYS_MAX).contains(&self.retention_days) {
            return Err(invalid(
                "events.retention_days",
                format!("must be between 1 and {EVENTS_RETENTION_DAYS_MAX}"),
            ));
        }
        Ok(super::EventSettings {
            retention: std::time::Duration::from_secs(u64::from(self.retention_days) * 86_400),
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutgoingWebhooks {
    allow_private_addresses: bool,
    timeout_ms: u64,
    retry_schedule_ms: Vec<u64>,
    disable_after_failing_hours: u64,
    secret_grace_hours: u64,
    poll_interval_ms: u64,
}

/// A retry waits at most 10 days; 20 retries are more than any receiver needs.
const WEBHOOK_RETRY_MS_MAX: u64 = 864_000_000;
const WEBHOOK_RETRIES_MAX: usize = 20;

impl RawOutgoingWebhooks {
    fn validate(self) -> Result<super::OutgoingWebhookSettings, ConfigError> {
        if !(100..=60_000).contains(&self.timeout_ms) {
            return Err(invalid(
                "outgoing_webhooks.timeout_ms",
                "must be between 100 and 60000",
            ));
        }
        if self.retry_schedule_ms.len() > WEBHOOK_RETRIES_MAX
            || self
                .retry_schedule_ms
                .iter()
                .any(|ms| *ms > WEBHOOK_RETRY_MS_MAX)
        {
            return Err(invalid(
                "outgoing_webhooks.retry_schedule_ms",
                format!(
                    "at most {WEBHOOK_RETRIES_MAX} waits, each at most {WEBHOOK_RETRY_MS_MAX} ms"
                ),
            ));
        }
        if !(1..=8760).contains(&self.disable_after_failing_hours) {
            return Err(invalid(
                "outgoing_webhooks.disable_after_failing_hours",
                "must be between 1 and 8760",
            ));
        }
        if self.secret_grace_hours > 720 {
            return Err(invalid(
                "outgoing_webhooks.secret_grace_hours",
                "must be between 0 and 720",
            ));
        }
        if !(10..=60_000).contains(&self.poll_interval_ms) {
            return Err(invalid(
                "outgoing_webhooks.poll_interval_ms",
                "must be between 10 and 60000",
            ));
        }
        Ok(super::OutgoingWebhookSettings {
            allow_private_addresses: self.allow_private_addresses,
            timeout: Duration::from_millis(self.timeout_ms),
            retry_schedule: self
                .retry_schedule_ms
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
            disable_after_failing: Duration::from_secs(self.disable_after_failing_hours * 3600),
            secret_grace: Duration::from_secs(self.secret_grace_hours * 3600),
            poll_interval: Duration::from_millis(self.poll_interval_ms),
        })
    }
}
