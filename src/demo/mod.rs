//! `bazaar demo`: a day of a marketplace, played on the embedded defaults.
//!
//! It starts the marketplace and the in-process sandbox provider, seeds the
//! demo catalog ([`seed`]), then drives the real API over HTTP as its people
//! would: sellers onboard (one ends up restricted) and set their shipping
//! rates, one shop's share is held until delivery, buyers check out carts of
//! several sellers, a card is declined, a line is refunded, one dispute is won
//! and one lost, the held shop ships, a buyer confirms a delivery and sends a
//! line back, the sandbox's clock moves four days, payouts are paid and one
//! fails, and the parcels nobody confirmed count as delivered. It ends with a
//! summary read from the API — orders, held funds and their releases, returns,
//! fees by shop, transfers, payouts, the trial balance and a reconciliation
//! report — and fails when the books do not balance, reconciliation finds a
//! difference, money is still held for delivered parts or a return was not
//! refunded.
//!
//! The demo computes no money itself: every number it prints is the API's.
//! It plays on the sandbox only (it moves the provider's clock and uses its
//! test cards), and only on a marketplace without orders, so its story is the
//! whole story of the books it checks.

mod client;
mod day;
mod morning;
mod script;
mod seed;
mod summary;
mod text;

use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::Application;
use crate::config::{DatabaseUrl, ProviderKind, Settings};
use crate::db::{self, DbPool};

pub use seed::{
    seed, Seeded, DEMO_BUYER_EMAIL, DEMO_FEE_FIXED_MINOR, DEMO_FEE_PERCENTAGE, DEMO_PASSWORD,
};

/// How long the server may take to answer `/readyz` after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// What `bazaar demo` was asked to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct DayOptions {
    /// Play only the scripted carts (each money fact once): the bounded run CI uses.
    pub quick: bool,
    /// Keep serving after the summary, on the configured address, until Ctrl-C.
    pub keep_running: bool,
    /// Start from an empty embedded database and sandbox state.
    pub fresh: bool,
}

/// The progress bar (on a terminal only) and the story lines printed above it.
pub(crate) struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(steps: u64) -> Self {
        let bar = ProgressBar::new(steps);
        let style = ProgressStyle::with_template("{spinner} [{bar:32}] {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar }
    }

    /// Names the step now running.
    pub(crate) fn step(&self, what: impl Into<String>) {
        self.bar.set_message(what.into());
    }

    /// Prints a line of the story (above the bar) and counts one step done.
    pub(crate) fn done(&self, line: impl AsRef<str>) {
        self.bar.suspend(|| println!("  {}", line.as_ref()));
        self.bar.inc(1);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Plays the demo day and prints its summary; with `keep_running`, then
/// serves until Ctrl-C.
///
/// # Errors
/// Set-up failed, a step of the day failed or timed out, or the books did not
/// balance or reconcile (after the summary was printed).
pub async fn play(mut settings: Settings, options: DayOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        settings.provider.kind == ProviderKind::Sandbox,
        "`bazaar demo` plays on the sandbox provider (it moves the provider's clock and pays with its test cards); `bazaar demo --seed` also works with the real provider"
    );
    if options.fresh && matches!(settings.database.url, DatabaseUrl::Sqlite(_)) {
        remove_embedded_state(&settings)?;
    }
    if !options.keep_running {
        // Nobody will visit: any free port, so a running `serve` is no obstacle.
        settings.server.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    }
    if let Some(parent) = settings
        .sandbox
        .state_file
        .as_deref()
        .and_then(std::path::Path::parent)
    {
        // SQLite makes ./data for its file; on PostgreSQL nothing else would,
        // and the sandbox does not create its state file's folder.
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let pool = db::connect_pool(&settings.database)?;
    // A set-up command like `migrate`: PostgreSQL is migrated here too.
    db::migrate(&mut *pool.get()?)?;
    let orders = orders_count(&pool).await?;
    if options.fresh && !matches!(settings.database.url, DatabaseUrl::Sqlite(_)) {
        // PostgreSQL's database is not ours to delete: --fresh starts the
        // sandbox over for a new, empty database.
        anyhow::ensure!(
            orders == 0,
            "--fresh on PostgreSQL starts the sandbox's state over for a new database, and this \
             one already has {orders} order(s): point database.url at a new, empty database"
        );
        remove_sandbox_state(&settings)?;
    }
    if orders > 0 {
        // The books the day checks must be the whole books, so a second day
        // is not played on them; asked to keep running, the headline
        // command serves what is there instead, so it works every time.
        anyhow::ensure!(
            options.keep_running,
            "this database already has {orders} order(s) (a demo day was played, or the marketplace is in use): \
             `bazaar demo --fresh` starts the embedded database over, `bazaar demo --keep-running` or \
             `bazaar serve` explores what is there"
        );
        return serve_played(settings, orders).await;
    }

    let bind = settings.server.bind;
    let application = Application::build(settings.clone())
        .await
        .with_context(|| format!("starting the marketplace on {bind}"))?;
    let sandbox_url = application
        .sandbox_url()
        .ok_or_else(|| anyhow::anyhow!("the in-process sandbox did not start"))?;
    let carts: Vec<&script::Cart> = script::SCRIPTED
        .iter()
        .chain(if options.quick { &[][..] } else { script::MORE })
        .collect();
    let progress = Progress::new(morning::STEPS + day::steps(&carts) + summary::STEPS);
    progress.step("seeding the demo catalog");
    let seeded = seed(
        &settings,
        application.pool(),
        application.provider().as_ref(),
        Some(&sandbox_url),
    )
    .await?;
    progress.done(format!(
        "seeded {} shops, {} products ({} already there), fee rule {}",
        seeded.shops.len(),
        seeded.products_inserted,
        seeded.products_skipped,
        if seeded.fee_rule_created.is_some() {
            format!("{DEMO_FEE_PERCENTAGE} % + fixed, platform bears processing fees")
        } else {
            "already in force".to_owned()
        }
    ));

    let scheme = settings.server.scheme();
    let mut http = reqwest::Client::builder();
    let base = match &settings.server.tls {
        Some(tls) => {
            // The listener speaks only TLS with a certificate that names localhost.
            let pem = tls.certificate_pem()?;
            http = http.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
            format!("{scheme}://localhost:{}", application.port())
        }
        None => format!("{scheme}://127.0.0.1:{}", application.port()),
    };
    let sandbox_key = crate::app::sandbox_config(&settings).secret_key;
    // The default sandbox key is public; a configured one is a secret and stays unprinted.
    let shown_key = (sandbox_key == crate::sandbox::SandboxConfig::default().secret_key)
        .then(|| sandbox_key.clone());
    if options.keep_running {
        // First, before the day's output: where to look while it plays.
        println!("Storefront: {base}/");
    }
    let api = client::Api::new(http, base, sandbox_url, sandbox_key)?
        .following_verification_links(pool.clone(), settings.auth.clone());
    let server = application.server_handle();
    let serving = tokio::spawn(application.run_until_stopped());

    let outcome = play_day(&api, &pool, &carts, &progress).await;
    progress.finish();
    let (cast, books) = match outcome {
        Ok(played) => played,
        Err(error) => {
            server.stop(true).await;
            let _ = serving.await;
            return Err(error);
        }
    };
    print!("{}", books.text);
    let accounts = accounts_file(&settings);
    write_private(&accounts, &summary::accounts_text(&cast, &seeded))
        .with_context(|| format!("writing {}", accounts.display()))?;
    println!(
        "\nDemo accounts (the operator's TOTP secret too): {}",
        accounts.display()
    );
    if options.keep_running {
        summary::print_explore(&api, &cast, &seeded, shown_key.as_deref());
        // The server stops itself on Ctrl-C (SIGINT) or SIGTERM.
        serving.await??;
    } else {
        server.stop(true).await;
        serving.await??;
    }
    books.verdict()
}

async fn play_day(
    api: &client::Api,
    pool: &DbPool,
    carts: &[&script::Cart],
    progress: &Progress,
) -> anyhow::Result<(morning::Cast, summary::Books)> {
    client::wait_for("the server to be ready", READY_TIMEOUT, || async {
        Ok((api.get_public("/readyz").await?.0 == 200).then_some(()))
    })
    .await?;
    let cast = morning::play(api, pool, progress).await?;
    start_in_a_new_provider_second().await;
    let day = day::play(api, &cast, carts, progress).await?;
    let books = summary::report(api, &cast, &day, progress).await?;
    Ok((cast, books))
}

/// `--fresh` on PostgreSQL (a new database): deletes the sandbox's state file.
fn remove_sandbox_state(settings: &Settings) -> anyhow::Result<()> {
    remove_files(
        settings
            .sandbox
            .state_file
            .iter()
            .flat_map(|path| crate::sandbox::journal::state_files(path)),
    )
}

/// `--fresh`: deletes the embedded SQLite file and the sandbox's state file.
fn remove_embedded_state(settings: &Settings) -> anyhow::Result<()> {
    let DatabaseUrl::Sqlite(path) = &settings.database.url else {
        return remove_sandbox_state(settings);
    };
    remove_files(crate::sandbox::journal::database_files(path))?;
    remove_sandbox_state(settings)
}

fn remove_files(files: impl IntoIterator<Item = std::path::PathBuf>) -> anyhow::Result<()> {
    for file in files {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::anyhow!("--fresh: removing {}: {e}", file.display())),
        }
    }
    Ok(())
}

/// How many orders the marketplace holds.
async fn orders_count(pool: &DbPool) -> anyhow::Result<i64> {
    use diesel::prelude::*;
    db::run(pool, |conn| {
        crate::orders::schema::orders::table
            .count()
            .get_result(conn)
            .map_err(crate::error::AppError::from)
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// `--keep-running` on a folder whose demo was played: serves it as it is.
async fn serve_played(settings: Settings, orders: i64) -> anyhow::Result<()> {
    let accounts = accounts_file(&settings);
    let bind = settings.server.bind;
    let application = Application::build(settings.clone())
        .await
        .with_context(|| format!("starting the marketplace on {bind}"))?;
    let scheme = settings.server.scheme();
    println!(
        "This folder already holds a played demo ({orders} orders): serving it as it is \
         (`bazaar demo --fresh --keep-running` plays a new day)."
    );
    println!("Storefront: {scheme}://127.0.0.1:{}/", application.port());
    if accounts.is_file() {
        println!(
            "Demo accounts (the operator's TOTP secret too): {}",
            accounts.display()
        );
    }
    println!("The marketplace keeps running; Ctrl-C stops it.");
    application.run_until_stopped().await?;
    Ok(())
}

/// Where the demo writes its accounts: beside the embedded database (or the
/// sandbox's state file on PostgreSQL), `data/` by default.
pub(crate) fn accounts_file(settings: &Settings) -> std::path::PathBuf {
    let folder = match &settings.database.url {
        DatabaseUrl::Sqlite(path) => path.parent().map(std::path::Path::to_path_buf),
        _ => settings
            .sandbox
            .state_file
            .as_deref()
            .and_then(std::path::Path::parent)
            .map(std::path::Path::to_path_buf),
    };
    folder
        .filter(|f| !f.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::PathBuf::from("data"))
        .join(ACCOUNTS_FILE)
}

/// Writes `text` to `path`, readable by its owner only (it holds a TOTP secret).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// The demo's accounts file's name.
pub const ACCOUNTS_FILE: &str = "demo-accounts.txt";

/// Waits until the provider's clock (whole Unix seconds, the wall clock plus
/// a whole-second offset) has passed the second the morning's last account
/// was opened in. A charge in that very second would become available at the
/// account's second daily payout, a day before the day's later charges, and
/// be paid out on its own: a fast run would then show one payout more than a
/// slow one. A second later, every run pays the same payouts.
async fn start_in_a_new_provider_second() {
    let into_second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let rest = 1_000_000_000 - u64::from(into_second);
    tokio::time::sleep(std::time::Duration::from_nanos(rest + 10_000_000)).await;
}
