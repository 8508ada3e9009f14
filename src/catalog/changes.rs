//! Catalog changes made by other processes sharing the database, turned into
//! cache invalidations in this one ([`super::cache`]).
//!
//! The database itself announces every change buyers can see, in the
//! writing statement's own transaction (see the `catalog_changes`
//! migrations), whoever wrote it: another `bazaar serve`, a worker, an
//! import, or SQL typed by an operator. Stock-only updates are left out:
//! checkouts must not pay for it, and the caches' TTL bounds them.
//!
//! - PostgreSQL: triggers `NOTIFY bazaar_catalog` with the product's id (or
//!   `*` for a shop); a listener thread holds its own connection, `LISTEN`s,
//!   and reads what has arrived every [`POLL_EVERY`]. Notifications are sent
//!   at commit and never for a rolled-back write. After the connection is
//!   lost (a failover, a restart) the listener empties every cache, since it
//!   may have missed notifications, and connects again.
//! - SQLite: triggers bump `catalog_version`; the listener reads it every
//!   [`POLL_EVERY`] and empties every cache when it moved. Writers to one file
//!   are serialized anyway, so the counter costs no concurrency.
//!
//! Why not Redis: the database already orders these announcements with the
//! writes and drops them with rollbacks, which a second system could only
//! approximate (a write committed and its message lost, or the reverse), and
//! the embedded default has no Redis.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use secrecy::ExposeSecret;

use super::cache;
use crate::config::DatabaseUrl;
use crate::db::DbPool;

/// How often the listener looks for changes: the bound on how long another
/// process's change can be served stale (plus the commit's own latency).
pub const POLL_EVERY: Duration = Duration::from_millis(25);
/// How often a PostgreSQL listener checks that its connection still works (a
/// dead peer sends nothing, so reading alone would not notice).
const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(5);
/// Wait before connecting again after a failure.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The PostgreSQL channel the `catalog_notify` trigger announces on.
pub const CHANNEL: &str = "bazaar_catalog";

/// A running listener; dropping it stops the thread at its next poll.
#[derive(Debug)]
pub struct Listener {
    stop: Arc<AtomicBool>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts listening for catalog changes on the database at `url` (`pool`
/// serves the SQLite counter reads).
///
/// # Errors
/// The thread could not be started.
pub fn listen(url: &DatabaseUrl, pool: DbPool) -> std::io::Result<Listener> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let url = url.clone();
    std::thread::Builder::new()
        .name("catalog-changes".into())
        .spawn(move || match url {
            DatabaseUrl::Postgres(url) => listen_postgres(url.expose_secret(), &stopped),
            DatabaseUrl::Sqlite(_) => poll_sqlite(&pool, &stopped),
        })?;
    Ok(Listener { stop })
}

/// What one notification's payload asks for.
fn apply(payload: &str) {
    if payload == "*" {
        cache::invalidate_all();
    } else {
        cache::invalidate(payload);
    }
}

fn listen_postgres(url: &str, stop: &AtomicBool) {
    let mut connection: Option<(PgConnection, Instant)> = None;
    while !stop.load(Ordering::Relaxed) {
        let Some((conn, checked_at)) = connection.as_mut() else {
            let listening = PgConnection::establish(url)
                .map_err(|e| e.to_string())
                .and_then(|mut conn| {
                    conn.batch_execute(&format!("LISTEN {CHANNEL}"))
                        .map_err(|e| e.to_string())?;
                    Ok(conn)
                });
            match listening {
                Ok(conn) => {
                    // Whatever changed while nobody listened is unknown.
                    cache::invalidate_all();
                    connection = Some((conn, Instant::now()));
                }
                Err(error) => {
                    tracing::warn!(%error, "catalog change listener cannot connect; retrying");
                    std::thread::sleep(RECONNECT_AFTER);
                }
            }
            continue;
        };
        let mut lost = false;
        for notification in conn.notifications_iter() {
            match notification {
                Ok(notification) => apply(&notification.payload),
                Err(error) => {
                    tracing::warn!(%error, "catalog change listener lost its connection");
                    lost = true;
                    break;
                }
            }
        }
        if !lost && checked_at.elapsed() >= HEALTH_CHECK_EVERY {
            lost = conn.batch_execute("SELECT 1").is_err();
            *checked_at = Instant::now();
        }
        if lost {
            connection = None;
            cache::invalidate_all();
            continue;
        }
        std::thread::sleep(POLL_EVERY);
    }
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    version: i64,
}

fn poll_sqlite(pool: &DbPool, stop: &AtomicBool) {
    let mut last: Option<i64> = None;
    while !stop.load(Ordering::Relaxed) {
        let read = pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
            crate::db::dialect::load_sql::<Version>(
                &mut conn,
                "SELECT version FROM catalog_version WHERE id = 1",
                &[],
            )
            .map_err(|e| e.to_string())
        });
        match read.as_deref() {
            Ok([current]) => {
                if last.is_some_and(|last| last != current.version) {
                    cache::invalidate_all();
                }
                last = Some(current.version);
            }
            Ok(_) => tracing::warn!("catalog_version has no row; caches rely on their TTL"),
            Err(error) => {
                // Unknown what changed meanwhile: start again from empty caches.
                tracing::warn!(%error, "catalog change poll failed");
                if last.take().is_some() {
                    cache::invalidate_all();
                }
            }
        }
        std::thread::sleep(POLL_EVERY);
    }
}
