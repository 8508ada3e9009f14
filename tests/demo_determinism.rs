//! The same demo command tells the same story with the same books: two
//! `bazaar demo --quick` runs, each in its own empty folder (or on its own
//! fresh PostgreSQL database), print the same summary once the ids the
//! database and the provider draw at random are set aside — the same shops
//! in the same order, the same orders, fees, transfers, payouts (as many,
//! for the same amounts), ledger accounts, trial balance and reconciliation.

use crate::common;

use std::path::Path;

use common::cli::bazaar_command;

fn quick_demo(dir: &Path, database_url: Option<&str>) -> String {
    let output = bazaar_command(dir, database_url, &["demo", "--quick"])
        .output()
        .expect("bazaar runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `ord_3f…` → `ord_…`: a prefix, an underscore and 16 or more letters and
/// digits is an id drawn at random.
fn without_random_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match word.split_once('_') {
            Some((prefix, rest))
                if !prefix.is_empty()
                    && prefix.chars().all(|c| c.is_ascii_lowercase())
                    && rest.len() >= 16
                    && rest
                        .trim_end_matches([':', ',', '\n'])
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric()) =>
            {
                out.push_str(prefix);
                out.push_str("_…");
                out.push_str(&rest[rest.trim_end_matches([':', ',', '\n']).len()..]);
            }
            _ => out.push_str(word),
        }
    }
    out
}

#[test]
fn two_quick_demo_days_print_the_same_story_and_books() {
    let postgres = std::env::var(common::TEST_DATABASE_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())
        .map(|_| {
            (
                common::TestDatabase::create(),
                common::TestDatabase::create(),
            )
        });
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = quick_demo(
        first_dir.path(),
        postgres.as_ref().map(|(db, _)| db.url.as_str()),
    );
    let second = quick_demo(
        second_dir.path(),
        postgres.as_ref().map(|(_, db)| db.url.as_str()),
    );

    let (first, second) = (without_random_ids(&first), without_random_ids(&second));
    assert!(first.contains("ord_…"), "ids are recognised: {first}");
    assert!(first.contains("\nPayouts ("), "{first}");
    let differing: Vec<(&str, &str)> = first
        .lines()
        .zip(second.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert!(
        differing.is_empty() && first.lines().count() == second.lines().count(),
        "the second run told another story; differing lines {differing:#?}\n--- first\n{first}\n--- second\n{second}"
    );
}

#[test]
fn random_ids_are_set_aside_and_nothing_else() {
    assert_eq!(
        without_random_ids(
            "  ord_3f9a0c1d2e3f4a5b6c7d8e9f0a1b2c3d  paid\n  report rec_0123456789abcdef0123: 7"
        ),
        "  ord_…  paid\n  report rec_…: 7"
    );
    assert_eq!(
        without_random_ids("platform:fee_revenue  13.62 GBP shop:…:transferred_in"),
        "platform:fee_revenue  13.62 GBP shop:…:transferred_in"
    );
}
