//! Statements that differ between SQLite and PostgreSQL, each matched on the
//! connection's variant. Everything else is written once against `DbConnection`.

use diesel::connection::SimpleConnection;

use super::DbConnection;

/// Arbitrary but fixed: every Bazaar process asks for the same advisory lock.
const MIGRATION_LOCK_KEY: i64 = 0x0042_415a_4141_5200;

/// Runs `work` while holding the migration lock, so two processes starting at
/// once do not both apply the same migration.
///
/// PostgreSQL: a session advisory lock. SQLite: none needed, each migration runs
/// in a transaction that takes the file's write lock, and the second process
/// then finds it applied.
///
/// # Errors
/// The lock could not be taken, or `work` failed.
pub fn with_migration_lock<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, super::DbSetupError>,
) -> Result<T, super::DbSetupError> {
    let lock = |conn: &mut DbConnection, sql: &str| {
        conn.batch_execute(sql)
            .map_err(|e| super::DbSetupError::Migrate(format!("migration lock: {e}")))
    };
    match conn {
        DbConnection::Sqlite(_) => work(conn),
        DbConnection::Postgresql(_) => {
            lock(
                conn,
                &format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"),
            )?;
            let result = work(conn);
            lock(
                conn,
                &format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"),
            )?;
            result
        }
    }
}
