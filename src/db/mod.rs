//! The database: one connection type over SQLite and PostgreSQL, its pool,
//! the embedded migrations and the write-transaction helper.
//!
//! Domain code takes `&mut DbConnection` and is written once; diesel's
//! `MultiConnection` derive dispatches each query to the backend in use. What
//! its query builder cannot express is raw SQL: upserts and `RETURNING` in the
//! syntax both backends accept, and what truly differs (advisory locks,
//! `FOR UPDATE SKIP LOCKED`) matched on the variant, as in [`dialect`].

pub mod dialect;
pub mod schema;

use std::time::Duration;

use actix_web::web;
use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use secrecy::ExposeSecret;

use crate::config::{DatabaseSettings, DatabaseUrl};
use crate::error::AppError;

/// A connection to whichever backend the configured URL names.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

impl DbConnection {
    /// The backend's name, for logs and `/readyz`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Postgresql(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }
}

/// The pool every handler and job draws connections from.
pub type DbPool = r2d2::Pool<ConnectionManager>;

/// Migrations compiled into the binary, one folder per backend with the same names.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Opens connections for the pool, choosing the backend from the URL scheme.
///
/// Hand-written rather than diesel's `ConnectionManager<DbConnection>`: the
/// derived `establish` tries every backend and drops their errors, so a refused
/// PostgreSQL port would read "invalid connection url"; here the user sees libpq's
/// real message. SQLite connections also get their pragmas here.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    busy_timeout: Duration,
}

impl ConnectionManager {
    /// A manager for `url`; `busy_timeout` applies to SQLite only.
    pub fn new(url: DatabaseUrl, busy_timeout: Duration) -> Self {
        Self { url, busy_timeout }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConnection, ConnectionError> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_str().ok_or_else(|| {
                    ConnectionError::InvalidConnectionUrl("the sqlite path is not UTF-8".into())
                })?;
                let mut conn = diesel::SqliteConnection::establish(path)?;
                // busy_timeout must come before journal_mode: switching to WAL takes a
                // lock, and pooled connections opening at once otherwise fail with
                // "database is locked" instead of waiting.
                let busy_timeout_ms = self.busy_timeout.as_millis();
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {busy_timeout_ms};
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;"
                ))
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                let mut conn = diesel::PgConnection::establish(url.expose_secret())?;
                // Timestamps are stored as UTC without zone; the session zone must agree.
                conn.batch_execute("SET TIME ZONE 'UTC'")
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Postgresql(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectionError> {
        conn.ping()
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        // True after a failed rollback or a dropped server connection: the pool then
        // discards the connection instead of handing it to the next request.
        conn.is_broken()
    }
}

/// Why the database could not be opened or migrated at start.
#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot create the folder for the SQLite file {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the {backend} database at {url}: {source}")]
    Connect {
        backend: &'static str,
        url: String,
        source: ConnectionError,
    },
    #[error("cannot apply migrations: {0}")]
    Migrate(String),
}

/// Builds the pool; connects once first so a bad URL fails now, with its real cause.
///
/// # Errors
/// The SQLite folder cannot be created, or the first connection fails.
pub fn connect_pool(settings: &DatabaseSettings) -> Result<DbPool, DbSetupError> {
    connect_pool_of(settings, settings.pool_size_max)
}

/// [`connect_pool`] with its own size: a pool kept for one task, so that task
/// never waits behind the others for a connection.
///
/// # Errors
/// As [`connect_pool`].
pub fn connect_pool_of(settings: &DatabaseSettings, size: u32) -> Result<DbPool, DbSetupError> {
    if let DatabaseUrl::Sqlite(path) = &settings.url {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| DbSetupError::CreateDir {
                path: path.display().to_string(),
                source,
            })?;
        }
    }
    let manager = ConnectionManager::new(settings.url.clone(), settings.busy_timeout);
    let first =
        r2d2::ManageConnection::connect(&manager).map_err(|source| DbSetupError::Connect {
            backend: settings.url.backend(),
            url: format!("{:?}", settings.url),
            source,
        })?;
    drop(first);
    Ok(r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(settings.connect_timeout)
        .test_on_check_out(false)
        .build_unchecked(manager))
}

fn migrations_for(conn: &DbConnection) -> EmbeddedMigrations {
    match conn {
        DbConnection::Postgresql(_) => POSTGRES_MIGRATIONS,
        DbConnection::Sqlite(_) => SQLITE_MIGRATIONS,
    }
}

/// Applies every pending migration; returns the versions applied (empty when current).
///
/// Safe to run from several processes at once: on PostgreSQL the run holds an
/// advisory lock, on SQLite the file's write lock serialises the migrations.
///
/// # Errors
/// A migration failed; it was rolled back.
pub fn migrate(conn: &mut DbConnection) -> Result<Vec<String>, DbSetupError> {
    let migrations = migrations_for(conn);
    let applied = dialect::with_migration_lock(conn, |conn| {
        let versions = match conn {
            DbConnection::Postgresql(pg) => pg.run_pending_migrations(migrations),
            DbConnection::Sqlite(lite) => lite.run_pending_migrations(migrations),
        }
        .map_err(|e| DbSetupError::Migrate(e.to_string()))?;
        Ok(versions.iter().map(ToString::to_string).collect::<Vec<_>>())
    })?;
    ensure_instance(conn).map_err(|e| DbSetupError::Migrate(format!("instance row: {e}")))?;
    Ok(applied)
}

/// How many embedded migrations the database has not applied yet.
///
/// # Errors
/// The migration table could not be read.
pub fn pending_migrations(conn: &mut DbConnection) -> Result<usize, DbSetupError> {
    let migrations = migrations_for(conn);
    let pending = match conn {
        DbConnection::Postgresql(pg) => pg.pending_migrations(migrations).map(|m| m.len()),
        DbConnection::Sqlite(lite) => lite.pending_migrations(migrations).map(|m| m.len()),
    };
    pending.map_err(|e| DbSetupError::Migrate(e.to_string()))
}

/// Creates the installation's id on first migration; a racing process's row wins.
fn ensure_instance(conn: &mut DbConnection) -> QueryResult<String> {
    use schema::instance::dsl;
    if let Some(id) = instance_id(conn)? {
        return Ok(id);
    }
    let inserted = diesel::insert_into(dsl::instance)
        .values((
            dsl::singleton.eq(1),
            dsl::instance_id.eq(uuid::Uuid::new_v4().to_string()),
            dsl::created_at.eq(now()),
        ))
        .execute(conn);
    match inserted {
        Ok(_)
        | Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => instance_id(conn)?.ok_or(diesel::result::Error::NotFound),
        Err(other) => Err(other),
    }
}

/// The installation id, once migrations have run.
///
/// # Errors
/// The query failed (for example, the table does not exist yet).
pub fn instance_id(conn: &mut DbConnection) -> QueryResult<Option<String>> {
    use schema::instance::dsl;
    dsl::instance
        .select(dsl::instance_id)
        .first::<String>(conn)
        .optional()
}

/// The current time as stored: UTC, rounded to microseconds (PostgreSQL's precision),
/// so a value read back equals the value written on both backends.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// A stored instant as every answer shows it: RFC 3339 in UTC with
/// microseconds, e.g. `2026-11-25T10:00:00.123456Z`.
pub fn rfc3339(at: NaiveDateTime) -> String {
    at.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// `#[serde(serialize_with)]` for a stored instant in an answer: [`rfc3339`],
/// not serde's offset-less default, which RFC 3339 readers refuse.
///
/// # Errors
/// Only the serializer's.
pub fn serialize_rfc3339<S: serde::Serializer>(
    at: &NaiveDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*at))
}

/// [`serialize_rfc3339`] for an instant that may be absent (`null`).
///
/// # Errors
/// Only the serializer's.
pub fn serialize_rfc3339_option<S: serde::Serializer>(
    at: &Option<NaiveDateTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_some(&rfc3339(*at)),
        None => serializer.serialize_none(),
    }
}

/// This process's SQLite write transactions, one at a time.
///
/// SQLite admits one writer, and a connection that finds the write lock taken
/// sleeps in SQLite's busy handler (1, 2, 5, 10… ms) however soon the lock is
/// freed: under load the lock sat idle while the writers slept. Queued here
/// instead, each is woken as soon as the one before has ended. One queue for
/// every SQLite file of the process (only tests open several, and they wait a
/// little more); writers elsewhere (another process, a statement outside
/// [`write_transaction`]) still meet the busy timeout.
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Inside a write transaction: waits until no other transaction holds `key`,
/// and holds it until this one ends. Two transactions recording the same
/// fact (two events about one payout or one dispute, processed at once) then
/// run one after the other, and the second sees what the first wrote instead
/// of failing on its insert. PostgreSQL: a transaction-scoped advisory lock;
/// SQLite needs none (its write transactions already run one at a time).
///
/// # Errors
/// A database failure.
pub fn serialize_on(conn: &mut DbConnection, key: &str) -> Result<(), diesel::result::Error> {
    if let DbConnection::Postgresql(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<diesel::sql_types::Text, _>(key)
            .execute(pg)?;
    }
    Ok(())
}

/// Work deferred to the end of a write transaction (see [`before_commit`]).
pub type Deferred = Box<dyn FnOnce(&mut DbConnection) -> Result<(), diesel::result::Error>>;

thread_local! {
    /// This thread's open [`write_transaction`] calls (the outermost and its
    /// savepoints), and the work queued for just before the outermost commits.
    /// A transaction runs start to end on one thread (inside `db::run`'s
    /// blocking task), so the thread is the transaction.
    static WRITE_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    static BEFORE_COMMIT: std::cell::RefCell<Vec<Deferred>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Queues `work` to run as the last thing the current write transaction
/// does, just before it commits, after all its other statements; dropped
/// when the transaction (or the savepoint it was queued in) rolls back.
/// For statements that take a lock every such transaction takes (the events
/// feed's order): taken last, it is held only for the commit, and a
/// transaction holding it waits on no row lock, so it cannot deadlock.
///
/// # Errors
/// `work` is refused (returned) outside a [`write_transaction`].
pub fn before_commit(work: Deferred) -> Result<(), Deferred> {
    if WRITE_DEPTH.with(std::cell::Cell::get) == 0 {
        return Err(work);
    }
    BEFORE_COMMIT.with(|queue| queue.borrow_mut().push(work));
    Ok(())
}

/// Restores this thread's depth and drops work queued by a level that did
/// not commit, however that level ends (an error, or a panic).
struct WriteLevel {
    queued_before: usize,
    committed: bool,
}

impl WriteLevel {
    fn enter() -> Self {
        WRITE_DEPTH.with(|d| d.set(d.get() + 1));
        Self {
            queued_before: BEFORE_COMMIT.with(|q| q.borrow().len()),
            committed: false,
        }
    }

    /// The work queued since this level began, taken to run now.
    fn take_queued(&self) -> Vec<Deferred> {
        BEFORE_COMMIT.with(|q| q.borrow_mut().split_off(self.queued_before))
    }
}

impl Drop for WriteLevel {
    fn drop(&mut self) {
        WRITE_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        if !self.committed {
            BEFORE_COMMIT.with(|q| q.borrow_mut().truncate(self.queued_before));
        }
    }
}

/// Runs `work`, whose one write is a single statement (atomic by itself), as
/// cheaply as each backend allows: on SQLite in a [`write_transaction`], so it
/// queues on the process's writer lock rather than sleeping in SQLite's busy
/// handler; on PostgreSQL as it is, without the round trips of `BEGIN` and
/// `COMMIT`.
///
/// # Errors
/// Whatever `work` returns, or a database error from begin/commit.
pub fn single_write<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Sqlite(_) => write_transaction(conn, work),
        DbConnection::Postgresql(_) => work(conn),
    }
}

/// Runs `work` in a write transaction and commits it, or rolls back on `Err`.
///
/// On SQLite the transaction starts with `BEGIN IMMEDIATE`, taking the write lock
/// up front: a deferred transaction that reads and then writes fails with
/// "database is locked" when another writer got there first, instead of waiting.
/// Called inside a transaction, it nests as a savepoint.
///
/// # Errors
/// Whatever `work` returns, or a database error from begin/commit.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    // Held until this function returns, after the commit or the rollback; a
    // nested call (a savepoint) already runs under its outermost call's.
    let _writer = match conn {
        DbConnection::Sqlite(lite) => {
            let depth =
                AnsiTransactionManager::transaction_manager_status_mut(lite).transaction_depth();
            matches!(depth, Ok(None)).then(|| {
                SQLITE_WRITER
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            })
        }
        DbConnection::Postgresql(_) => None,
    };
    let begun = match conn {
        DbConnection::Sqlite(lite) => {
            AnsiTransactionManager::begin_transaction_sql(lite, "BEGIN IMMEDIATE")
        }
        DbConnection::Postgresql(pg) => AnsiTransactionManager::begin_transaction(pg),
    };
    let outermost = match begun {
        Ok(()) => true,
        Err(diesel::result::Error::AlreadyInTransaction) => {
            <DbConnection as Connection>::TransactionManager::begin_transaction(conn)?;
            false
        }
        Err(other) => return Err(other.into()),
    };
    let mut level = WriteLevel::enter();
    // Work queued by a savepoint stays queued for the outermost commit.
    let worked = work(conn).and_then(|value| {
        if outermost {
            for deferred in level.take_queued() {
                deferred(conn)?;
            }
        }
        Ok(value)
    });
    match worked {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            level.committed = true;
            Ok(value)
        }
        Err(error) => {
            // The caller's error is the one worth reporting; a failed rollback leaves
            // the connection broken, which the pool's transaction check discards.
            if let Err(rollback) =
                <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)
            {
                tracing::error!(%rollback, "rollback failed");
            }
            Err(error)
        }
    }
}

/// Runs blocking database work on actix's blocking pool with a pooled connection,
/// keeping the async workers free.
///
/// # Errors
/// No connection within the pool timeout (503), or whatever `work` returns.
pub async fn run<T, F>(pool: &DbPool, work: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    web::block(move || {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await?
}

/// The installation's secret named `name` (hex), if it was made.
///
/// # Errors
/// A database failure (for example, migrations not applied yet).
pub fn stored_secret(conn: &mut DbConnection, name: &str) -> Result<Option<String>, AppError> {
    Ok(schema::web_secrets::table
        .find(name)
        .select(schema::web_secrets::secret)
        .first::<String>(conn)
        .optional()?)
}

/// The installation's secret named `name`: 32 random bytes (hex), made on first
/// use and kept in the database, so every process sharing it uses the same one
/// (two racing to make it both end up with the one that was stored).
///
/// # Errors
/// A database failure (for example, migrations not applied yet).
pub fn installation_secret(conn: &mut DbConnection, name: &str) -> Result<String, AppError> {
    if let Some(secret) = stored_secret(conn, name)? {
        return Ok(secret);
    }
    let fresh: [u8; 32] = rand::random();
    let inserted = diesel::insert_into(schema::web_secrets::table)
        .values((
            schema::web_secrets::name.eq(name),
            schema::web_secrets::secret.eq(hex::encode(fresh)),
            schema::web_secrets::created_at.eq(now()),
        ))
        .execute(conn);
    match inserted {
        Ok(_)
        | Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => {}
        Err(other) => return Err(other.into()),
    }
    stored_secret(conn, name)?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("installation secret {name} vanished")))
}
