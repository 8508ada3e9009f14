//! Builds the actix-web application: the one place routes are mounted.

use std::net::TcpListener;
use std::sync::{Arc, OnceLock};

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress, Condition, DefaultHeaders, ErrorHandlers};
use actix_web::{web, App, HttpServer};

use crate::config::{DatabaseUrl, ProviderKind, Settings};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::routes::{resource, Api, RouteTable};
use crate::http::{self, probes, BodyLimit, Metrics};
use crate::notify::Notifier;
use crate::payments::stripe::StripeSettings;
use crate::payments::{Provider, StripeProvider};
use crate::sandbox::{Faults, Sandbox, SandboxConfig, WebhookEndpointConfig};

/// A bound, not yet running server and what it needs.
pub struct Application {
    port: u16,
    server: Server,
    pool: DbPool,
    provider: Arc<dyn Provider>,
    sandbox: Option<Sandbox>,
    clock: crate::payments::Clock,
    notifier: Arc<Notifier>,
    sweep_interval: std::time::Duration,
    ship_soon: std::time::Duration,
    media: crate::config::MediaSettings,
    jobs: crate::config::JobSettings,
    event_retention: std::time::Duration,
    outgoing_webhooks: crate::config::OutgoingWebhookSettings,
    webhook_client: reqwest::Client,
    auth: crate::config::AuthSettings,
    database_url: crate::config::DatabaseUrl,
}

impl Application {
    /// Opens the database (migrating it when configured, or when it is a SQLite
    /// file), binds the listener and prepares the server.
    ///
    /// # Errors
    /// The database cannot be opened or migrated, or the address cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, |_| {}).await
    }

    /// Like [`Application::build`], with `extra_routes` mounted beside the real
    /// ones; the test suite uses it to probe the shared HTTP machinery.
    ///
    /// # Errors
    /// As [`Application::build`].
    pub async fn build_with(
        settings: Settings,
        extra_routes: fn(&mut web::ServiceConfig),
    ) -> anyhow::Result<Self> {
        let pool = db::connect_pool(&settings.database)?;
        let mut conn = pool.get()?;
        // An embedded SQLite file belongs to this process: migrating it on start is
        // what makes the zero-set-up default work. A shared PostgreSQL database is
        // migrated on start only when configured, so deploys can run it as a step.
        if settings.database.migrate_on_start
            || matches!(settings.database.url, DatabaseUrl::Sqlite(_))
        {
            let applied = db::migrate(&mut conn)?;
            if !applied.is_empty() {
                tracing::info!(?applied, "database migrated");
            }
        }
        let pending = db::pending_migrations(&mut conn)?;
        if pending > 0 {
            tracing::warn!(
                pending,
                "database has pending migrations; /readyz answers 503 until `bazaar migrate` runs"
            );
        }
        let instance_id = db::instance_id(&mut conn).ok().flatten();
        // Made (or read) once here, before any worker can render a form.
        let csrf_key = crate::web::visitor::csrf_key(&mut conn)?;
        // A media directory that cannot be made fails the start, not the
        // first upload.
        crate::media::store::LocalDiskStore::open(&settings.media.dir)?;
        // TOTP secrets at rest: rows from before encryption, or sealed under a
        // key no longer first in auth.totp_encryption_keys, are sealed anew.
        let resealed = crate::auth::reencrypt_totp_secrets(&mut conn, &settings.auth)?;
        if resealed > 0 {
            tracing::info!(resealed, "TOTP secrets encrypted with the current key");
        }
        drop(conn);
        let bind = settings.server.bind;
        // The operator's first question on a taken port is "which one, and how
        // do I change it": both in the one line `bazaar` prints.
        let listener = TcpListener::bind(bind).map_err(|e| {
            anyhow::anyhow!("cannot listen on {bind}: {e}; set another with --bind or server.bind")
        })?;
        let port = listener.local_addr()?.port();
        let notifier = Arc::new(notifier(
            &settings,
            public_url(&settings, listener.local_addr()?),
        )?);
        let secrets = webhook_secrets(&settings);
        let (provider, sandbox) =
            payments_provider(&settings, port, &secrets, instance_id.as_deref()).await?;
        let clock = sandbox
            .as_ref()
            .map_or_else(crate::payments::Clock::wall, |sandbox| {
                crate::payments::Clock::ahead_by(sandbox.clock_offset())
            });
        tracing::info!(
            address = %listener.local_addr()?,
            database = settings.database.url.backend(),
            instance_id = instance_id.as_deref().unwrap_or("unmigrated"),
            "listening"
        );
        let server = server(
            listener,
            &settings,
            pool.clone(),
            Arc::clone(&provider),
            secrets,
            csrf_key,
            clock.clone(),
            extra_routes,
        )?;
        Ok(Self {
            port,
            server,
            pool,
            provider,
            sandbox,
            clock,
            notifier,
            sweep_interval: settings.orders.sweep_interval,
            ship_soon: settings.orders.ship_soon,
            media: settings.media.clone(),
            jobs: settings.jobs.clone(),
            event_retention: settings.events.retention,
            outgoing_webhooks: settings.outgoing_webhooks.clone(),
            // Built here so a TLS set-up that fails stops the start.
            webhook_client: crate::events::delivery::client(&settings.outgoing_webhooks)?,
            auth: settings.auth.clone(),
            database_url: settings.database.url.clone(),
        })
    }

    /// The port actually bound (the configured one, or the one the OS chose for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the server (and so [`Application::run_until_stopped`])
    /// from another task, as `bazaar demo` does when its day is over.
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The database pool the server uses.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// The payments provider the server uses.
    pub fn provider(&self) -> Arc<dyn Provider> {
        Arc::clone(&self.provider)
    }

    /// The provider's clock, which fulfilment deadlines are judged by.
    pub fn clock(&self) -> crate::payments::Clock {
        self.clock.clone()
    }

    /// What the email jobs send with.
    pub fn notifier(&self) -> Arc<Notifier> {
        Arc::clone(&self.notifier)
    }

    /// The in-process sandbox's base URL, when the provider is the sandbox.
    pub fn sandbox_url(&self) -> Option<String> {
        self.sandbox
            .as_ref()
            .map(|sandbox| sandbox.base_url().to_owned())
    }

    /// Stops without serving (commands that only need the wiring, like `demo`),
    /// letting the in-process sandbox save its state.
    pub async fn shutdown(self) {
        if let Some(sandbox) = self.sandbox {
            sandbox.stop().await;
        }
    }

    /// Serves until the process is told to stop (SIGINT/SIGTERM), with the
    /// orders sweep running beside it, then drains and stops the in-process sandbox.
    ///
    /// # Errors
    /// The server failed while running.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // Stops when dropped, as this function returns.
        let _catalog_changes =
            crate::catalog::changes::listen(&self.database_url, self.pool.clone())?;
        let sweeper = crate::orders::sweeper::spawn(
            self.pool.clone(),
            Arc::clone(&self.provider),
            self.clock.clone(),
            self.sweep_interval,
        );
        let fulfilment_sweeper = crate::fulfilment::sweep::spawn(
            self.pool.clone(),
            Arc::clone(&self.provider),
            self.clock.clone(),
            self.sweep_interval,
            self.ship_soon,
        );
        let media_sweeper = self.media.unused_after.map(|keep_for| {
            crate::media::sweep::spawn(
                self.pool.clone(),
                Arc::new(crate::media::store_at(&self.media.dir)),
                self.clock.clone(),
                keep_for,
            )
        });
        let events_purger =
            crate::events::retention::spawn(self.pool.clone(), self.event_retention);
        let webhook_dispatcher = crate::events::delivery::spawn(
            self.pool.clone(),
            self.webhook_client.clone(),
            self.outgoing_webhooks.clone(),
            self.auth.clone(),
        );
        let workers: Vec<_> = (0..self.jobs.workers)
            .map(|_| {
                crate::jobs::spawn_worker(
                    self.pool.clone(),
                    job_handler(
                        self.pool.clone(),
                        Arc::clone(&self.provider),
                        Arc::clone(&self.notifier),
                    ),
                    self.jobs.clone(),
                )
            })
            .collect();
        let served = self.server.await;
        sweeper.abort();
        fulfilment_sweeper.abort();
        if let Some(media_sweeper) = media_sweeper {
            media_sweeper.abort();
        }
        events_purger.abort();
        webhook_dispatcher.abort();
        for worker in workers {
            worker.abort();
        }
        if let Some(sandbox) = self.sandbox {
            sandbox.stop().await;
        }
        served
    }
}

/// What each job kind runs: the one place job kinds meet their handlers.
pub fn job_handler(
    pool: DbPool,
    provider: Arc<dyn Provider>,
    notifier: Arc<Notifier>,
) -> crate::jobs::Handler {
    Arc::new(move |job: crate::jobs::Claimed| {
        let (pool, provider, notifier) =
            (pool.clone(), Arc::clone(&provider), Arc::clone(&notifier));
        Box::pin(async move {
            let done = match job.kind.as_str() {
                crate::webhooks::EVENT_JOB => {
                    let process =
                        || crate::webhooks::process(&pool, provider.as_ref(), &job.subject);
                    match process().await {
                        // Another event about the same object recorded the fact
                        // first (their transactions overlapped on PostgreSQL).
                        // Processing is idempotent: once more sees what it wrote,
                        // and no failed attempt is recorded for a race.
                        Err(e) if e.code() == "already_exists" => process().await,
                        done => done,
                    }
                }
                crate::notify::EMAIL_JOB => {
                    crate::notify::deliver(&pool, provider.as_ref(), &notifier, &job.subject).await
                }
                other => return Err(format!("no handler for job kind {other}")),
            };
            done.map_err(|e| format!("{}: {e:#}", e.code()))
        })
    })
}

/// The secrets the in-process sandbox signs with when none are configured:
/// fixed, so `bazaar replay` can sign for a local instance too. Test mode only.
pub const SANDBOX_WEBHOOK_SECRETS: (&str, &str) = (
    "whsec_bazaar_sandbox_platform",
    "whsec_bazaar_sandbox_connect",
);

/// The secrets the in-process sandbox signs with when none are configured and
/// the server listens beyond loopback: random, once per process.
static RANDOM_SANDBOX_WEBHOOK_SECRETS: std::sync::LazyLock<(&'static str, &'static str)> =
    std::sync::LazyLock::new(|| {
        let random = || -> &'static str {
            let bytes: [u8; 24] = rand::random();
            Box::leak(format!("whsec_{}", hex::encode(bytes)).into_boxed_str())
        };
        (random(), random())
    });

/// The secrets the webhook endpoints accept: the configured ones, or, with the
/// in-process sandbox and none configured, [`SANDBOX_WEBHOOK_SECRETS`] on a
/// loopback bind (random ones otherwise).
pub fn webhook_secrets(settings: &Settings) -> crate::webhooks::WebhookSecrets {
    use secrecy::ExposeSecret;
    let provider = &settings.provider;
    let listed = |secrets: &[secrecy::SecretString]| -> Vec<String> {
        secrets
            .iter()
            .map(|s| s.expose_secret().to_owned())
            .collect()
    };
    let mut platform = listed(&provider.webhook_secrets);
    let mut connect = listed(&provider.connect_webhook_secrets);
    if provider.kind == ProviderKind::Sandbox {
        // The fixed secrets are public (they are in this file): anyone who can
        // reach the endpoints could sign events with them. Off loopback, this
        // process's own random pair instead (`bazaar replay` then needs the
        // configured secrets).
        let (fixed_platform, fixed_connect) = if settings.server.bind.ip().is_loopback() {
            SANDBOX_WEBHOOK_SECRETS
        } else {
            *RANDOM_SANDBOX_WEBHOOK_SECRETS
        };
        if platform.is_empty() {
            platform.push(fixed_platform.to_owned());
        }
        if connect.is_empty() {
            connect.push(fixed_connect.to_owned());
        }
    } else if platform.is_empty() || connect.is_empty() {
        tracing::warn!("provider.webhook_secrets or provider.connect_webhook_secrets is empty: that endpoint refuses every event");
    }
    crate::webhooks::WebhookSecrets {
        platform,
        connect,
        tolerance_s: i64::try_from(provider.webhook_tolerance.as_secs()).unwrap_or(300),
    }
}

/// What the email jobs send with: the mailer, account links leading to
/// `public_url`, their tokens made by `auth`.
///
/// # Errors
/// As [`Notifier::new`].
pub fn notifier(settings: &Settings, public_url: String) -> anyhow::Result<Notifier> {
    let auth = settings.auth.clone();
    Notifier::new(
        settings,
        public_url,
        Arc::new(move |conn, user_id, purpose| {
            crate::auth::mint_account_token(conn, &auth, user_id, purpose, db::now())
        }),
    )
}

/// Where links in emails lead: `server.public_url`, or this server's own
/// address (a wildcard bind answers on loopback too).
fn public_url(settings: &Settings, bound: std::net::SocketAddr) -> String {
    if let Some(url) = &settings.server.public_url {
        return url.clone();
    }
    let scheme = settings.server.scheme();
    let host = match bound.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    };
    format!("{scheme}://{host}:{}", bound.port())
}

/// The provider client, and the in-process sandbox it talks to when
/// `provider.kind = "sandbox"`: the production client over HTTP either way.
/// The sandbox delivers its events to this process's webhook endpoints on `port`,
/// and keeps its state for the database whose instance id is `instance_id`.
async fn payments_provider(
    settings: &Settings,
    port: u16,
    secrets: &crate::webhooks::WebhookSecrets,
    instance_id: Option<&str>,
) -> anyhow::Result<(Arc<dyn Provider>, Option<Sandbox>)> {
    use secrecy::ExposeSecret;
    let provider_settings = &settings.provider;
    let stripe_settings = |api_base: String, secret_key: String| StripeSettings {
        api_base,
        secret_key,
        attempts_max: provider_settings.retry_attempts_max,
        backoff_first: provider_settings.retry_backoff,
        request_timeout: provider_settings.request_timeout,
    };
    match provider_settings.kind {
        ProviderKind::Stripe => {
            let secret_key = provider_settings
                .secret_key
                .as_ref()
                .map(|key| key.expose_secret().to_owned())
                .ok_or_else(|| {
                    anyhow::anyhow!("provider.secret_key is required for provider.kind = stripe")
                })?;
            let provider = StripeProvider::new(&stripe_settings(
                provider_settings.api_base.clone(),
                secret_key,
            ))?;
            Ok((Arc::new(provider), None))
        }
        ProviderKind::Sandbox => {
            let listener = TcpListener::bind(settings.sandbox.bind)?;
            let mut config = sandbox_config(settings);
            config.owner = instance_id.map(str::to_owned);
            let endpoint = |path: &str, secret: &str, connect: bool| WebhookEndpointConfig {
                url: format!("http://127.0.0.1:{port}{path}"),
                secret: secret.to_owned(),
                connect,
            };
            config.webhook_endpoints = vec![
                endpoint("/webhooks/stripe", &secrets.platform[0], false),
                endpoint("/webhooks/stripe/connect", &secrets.connect[0], true),
            ];
            if let Some(tls) = &settings.server.tls {
                // Our listener speaks only TLS: the sandbox delivers over HTTPS,
                // trusting exactly our certificate, which must name localhost.
                for endpoint in &mut config.webhook_endpoints {
                    endpoint.url = endpoint
                        .url
                        .replace("http://127.0.0.1:", "https://localhost:");
                }
                config.webhook_root_certificates_pem = vec![tls.certificate_pem()?];
            }
            let sandbox = Sandbox::start(config, listener).await?;
            tracing::info!(
                base_url = sandbox.base_url(),
                "in-process sandbox provider started"
            );
            let provider = StripeProvider::new(&stripe_settings(
                sandbox.base_url().to_owned(),
                sandbox.secret_key().to_owned(),
            ))?;
            Ok((Arc::new(provider), Some(sandbox)))
        }
    }
}

/// The sandbox's configuration from ours (the sandbox reads no marketplace config).
pub fn sandbox_config(settings: &Settings) -> SandboxConfig {
    use secrecy::ExposeSecret;
    let sandbox = &settings.sandbox;
    let mut config = SandboxConfig {
        funds_delay_s: sandbox.funds_delay_s,
        payout_interval_s: sandbox.payout_interval_s,
        payout_transit_s: sandbox.payout_transit_s,
        state_file: sandbox.state_file.clone(),
        faults: Faults {
            duplicate: sandbox.fault_duplicate,
            shuffle: sandbox.fault_shuffle,
            delay_ms: sandbox.fault_delay_ms,
            drop_first: sandbox.fault_drop_first,
            jitter_ms: sandbox.fault_jitter_ms,
        },
        ..SandboxConfig::default()
    };
    if let Some(key) = &settings.provider.secret_key {
        config.secret_key = key.expose_secret().to_owned();
    }
    config
}

#[allow(clippy::too_many_arguments)] // the one place every shared piece is wired in
fn server(
    listener: TcpListener,
    settings: &Settings,
    pool: DbPool,
    provider: Arc<dyn Provider>,
    secrets: crate::webhooks::WebhookSecrets,
    csrf_key: crate::web::visitor::CsrfKey,
    clock: crate::payments::Clock,
    extra_routes: fn(&mut web::ServiceConfig),
) -> anyhow::Result<Server> {
    let csrf_key = web::Data::new(csrf_key);
    let clock = web::Data::new(clock);
    let metrics =
        web::Data::new(Metrics::new()?.with_webhook_stats(crate::events::delivery::metrics_stats));
    let secrets = web::Data::new(secrets);
    let provider: web::Data<dyn Provider> = web::Data::from(provider);
    // The ingestion writer has a connection of its own: under load, job
    // workers and requests holding every pooled connection must not delay the
    // provider's acknowledgements (measured: they did, past its timeouts).
    let ingest_pool = db::connect_pool_of(&settings.database, 1)?;
    let ingest_queue = web::Data::new(crate::webhooks::group_commit::IngestQueue::start(
        ingest_pool,
    ));
    let pool = web::Data::new(pool);
    let openapi_document = web::Data::new(openapi_document());
    let settings_data = web::Data::new(settings.clone());
    let listing_scope = web::Data::new(crate::catalog::cache::ListingScope::of(
        &settings.database.url,
    ));
    let body_limit = BodyLimit(settings.server.body_bytes_max);
    let limits = web::Data::new(http::rate_limit::RateLimits::new(
        &settings.limits,
        settings.media.uploads_per_minute,
        &pool,
    ));
    let tls = settings.server.tls.is_some();
    let cors_origins = settings.server.cors_allowed_origins.clone();
    let slow_clients = http::slow_clients::SlowClientLimits::new(&settings.server);
    let in_flight = http::overload::InFlight::new(settings.server.in_flight);
    // `/metrics` on a listener of its own (server.metrics_bind), if configured.
    let metrics_listener = settings
        .server
        .metrics_bind
        .map(TcpListener::bind)
        .transpose()?;
    let metrics_at = http::metrics::MetricsListener(
        metrics_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?,
    );
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(metrics_at)
            .wrap(from_fn(http::metrics::listener_only))
            .app_data(pool.clone())
            .app_data(ingest_queue.clone())
            .app_data(provider.clone())
            .app_data(metrics.clone())
            .app_data(settings_data.clone())
            .app_data(listing_scope.clone())
            .app_data(secrets.clone())
            .app_data(body_limit)
            .app_data(limits.clone())
            .app_data(csrf_key.clone())
            .app_data(clock.clone())
            .app_data(openapi_document.clone())
            .app_data(web::PathConfig::default().error_handler(http::path_error))
            .app_data(web::QueryConfig::default().error_handler(http::query_error))
            .wrap(ErrorHandlers::new().default_handler(http::framework_error_to_json))
            // Pages and API answers alike, for clients that ask (gzip, brotli).
            .wrap(Compress::default())
            .wrap(from_fn(refuse_unfit_text))
            // Before any work, inside `observe` (refusals are logged and counted).
            .wrap(from_fn(refuse_overload))
            .app_data(in_flight.clone())
            .wrap(from_fn(http::observe))
            .wrap(security_headers(tls))
            .wrap(Condition::new(
                !cors_origins.is_empty(),
                cors(&cors_origins),
            ))
            // Outermost: bounds the body's arrival for every layer that reads it.
            .wrap(from_fn(http::slow_clients::limit))
            .app_data(slow_clients)
            .configure(routes)
            .configure(crate::web::routes)
            .configure(extra_routes)
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(settings.server.shutdown_timeout.as_secs())
    // Slow clients (slowloris): the first request head's deadline (408, then
    // closed), keep-alive stated because the connection watchdog's bound
    // depends on it, and the per-connection hook (address cap, watchdog). See
    // http::slow_clients. Must come before `listen`.
    .client_request_timeout(slow_clients.request_header_timeout)
    .keep_alive(http::slow_clients::KEEP_ALIVE)
    .on_connect(http::slow_clients::on_connect(slow_clients))
    // Without it, a compressed answer's last small segment waits on the client's
    // delayed ACK (Nagle): about 40 ms added to pages over 1 KiB.
    .tcp_nodelay(true);
    server = match &settings.server.tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls.server_config()?)?,
        None => server.listen(listener)?,
    };
    if let Some(metrics_listener) = metrics_listener {
        server = server.listen(metrics_listener)?;
    }
    if let Some(workers) = settings.server.workers {
        server = server.workers(workers);
    }
    Ok(server.run())
}

/// No route: a page for browsers outside the API, the API's JSON error otherwise.
async fn not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    crate::web::render::error_answer(req.headers(), req.path(), AppError::RouteNotFound)
}

/// A request over its route class's bound of requests in flight
/// ([`http::overload`]) is answered 503 `overloaded` at once (a page for
/// browsers outside the API); the others hold their place until answered.
async fn refuse_overload(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let Some(in_flight) = req.app_data::<http::overload::InFlight>() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let metrics = req.app_data::<web::Data<Metrics>>().map(|m| m.get_ref());
    match in_flight.enter(req.path(), metrics) {
        Ok(place) => {
            let answered = next.call(req).await;
            drop(place);
            Ok(answered?.map_into_left_body())
        }
        Err(_) => {
            let refused =
                crate::web::render::error_answer(req.headers(), req.path(), AppError::Overloaded);
            Ok(req.into_response(refused).map_into_right_body())
        }
    }
}

/// Text no handler may see (NUL, controls, bad UTF-8 in a path, query or form:
/// [`http::text::refuse_unfit_request`]) is answered 400 here, inside
/// [`http::observe`] (logged with its request id) and before any handler or
/// database; as a page for browsers outside the API.
async fn refuse_unfit_text(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    match http::text::refuse_unfit_request(&mut req).await {
        Some(refused) => {
            let answer = crate::web::render::error_answer(req.headers(), req.path(), refused);
            Ok(req.into_response(answer).map_into_right_body())
        }
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}

/// Headers on every answer: no MIME sniffing, no referrer leaks, and a
/// content policy that lets nothing load or frame (the API serves no HTML).
/// With TLS on, HSTS for a year; without, it would be a lie a proxy must tell
/// instead. No includeSubDomains or preload: those bind the whole domain,
/// which is the operator's call, not this service's.
fn security_headers(tls: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add((
            "Content-Security-Policy",
            "default-src 'none'; frame-ancestors 'none'",
        ))
        .add(("X-Frame-Options", "DENY"));
    if tls {
        headers.add(("Strict-Transport-Security", "max-age=31536000"))
    } else {
        headers
    }
}

/// CORS for the configured origins only: the methods and headers the API
/// uses, credentials by bearer token (no cookies), and the headers a client
/// reads (request id, rate-limit wait, ETag). A preflight from any other
/// origin is refused and a simple request gets no CORS header.
fn cors(origins: &[String]) -> actix_cors::Cors {
    origins
        .iter()
        .fold(actix_cors::Cors::default(), |cors, origin| {
            cors.allowed_origin(origin)
        })
        .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::IF_NONE_MATCH,
            actix_web::http::header::HeaderName::from_static("idempotency-key"),
            actix_web::http::header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::ETAG,
            actix_web::http::header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(600)
}

/// Every route of the API, mounted on `cfg`.
///
/// Routes are mounted as `resource(..).get(..)`, not `cfg.route(..)`: the
/// latter turns the method into a resource guard, so a wrong method falls through
/// to "no route" (404) instead of answering 405.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let mut table = RouteTable::default();
    api_routes(&mut Api::mounting(cfg, &mut table));
}

/// What [`routes`] mounts, listed without a server: every (method, path) and
/// the OpenAPI parts the modules describe them with.
pub fn route_table() -> RouteTable {
    let mut table = RouteTable::default();
    api_routes(&mut Api::recording(&mut table));
    table
}

/// The API's OpenAPI document, built from [`route_table`] once per process:
/// the routes cannot change while it runs.
fn openapi_document() -> crate::openapi::RenderedDocument {
    static RENDERED: OnceLock<crate::openapi::RenderedDocument> = OnceLock::new();
    RENDERED
        .get_or_init(|| {
            crate::openapi::RenderedDocument::render(&crate::openapi::document(
                route_table().document,
            ))
        })
        .clone()
}

fn api_routes(api: &mut Api<'_>) {
    api.service(resource("/healthz").get(probes::healthz))
        .service(resource("/readyz").get(probes::readyz))
        .service(resource("/metrics").get(probes::metrics))
        .describe(probes::part())
        .service(resource("/openapi.json").get(crate::openapi::openapi_json))
        .describe(crate::openapi::part())
        .configure(crate::auth::routes)
        .configure(crate::accounts::http::routes)
        .configure(crate::sellers::http::routes)
        .configure(crate::catalog::routes)
        .configure(crate::fees::routes)
        .configure(crate::orders::routes)
        .configure(crate::shipping::routes)
        .configure(crate::fulfilment::routes)
        .configure(crate::webhooks::routes)
        .configure(crate::jobs::routes)
        .configure(crate::ledger::routes)
        .configure(crate::payouts::routes)
        .configure(crate::reconcile::routes)
        .configure(crate::notify::routes)
        .configure(crate::media::routes)
        .configure(crate::events::http::routes)
        .configure(crate::events::endpoints_http::routes);
}
