//! Graceful overload: a bound on the requests one process works on at once,
//! per class of route. A request over its class's bound is answered at once,
//! `503 overloaded` with `Retry-After`, instead of waiting in a queue that
//! grows without limit (its latency with it, and memory with its bodies).
//!
//! Decisions:
//! - Classes, each with its own share (`server.in_flight_*_max`): the API,
//!   the pages, the provider's webhooks, the probes. A flood of page views
//!   never refuses the provider's webhooks (money facts the provider would
//!   otherwise retry for days) nor a load balancer's health checks.
//! - A request holds its place until its handler has answered; a streamed
//!   body (CSV exports) is sent after it has let go.
//! - Refusals are counted (`bazaar_http_overloaded_total{class}`) and logged
//!   by `http::observe` like every answer. The middleware that answers them
//!   is `app::refuse_overload`, beside the other one that may answer with a
//!   page (this edge knows no pages).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::InFlightMax;
use crate::http::Metrics;

/// Which share of the bound a request takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    Api,
    Pages,
    Webhooks,
    Probes,
}

impl RouteClass {
    /// The class of a request for `path`.
    pub fn of(path: &str) -> Self {
        if path.starts_with("/v1/") || path == "/v1" {
            Self::Api
        } else if path.starts_with("/webhooks/") {
            Self::Webhooks
        } else if matches!(path, "/healthz" | "/readyz" | "/metrics") {
            Self::Probes
        } else {
            Self::Pages
        }
    }

    /// The `class` label of the refusals' metric.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Pages => "pages",
            Self::Webhooks => "webhooks",
            Self::Probes => "probes",
        }
    }
}

/// The places of each class, shared by every worker of the process.
#[derive(Debug, Clone)]
pub struct InFlight {
    api: Arc<Semaphore>,
    pages: Arc<Semaphore>,
    webhooks: Arc<Semaphore>,
    probes: Arc<Semaphore>,
}

impl InFlight {
    pub fn new(max: InFlightMax) -> Self {
        Self {
            api: Arc::new(Semaphore::new(max.api)),
            pages: Arc::new(Semaphore::new(max.pages)),
            webhooks: Arc::new(Semaphore::new(max.webhooks)),
            probes: Arc::new(Semaphore::new(max.probes)),
        }
    }

    fn places(&self, class: RouteClass) -> &Arc<Semaphore> {
        match class {
            RouteClass::Api => &self.api,
            RouteClass::Pages => &self.pages,
            RouteClass::Webhooks => &self.webhooks,
            RouteClass::Probes => &self.probes,
        }
    }

    /// A place for a request to `path`, held until dropped, or the class
    /// whose bound is reached (counted in `metrics`).
    ///
    /// # Errors
    /// The class of `path` has no place free.
    pub fn enter(
        &self,
        path: &str,
        metrics: Option<&Metrics>,
    ) -> Result<OwnedSemaphorePermit, RouteClass> {
        let class = RouteClass::of(path);
        Arc::clone(self.places(class))
            .try_acquire_owned()
            .map_err(|_| {
                if let Some(metrics) = metrics {
                    metrics.count_overloaded(class.as_str());
                }
                class
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_falls_in_its_class() {
        assert_eq!(RouteClass::of("/v1/products"), RouteClass::Api);
        assert_eq!(RouteClass::of("/v1"), RouteClass::Api);
        assert_eq!(
            RouteClass::of("/webhooks/stripe/connect"),
            RouteClass::Webhooks
        );
        assert_eq!(RouteClass::of("/healthz"), RouteClass::Probes);
        assert_eq!(RouteClass::of("/metrics"), RouteClass::Probes);
        assert_eq!(RouteClass::of("/"), RouteClass::Pages);
        assert_eq!(RouteClass::of("/products/p_1"), RouteClass::Pages);
        assert_eq!(RouteClass::of("/v1x"), RouteClass::Pages);
        assert_eq!(RouteClass::of("/healthz/x"), RouteClass::Pages);
    }
}
