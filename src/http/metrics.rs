//! Prometheus metrics of one server: per-route request counts and latency
//! histograms, and the database pool's gauges, rendered at `GET /metrics`.
//!
//! Each server owns its registry (not the process-global one), so several
//! servers in one process — the test suite — never mix their counts.
//!
//! Who may read them: [`authorize`] (`server.metrics_bind`, `server.metrics_token`,
//! or else this machine only).

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, ResponseError};
use secrecy::ExposeSecret;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::config::Settings;
use crate::db::DbPool;
use crate::error::AppError;
use crate::http::client_addr;

/// Latency buckets in seconds: fine below 50 ms, where our targets are.
const LATENCY_BUCKETS_S: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Outgoing webhook deliveries as the database holds them (every process's).
#[derive(Debug, Clone, Default)]
pub struct WebhookDeliveryStats {
    /// (endpoint id, status, deliveries).
    pub by_endpoint: Vec<(String, String, i64)>,
    pub pending: i64,
    /// Seconds since the oldest pending delivery was queued (0: none pending).
    pub oldest_pending_age_s: f64,
}

/// Reads [`WebhookDeliveryStats`] when `/metrics` is scraped; `app.rs` gives
/// the events module's reader (this edge knows no domain).
pub type WebhookStatsReader = fn(&DbPool) -> Result<WebhookDeliveryStats, AppError>;

/// The server's metric families.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    overloaded: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    pool_size_max: IntGauge,
    webhook_deliveries: IntGaugeVec,
    webhook_pending: IntGauge,
    webhook_oldest_pending_age: Gauge,
    webhook_stats: Option<WebhookStatsReader>,
}

impl Metrics {
    /// Registers every family in a fresh registry.
    ///
    /// # Errors
    /// A family could not be registered (a bug: names are constants).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("bazaar".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route pattern, method and status",
            ),
            &["method", "route", "status"],
        )?;
        let overloaded = IntCounterVec::new(
            Opts::new(
                "http_overloaded_total",
                "Requests answered 503 overloaded at once, by route class (server.in_flight_*_max)",
            ),
            &["class"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from request to response head, by route pattern and method",
            )
            .buckets(LATENCY_BUCKETS_S.to_vec()),
            &["method", "route"],
        )?;
        let pool_connections = IntGauge::new("db_pool_connections", "Open database connections")?;
        let pool_idle = IntGauge::new("db_pool_idle_connections", "Idle database connections")?;
        let pool_size_max = IntGauge::new("db_pool_size_max", "Configured maximum pool size")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(overloaded.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        registry.register(Box::new(pool_size_max.clone()))?;
        let webhook_deliveries = IntGaugeVec::new(
            Opts::new(
                "webhook_deliveries",
                "Outgoing webhook deliveries, by endpoint and status (pending, delivered, failed)",
            ),
            &["endpoint", "status"],
        )?;
        let webhook_pending = IntGauge::new(
            "webhook_deliveries_pending",
            "Outgoing webhook deliveries waiting to be sent or retried",
        )?;
        let webhook_oldest_pending_age = Gauge::new(
            "webhook_oldest_pending_age_seconds",
            "Age of the oldest pending outgoing webhook delivery",
        )?;
        registry.register(Box::new(webhook_deliveries.clone()))?;
        registry.register(Box::new(webhook_pending.clone()))?;
        registry.register(Box::new(webhook_oldest_pending_age.clone()))?;
        Ok(Self {
            registry,
            requests,
            overloaded,
            latency,
            pool_connections,
            pool_idle,
            pool_size_max,
            webhook_deliveries,
            webhook_pending,
            webhook_oldest_pending_age,
            webhook_stats: None,
        })
    }

    /// Fills the webhook delivery gauges with `reader` at every scrape.
    #[must_use]
    pub fn with_webhook_stats(mut self, reader: WebhookStatsReader) -> Self {
        self.webhook_stats = Some(reader);
        self
    }

    /// Counts one request refused by its route class's bound.
    pub fn count_overloaded(&self, class: &str) {
        self.overloaded.with_label_values(&[class]).inc();
    }

    /// Counts one answered request. `route` is the matched pattern
    /// (`/v1/orders/{id}`), never the raw path, so ids cannot explode the label set.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition format, with the pool gauges read now.
    pub fn render(&self, pool: &DbPool) -> String {
        let state = pool.state();
        self.pool_connections.set(i64::from(state.connections));
        self.pool_idle.set(i64::from(state.idle_connections));
        self.pool_size_max.set(i64::from(pool.max_size()));
        if let Some(reader) = self.webhook_stats {
            match reader(pool) {
                Ok(stats) => {
                    // Deleted endpoints leave the exposition.
                    self.webhook_deliveries.reset();
                    for (endpoint, status, count) in &stats.by_endpoint {
                        self.webhook_deliveries
                            .with_label_values(&[endpoint.as_str(), status.as_str()])
                            .set(*count);
                    }
                    self.webhook_pending.set(stats.pending);
                    self.webhook_oldest_pending_age
                        .set(stats.oldest_pending_age_s);
                }
                Err(error) => tracing::warn!(%error, "webhook delivery metrics not read"),
            }
        }
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "metrics encoding failed");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }
}

/// The address of the listener that serves only `/metrics`
/// (`server.metrics_bind`, as bound), if there is one.
#[derive(Debug, Clone, Copy)]
pub struct MetricsListener(pub Option<SocketAddr>);

/// Who may read `/metrics`:
/// - with `server.metrics_bind`, only requests on that listener (404 elsewhere);
/// - with `server.metrics_token`, only requests carrying it as a bearer token
///   (401 otherwise), on whichever listener serves it;
/// - with neither, only clients on this machine: a loopback client address
///   with no `X-Forwarded-For` or `Forwarded` header (a proxy on this machine
///   forwards the internet); 404 to everyone else, as if there were no route.
///
/// # Errors
/// 404 `route_not_found` or 401 `unauthenticated`, as above.
pub fn authorize(req: &HttpRequest) -> Result<(), AppError> {
    let listener = req
        .app_data::<MetricsListener>()
        .and_then(|listener| listener.0);
    let token = req
        .app_data::<web::Data<Settings>>()
        .and_then(|settings| settings.server.metrics_token.clone());
    if let Some(listener) = listener {
        if req.app_config().local_addr() != listener {
            return Err(AppError::RouteNotFound);
        }
    }
    if let Some(token) = token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, given)| given.trim().as_bytes().to_vec())
            .unwrap_or_default();
        let expected = token.expose_secret().as_bytes();
        let equal: bool = subtle::ConstantTimeEq::ct_eq(given.as_slice(), expected).into();
        return if equal {
            Ok(())
        } else {
            Err(AppError::Unauthenticated)
        };
    }
    if listener.is_some() {
        return Ok(());
    }
    let forwarded = req.headers().contains_key(client_addr::FORWARDED_FOR)
        || req.headers().contains_key(header::FORWARDED);
    let local = client_addr::client_ip(req).is_some_and(|ip| ip.is_loopback());
    if local && !forwarded {
        Ok(())
    } else {
        Err(AppError::RouteNotFound)
    }
}

/// On the metrics listener, everything but `/metrics` is 404: the API is not
/// served on a port meant for a scraper.
///
/// # Errors
/// Those of the inner service.
pub async fn listener_only(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let on_metrics_listener = req
        .app_data::<MetricsListener>()
        .and_then(|listener| listener.0)
        .is_some_and(|listener| req.app_config().local_addr() == listener);
    if on_metrics_listener && req.path() != "/metrics" {
        let response = AppError::RouteNotFound.error_response();
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
