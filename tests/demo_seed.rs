//! `bazaar demo --seed` on the embedded defaults, from an empty folder.

use std::process::Command;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

const BAZAAR: &str = env!("CARGO_BIN_EXE_bazaar");

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    label: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn seed(dir: &std::path::Path) -> String {
    let mut command = Command::new(BAZAAR);
    command
        .current_dir(dir)
        .args(["demo", "--seed"])
        .env("RUST_LOG", "warn")
        .env_remove("BAZAAR_ENV");
    for (name, _) in std::env::vars() {
        if name.starts_with("BAZAAR__") {
            command.env_remove(name);
        }
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_demo_marketplace_is_seeded_once_and_sells() {
    let dir = tempfile::tempdir().unwrap();
    let first = seed(dir.path());
    assert!(
        first.contains("4 shops, 240 products added (0 already there)"),
        "{first}"
    );
    assert_eq!(first.matches("status active").count(), 4, "{first}");
    let second = seed(dir.path());
    assert!(
        second.contains("4 shops, 0 products added (240 already there)"),
        "{second}"
    );

    let mut conn =
        diesel::SqliteConnection::establish(dir.path().join("data/bazaar.db").to_str().unwrap())
            .unwrap();
    let per_currency: Vec<Row> = diesel::sql_query(
        "SELECT currency AS label, COUNT(*) AS n FROM products WHERE active GROUP BY currency ORDER BY currency",
    )
    .load(&mut conn)
    .unwrap();
    assert!(
        per_currency.len() >= 2,
        "currencies: {:?}",
        per_currency.iter().map(|r| &r.label).collect::<Vec<_>>()
    );
    assert_eq!(per_currency.iter().map(|r| r.n).sum::<i64>(), 240);
    let categories: Vec<Row> = diesel::sql_query(
        "SELECT category AS label, COUNT(*) AS n FROM products GROUP BY category",
    )
    .load(&mut conn)
    .unwrap();
    assert!(categories.len() >= 6);
    let users: Vec<Row> = diesel::sql_query(
        "SELECT role AS label, COUNT(*) AS n FROM users GROUP BY role ORDER BY role",
    )
    .load(&mut conn)
    .unwrap();
    let users: Vec<(String, i64)> = users.into_iter().map(|r| (r.label, r.n)).collect();
    assert_eq!(users, [("buyer".to_owned(), 1), ("seller".to_owned(), 4)]);
    assert!(
        dir.path().join("data/sandbox.db").is_file(),
        "the sandbox keeps the accounts for `serve`"
    );
}
