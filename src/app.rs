//! Builds the actix-web application: the one place routes are mounted.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{web, App, HttpServer};

use crate::config::{DatabaseUrl, Settings};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::{self, probes, BodyLimit, Metrics};

/// A bound, not yet running server and what it needs.
pub struct Application {
    port: u16,
    server: Server,
    pool: DbPool,
}

impl Application {
    /// Opens the database (migrating it when configured, or when it is a SQLite
    /// file), binds the listener and prepares the server.
    ///
    /// # Errors
    /// The database cannot be opened or migrated, or the address cannot be bound.
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, |_| {})
    }

    /// Like [`Application::build`], with `extra_routes` mounted beside the real
    /// ones; the test suite uses it to probe the shared HTTP machinery.
    ///
    /// # Errors
    /// As [`Application::build`].
    pub fn build_with(
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
        drop(conn);
        let listener = TcpListener::bind(settings.server.bind)?;
        let port = listener.local_addr()?.port();
        tracing::info!(
            address = %listener.local_addr()?,
            database = settings.database.url.backend(),
            instance_id = instance_id.as_deref().unwrap_or("unmigrated"),
            "listening"
        );
        let server = server(listener, &settings, pool.clone(), extra_routes)?;
        Ok(Self { port, server, pool })
    }

    /// The port actually bound (the configured one, or the one the OS chose for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database pool the server uses.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Serves until the process is told to stop (SIGINT/SIGTERM), then drains.
    ///
    /// # Errors
    /// The server failed while running.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// The server future, for callers that run it as a task (tests).
    pub fn into_server(self) -> Server {
        self.server
    }
}

fn server(
    listener: TcpListener,
    settings: &Settings,
    pool: DbPool,
    extra_routes: fn(&mut web::ServiceConfig),
) -> anyhow::Result<Server> {
    let metrics = web::Data::new(Metrics::new()?);
    let pool = web::Data::new(pool);
    let settings_data = web::Data::new(settings.clone());
    let body_limit = BodyLimit(settings.server.body_bytes_max);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(pool.clone())
            .app_data(metrics.clone())
            .app_data(settings_data.clone())
            .app_data(body_limit)
            .app_data(web::PathConfig::default().error_handler(http::path_error))
            .app_data(web::QueryConfig::default().error_handler(http::query_error))
            .wrap(ErrorHandlers::new().default_handler(http::framework_error_to_json))
            .wrap(from_fn(http::observe))
            .configure(routes)
            .configure(extra_routes)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(AppError::RouteNotFound)
            }))
    })
    .shutdown_timeout(settings.server.shutdown_timeout.as_secs())
    .listen(listener)?;
    if let Some(workers) = settings.server.workers {
        server = server.workers(workers);
    }
    Ok(server.run())
}

/// Every route of the API.
///
/// Routes are mounted as `web::resource(..).route(..)`, not `cfg.route(..)`: the
/// latter turns the method into a resource guard, so a wrong method falls through
/// to "no route" (404) instead of answering 405.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").get(probes::healthz))
        .service(web::resource("/readyz").get(probes::readyz))
        .service(web::resource("/metrics").get(probes::metrics));
}
