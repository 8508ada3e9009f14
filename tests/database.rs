//! The database layer on whichever backend the suite runs against.

use crate::common;

use bazaar::config::Settings;
use bazaar::db::{self, DbConnection};
use bazaar::error::AppError;
use common::{test_settings, TestDatabase};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

fn settings_for(database: &TestDatabase) -> Settings {
    test_settings(&database.url, &[])
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[test]
fn migrations_apply_once_and_then_are_idempotent() {
    let database = TestDatabase::create();
    let pool = db::connect_pool(&settings_for(&database).database).unwrap();
    let mut conn = pool.get().unwrap();
    assert!(db::pending_migrations(&mut conn).unwrap() > 0);
    let first = db::migrate(&mut conn).unwrap();
    assert!(!first.is_empty());
    assert_eq!(db::pending_migrations(&mut conn).unwrap(), 0);
    let id = db::instance_id(&mut conn).unwrap().expect("instance row");
    let second = db::migrate(&mut conn).unwrap();
    assert!(second.is_empty(), "second run applied {second:?}");
    assert_eq!(
        db::instance_id(&mut conn).unwrap().as_deref(),
        Some(id.as_str())
    );
}

#[test]
fn migration_folders_match_between_backends() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let names = |backend: &str| {
        let mut names: Vec<String> = std::fs::read_dir(root.join(backend))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("postgres"));
}

fn scratch_table(conn: &mut DbConnection) {
    conn.batch_execute(
        "CREATE TABLE scratch (name TEXT PRIMARY KEY NOT NULL, stock BIGINT NOT NULL)",
    )
    .unwrap();
}

fn stock(conn: &mut DbConnection, name: &str) -> Option<i64> {
    diesel::sql_query("SELECT stock AS n FROM scratch WHERE name = $1")
        .bind::<Text, _>(name)
        .get_result::<Count>(conn)
        .optional()
        .unwrap()
        .map(|row| row.n)
}

#[test]
fn a_write_transaction_commits_or_rolls_back_whole() {
    let database = TestDatabase::create();
    let pool = db::connect_pool(&settings_for(&database).database).unwrap();
    let mut conn = pool.get().unwrap();
    scratch_table(&mut conn);

    let committed: Result<(), AppError> = db::write_transaction(&mut conn, |conn| {
        diesel::sql_query("INSERT INTO scratch (name, stock) VALUES ($1, $2)")
            .bind::<Text, _>("kept")
            .bind::<BigInt, _>(5)
            .execute(conn)?;
        Ok(())
    });
    committed.unwrap();

    let failed: Result<(), AppError> = db::write_transaction(&mut conn, |conn| {
        diesel::sql_query("INSERT INTO scratch (name, stock) VALUES ($1, $2)")
            .bind::<Text, _>("lost")
            .bind::<BigInt, _>(1)
            .execute(conn)?;
        // Nested: a savepoint inside the outer write transaction.
        db::write_transaction(conn, |conn| {
            diesel::sql_query("UPDATE scratch SET stock = 0 WHERE name = $1")
                .bind::<Text, _>("kept")
                .execute(conn)?;
            Ok::<_, AppError>(())
        })?;
        Err(AppError::Conflict {
            code: "changed_mind",
            message: "roll it all back".into(),
        })
    });
    assert!(matches!(
        failed,
        Err(AppError::Conflict {
            code: "changed_mind",
            ..
        })
    ));
    assert_eq!(stock(&mut conn, "kept"), Some(5));
    assert_eq!(stock(&mut conn, "lost"), None);
}

#[test]
fn a_unique_violation_is_a_409() {
    let database = TestDatabase::create();
    let pool = db::connect_pool(&settings_for(&database).database).unwrap();
    let mut conn = pool.get().unwrap();
    scratch_table(&mut conn);
    let insert = |conn: &mut DbConnection| {
        diesel::sql_query("INSERT INTO scratch (name, stock) VALUES ($1, 1)")
            .bind::<Text, _>("same")
            .execute(conn)
    };
    insert(&mut conn).unwrap();
    let error = AppError::from(insert(&mut conn).unwrap_err());
    assert!(
        matches!(
            error,
            AppError::Conflict {
                code: "already_exists",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn concurrent_conditional_decrements_never_oversell() {
    let database = TestDatabase::create();
    let pool = db::connect_pool(&settings_for(&database).database).unwrap();
    {
        let mut conn = pool.get().unwrap();
        scratch_table(&mut conn);
        diesel::sql_query("INSERT INTO scratch (name, stock) VALUES ('last-units', 5)")
            .execute(&mut conn)
            .unwrap();
    }
    let buyers: Vec<_> = (0..16)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                db::write_transaction(&mut conn, |conn| {
                    let taken = diesel::sql_query(
                        "UPDATE scratch SET stock = stock - 1 WHERE name = 'last-units' AND stock >= 1",
                    )
                    .execute(conn)?;
                    Ok::<_, AppError>(taken == 1)
                })
                .expect("no lock errors")
            })
        })
        .collect();
    let sold = buyers
        .into_iter()
        .map(|buyer| buyer.join().unwrap())
        .filter(|took| *took)
        .count();
    assert_eq!(sold, 5);
    assert_eq!(stock(&mut pool.get().unwrap(), "last-units"), Some(0));
}

#[test]
fn an_unreachable_database_fails_with_its_real_cause() {
    let mut settings = test_settings("postgres://nobody@127.0.0.1:1/none", &[]);
    settings.database.connect_timeout = std::time::Duration::from_millis(500);
    let Err(error) = db::connect_pool(&settings.database) else {
        panic!("port 1 should refuse the connection");
    };
    let error = error.to_string();
    assert!(
        error.contains("cannot connect to the postgres database"),
        "{error}"
    );
    assert!(error.contains("127.0.0.1"), "{error}");
    assert!(!error.contains("multiconnection"), "{error}");
}

#[tokio::test]
async fn ledger_rows_cannot_be_changed_or_removed() {
    use bazaar::ledger::{Account, NewEntry};
    use bazaar::money::{Currency, Money};
    let database = TestDatabase::create();
    let settings = test_settings(&database.url, &[]);
    let pool = bazaar::db::connect_pool(&settings.database).unwrap();
    let mut conn = pool.get().unwrap();
    bazaar::db::migrate(&mut conn).unwrap();
    let usd = Currency::parse("USD").unwrap();
    let before = bazaar::db::now() - chrono::Duration::seconds(1);
    let entry = NewEntry::new("test:one", "a test entry")
        .debit(Account::platform_cash(), Money::new(100, usd))
        .credit(Account::fee_revenue(), Money::new(100, usd));
    assert!(bazaar::ledger::post(&mut conn, &entry).unwrap());
    assert!(
        !bazaar::ledger::post(&mut conn, &entry).unwrap(),
        "a cause is posted once"
    );
    for statement in [
        "UPDATE ledger_postings SET debit_minor = 1",
        "DELETE FROM ledger_postings",
        "UPDATE ledger_entries SET description = 'x'",
        "DELETE FROM ledger_entries",
        "DELETE FROM ledger_accounts",
    ] {
        let refused = diesel::sql_query(statement).execute(&mut conn);
        assert!(refused.is_err(), "{statement} was allowed");
    }
    let trial = bazaar::ledger::trial_balance(&mut conn, None).unwrap();
    let totals = |debits, credits| bazaar::ledger::DebitsAndCredits {
        debits: Money::new(debits, usd),
        credits: Money::new(credits, usd),
    };
    assert_eq!(trial.totals["USD"], totals(100, 100));
    let earlier = bazaar::ledger::trial_balance(&mut conn, Some(before)).unwrap();
    assert_eq!(
        earlier.totals["USD"],
        totals(0, 0),
        "nothing was posted yet then"
    );
}
