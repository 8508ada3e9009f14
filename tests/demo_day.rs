//! `bazaar demo --quick`, the real binary on its embedded defaults from an
//! empty folder (or on a fresh PostgreSQL database when the suite runs
//! there): the day is played, its summary says the trial balance is zero and
//! reconciliation clean, and shows the day's facts — shipping charged on every
//! order, a declined card, a refund, a won and a lost dispute, a failed
//! payout, restricted shops, and Atelier Lumière's share held until delivery:
//! shipped with tracking links, one part confirmed by its buyer and one
//! delivered automatically once the clock moved, both released, nothing left
//! held, and a line sent back and refunded.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::cli::bazaar_command;
use std::time::Instant;

fn bazaar(dir: &Path, database_url: Option<&str>, args: &[&str]) -> Output {
    bazaar_command(dir, database_url, args)
        .output()
        .expect("bazaar runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The summary line that starts with `label`, e.g. a shop's or a payout's.
fn lines_with<'a>(summary: &'a str, needle: &str) -> Vec<&'a str> {
    summary.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn a_quick_demo_day_ends_with_a_zero_trial_balance_and_a_clean_reconciliation() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = std::env::var(common::TEST_DATABASE_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())
        .map(|_| common::TestDatabase::create());
    let url = postgres.as_ref().map(|db| db.url.as_str());

    let started = Instant::now();
    let output = bazaar(dir.path(), url, &["demo", "--quick"]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    eprintln!("demo --quick took {:?}", started.elapsed());

    assert!(
        stdout.contains("trial balance: zero (debits = credits in EUR, GBP, USD)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("reconciliation: clean (0 differences)"),
        "{stdout}"
    );
    // Six scripted carts, each one order, all paid in the end.
    assert!(stdout.contains("\nOrders (6)\n"), "{stdout}");
    assert_eq!(lines_with(&stdout, "  paid  ").len(), 6, "{stdout}");
    assert_eq!(
        lines_with(&stdout, "card declined (generic_decline), then paid").len(),
        1,
        "{stdout}"
    );
    assert_eq!(lines_with(&stdout, "dispute won").len(), 1, "{stdout}");
    assert_eq!(lines_with(&stdout, "dispute lost").len(), 1, "{stdout}");
    assert_eq!(
        lines_with(&stdout, "refunded 30.94 EUR").len(),
        1,
        "{stdout}"
    );
    // Every order paid shipping: each shop has rates to the buyers' countries.
    assert!(
        lines_with(&stdout, "  paid  ")
            .iter()
            .all(|l| l.contains(" shop(s), shipping ")),
        "{stdout}"
    );

    // Atelier Lumière sells on delivery: its two parts were held after
    // payment, shipped with tracking links; one buyer confirmed delivery, the
    // other parcel counted as delivered when the clock moved; both released.
    assert!(
        stdout.contains(" said \"I received it\": "),
        "the day's story: {stdout}"
    );
    assert!(
        stdout.contains("1 part(s) nobody confirmed counted as delivered 3 days after shipment: "),
        "{stdout}"
    );
    assert!(stdout.contains("\nHeld until delivery ("), "{stdout}");
    assert_eq!(
        lines_with(
            &stdout,
            "Atelier Lumière          2 part(s) held after the sales: 229.27 EUR; 2 shipment(s)"
        )
        .len(),
        1,
        "{stdout}"
    );
    let parcels = lines_with(
        &stdout,
        " <https://tracking.demo.bazaar.example/colissimo/6A184",
    );
    assert_eq!(parcels.len(), 2, "{stdout}");
    assert!(
        parcels
            .iter()
            .all(|l| l.contains("; released, ") && l.ends_with(" (settled)")),
        "{stdout}"
    );
    assert_eq!(
        lines_with(&stdout, "delivered, confirmed by the buyer; released, ").len(),
        1,
        "{stdout}"
    );
    assert_eq!(
        lines_with(
            &stdout,
            "delivered automatically (3 days after shipment); released, 97.08 EUR transferred (settled)"
        )
        .len(),
        1,
        "{stdout}"
    );
    assert!(
        stdout.contains("    released by confirmation 1, automatically 1, still held 0.00 EUR\n"),
        "{stdout}"
    );
    // The buyer who confirmed sent the napkins back: approved, tracked,
    // received and restocked, refunded in full.
    assert!(
        stdout.contains("\nReturns (1, GET /v1/returns)\n"),
        "{stdout}"
    );
    let returned = lines_with(
        &stdout,
        "1 × Sunrise Linen Napkins — Rust  received (restocked)",
    );
    assert_eq!(returned.len(), 1, "{stdout}");
    assert!(
        returned[0].contains("Atelier Lumière")
            && returned[0].ends_with(": refund 90.49 EUR succeeded"),
        "{stdout}"
    );
    assert_eq!(
        lines_with(
            &stdout,
            "card declined (generic_decline), then paid, refunded 90.49 EUR"
        )
        .len(),
        1,
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  held funds: every delivered part released, nothing held; every return refunded\n"
        ),
        "{stdout}"
    );
    // The failed payout is Thames & Co's, and it stops that shop's payouts.
    let failed = lines_with(&stdout, " failed (no_account): ");
    assert_eq!(failed.len(), 1, "{stdout}");
    assert!(failed[0].contains("Thames & Co"), "{stdout}");
    assert!(
        lines_with(&stdout, "Thames & Co")
            .iter()
            .any(|l| l.contains("restricted (the provider stopped payouts after a failed payout)")),
        "{stdout}"
    );
    assert!(
        lines_with(&stdout, "Copper Kettle Co.")
            .iter()
            .any(|l| l
                .contains("restricted (the provider disabled the account: requirements.past_due)")),
        "{stdout}"
    );
    // Every other selling shop was paid out.
    assert!(lines_with(&stdout, " paid").len() > 6, "{stdout}");
    for shop in [
        "Northwind Outfitters",
        "Atelier Lumière",
        "Schwarzwald Werkstatt",
        "Harbor Ceramics",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(shop) && l.trim_end().ends_with(" paid")),
            "{shop} paid out: {stdout}"
        );
    }

    // The books the day checked are the whole books: a second day on the same
    // database is refused, and says how to start over.
    let again = bazaar(dir.path(), url, &["demo", "--quick"]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("demo --fresh"),
        "{}",
        text(&again.stderr)
    );

    // The accounts the day made are written down, the operator's TOTP
    // secret with them (it is printed nowhere else without --keep-running).
    let accounts_path = dir.path().join("data").join("demo-accounts.txt");
    assert!(
        stdout.contains("Demo accounts (the operator's TOTP secret too): data/demo-accounts.txt"),
        "{stdout}"
    );
    let accounts = std::fs::read_to_string(&accounts_path).expect("the accounts file");
    let field = |name: &str| -> String {
        accounts
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {accounts}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let (operator, secret) = (field("operator"), field("operator_totp_secret"));
    assert!(accounts.contains(&format!(
        "Password for every one: {}",
        bazaar::demo::DEMO_PASSWORD
    )));
    assert!(
        accounts
            .lines()
            .filter(|l| l.starts_with("seller "))
            .count()
            >= 6,
        "{accounts}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&accounts_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "only its owner reads the accounts file");
    }

    // The headline command works every time: on a played folder it serves
    // what is there, and the operator signs in with the written secret.
    let mut serving = bazaar_command(dir.path(), url, &["demo", "--keep-running"])
        .env("BAZAAR__SERVER__BIND", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("bazaar starts");
    let lines = std::io::BufRead::lines(std::io::BufReader::new(serving.stdout.take().unwrap()));
    let (sender, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut said = Vec::new();
    let storefront = loop {
        let line = received
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no storefront URL within 60 s: {said:?}"));
        if let Some(url) = line.strip_prefix("Storefront: ") {
            break url.to_owned();
        }
        said.push(line);
    };
    assert!(
        said.iter()
            .any(|l| l.starts_with("This folder already holds a played demo (")),
        "{said:?}"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (health, signed_in) = runtime.block_on(async {
        let client = crate::common::http_client();
        let health = client
            .get(format!("{storefront}healthz"))
            .send()
            .await
            .unwrap()
            .status();
        // A used step is refused: the day's own sign-in used the step after
        // the one it ran in, so a refused code is tried again a step later.
        let mut signed_in = reqwest::StatusCode::UNAUTHORIZED;
        for _ in 0..3 {
            let unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let code = common::people::totp_code(&secret, unix + 30);
            signed_in = client
                .post(format!("{storefront}v1/sessions"))
                .json(&serde_json::json!({
                    "email": operator,
                    "password": bazaar::demo::DEMO_PASSWORD,
                    "totp_code": code,
                }))
                .send()
                .await
                .unwrap()
                .status();
            if signed_in != reqwest::StatusCode::UNAUTHORIZED {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_secs(30 - unix % 30)).await;
        }
        (health, signed_in)
    });
    let _ = serving.kill();
    let _ = serving.wait();
    assert_eq!(health, 200);
    assert_eq!(
        signed_in, 201,
        "the operator signs in with the written secret"
    );
}

/// The sandbox's state belongs to the database it served: a demo on
/// PostgreSQL in a folder where a SQLite demo was played is refused with the
/// way out named (instead of reconciling against the other database's
/// provider), and `--fresh` on a new PostgreSQL database starts the sandbox
/// over and plays a clean day.
#[test]
fn a_postgres_demo_after_a_sqlite_one_in_the_same_folder_does_not_mix_their_provider() {
    if std::env::var(common::TEST_DATABASE_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())
        .is_none()
    {
        println!(
            "skipped: needs PostgreSQL ({})",
            common::TEST_DATABASE_URL_VAR
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite = bazaar(dir.path(), None, &["demo", "--quick"]);
    assert!(sqlite.status.success(), "{}", text(&sqlite.stdout));

    let postgres = common::TestDatabase::create();
    let mixed = bazaar(dir.path(), Some(&postgres.url), &["demo", "--quick"]);
    let stderr = text(&mixed.stderr);
    assert!(!mixed.status.success(), "{}", text(&mixed.stdout));
    assert!(
        stderr.contains("belongs to another marketplace database"),
        "{stderr}"
    );
    assert!(stderr.contains("demo --fresh"), "{stderr}");

    let fresh = bazaar(
        dir.path(),
        Some(&postgres.url),
        &["demo", "--quick", "--fresh"],
    );
    let stdout = text(&fresh.stdout);
    assert!(fresh.status.success(), "{stdout}\n{}", text(&fresh.stderr));
    assert!(
        stdout.contains("reconciliation: clean (0 differences)"),
        "{stdout}"
    );
}
