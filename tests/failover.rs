//! PostgreSQL's primary fails over to its synchronous standby in the middle of
//! a checkout load (pg_auto_failover: a monitor, a primary and a standby, all
//! on this machine; `bazaar serve` connects through the formation's multi-host
//! URL). Every order answered is there once afterwards, paid and settled;
//! the buyer saw only 503s during the switch, retried; the ledger balances and
//! reconciliation is clean. `.ci/failover` builds the formation and runs this
//! test with `BAZAAR_FAILOVER_DATABASE_URL` (the formation's URL) and
//! `BAZAAR_FAILOVER_COMMAND` (a shell command that fails the primary over and
//! returns once the standby is primary); without them it says it skipped.

use std::time::{Duration, Instant};

use crate::common;
use crate::crash_serve::{books_agree, Load, Market};
use common::cli::free_port;
use diesel::connection::SimpleConnection;
use diesel::Connection;

const URL_VAR: &str = "BAZAAR_FAILOVER_DATABASE_URL";
const COMMAND_VAR: &str = "BAZAAR_FAILOVER_COMMAND";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_fails_over_under_checkout_load_and_nothing_is_lost() {
    let (Ok(url), Ok(failover)) = (std::env::var(URL_VAR), std::env::var(COMMAND_VAR)) else {
        eprintln!("skipped: {URL_VAR} and {COMMAND_VAR} are unset (.ci/failover sets them)");
        return;
    };
    // A database of its own on the formation, so the test can run again.
    let name = format!("bazaar_failover_{}", uuid::Uuid::new_v4().simple());
    let mut admin = diesel::PgConnection::establish(&url).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    drop(admin);
    let dir = tempfile::tempdir().unwrap();
    let mut market = Market {
        dir: dir.path().to_owned(),
        database: common::with_database_name(&url, &name),
        port: free_port(),
        provider: Vec::new(),
        serve: None,
        starts: 0,
    };
    let migrated = market.command(&["migrate"]).output().unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    market.seed();
    market.start().await;
    let load = Load::start(&market).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let switch_began = Instant::now();
    let switched = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .args(["-c", &failover])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        switched.status.success(),
        "the failover command failed: {}{}",
        String::from_utf8_lossy(&switched.stdout),
        String::from_utf8_lossy(&switched.stderr)
    );
    let switch_took = switch_began.elapsed();
    // The load goes on against the new primary.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let answered = load.stop().await;
    let after = answered
        .iter()
        .filter(|(_, at)| *at > switch_began + switch_took)
        .count();
    eprintln!(
        "{} orders answered, {after} after the switch, which took {switch_took:?}",
        answered.len()
    );
    assert!(after > 0, "no order answered after the failover");
    books_agree(&mut market, &answered).await;
    let mut admin = diesel::PgConnection::establish(&url).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .unwrap();
}
