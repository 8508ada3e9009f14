//! The `bazaar` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use bazaar::app::Application;
use bazaar::config::Settings;
use bazaar::{db, telemetry};

/// Bazaar: a multi-party marketplace payments core.
///
/// Settings come from config/default.toml (built in), then
/// config/{BAZAAR_ENV}.toml, then BAZAAR__SECTION__KEY environment variables.
#[derive(Debug, Parser)]
#[command(name = "bazaar", version, about, long_about)]
struct Cli {
    /// Folder holding {BAZAAR_ENV}.toml (the defaults are compiled in).
    #[arg(
        long,
        global = true,
        env = "BAZAAR_CONFIG_DIR",
        default_value = "config"
    )]
    config_dir: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API. On the embedded default (a SQLite file under ./data) the
    /// database is created and migrated on start; PostgreSQL is migrated on start
    /// only when database.migrate_on_start is true.
    ///
    /// It listens on server.bind (127.0.0.1:8080 by default). To change the
    /// port: --bind 127.0.0.1:9000, or server.bind in config/{BAZAAR_ENV}.toml,
    /// or BAZAAR__SERVER__BIND=0.0.0.0:9000 in the environment.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:9000 or 0.0.0.0:8080; wins over
        /// server.bind and BAZAAR__SERVER__BIND.
        #[arg(long, value_name = "ADDR")]
        bind: Option<std::net::SocketAddr>,
    },
    /// Apply pending migrations to the configured database, then exit. Safe to run
    /// again, and from several processes at once.
    Migrate,
    /// Print the effective settings as TOML (the keys of config/default.toml,
    /// after config/{BAZAAR_ENV}.toml and BAZAAR__* variables; secrets and URL
    /// passwords shown as "<redacted>") and exit; fails on a bad setting.
    Config,
    /// Run the Stripe-compatible sandbox provider alone (the same one `serve` runs
    /// in-process by default): point any Stripe client at it with a sk_test_ key.
    Sandbox {
        /// Address to listen on (default: sandbox.bind, or 127.0.0.1:12111 when that is port 0).
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
    },
    /// Play a day of the marketplace on the sandbox and print its books: sellers
    /// onboard, buyers check out carts of several shops, a card is declined, a
    /// line refunded, disputes won and lost, the provider's clock moves on,
    /// payouts are paid and one fails; then orders, fees, transfers, payouts,
    /// the trial balance and a reconciliation. Exits 1 unless the trial balance
    /// is zero and reconciliation clean. With --seed: only load the demo data.
    Demo {
        /// Only load the demo data (sellers with onboarded shops, a buyer, the
        /// catalog, a platform fee rule); safe to run again.
        #[arg(long, conflicts_with_all = ["quick", "keep_running", "fresh"])]
        seed: bool,
        /// Play only the scripted carts (each money fact once): a bounded run for CI.
        #[arg(long)]
        quick: bool,
        /// Keep serving on server.bind after the summary, printing the URLs and
        /// demo credentials, until Ctrl-C.
        #[arg(long)]
        keep_running: bool,
        /// Delete the embedded SQLite database and the sandbox's state file first.
        #[arg(long)]
        fresh: bool,
    },
    /// Sign provider event payloads (JSON files, e.g. webhooks/*.json) with the
    /// configured webhook secrets and post them to a running instance; or, with
    /// --since, backfill missed events from the provider's events list into the
    /// configured database (the running instances' workers process them).
    Replay {
        /// The instance's base URL (for files).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Backfill every event created at or after this instant (RFC 3339).
        #[arg(long, conflicts_with = "files")]
        since: Option<String>,
        /// Event files to post, in order.
        #[arg(required_unless_present = "since")]
        files: Vec<PathBuf>,
    },
    /// Reconcile the ledger with the provider (the platform and every shop's
    /// connected account), store the report and print it. Exit code 1 when
    /// there are differences, 2 when the run failed.
    Reconcile,
    /// Write a consistent backup of this marketplace into one new file while it
    /// serves: its database (PostgreSQL: through pg_dump), the sandbox
    /// provider's state and the uploaded pictures. See docs/operations.md.
    Backup {
        /// The file to write; it must not exist (e.g. backups/bazaar-2026-12-07.tar.gz).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Restore a backup into the configured database, sandbox state file and
    /// pictures folder, which must be empty or missing (PostgreSQL: a new,
    /// empty database, written through pg_restore). Nothing is written unless
    /// every file of the backup matches its checksum.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Only check the file (every member against its checksum) and print
        /// what it holds; restore nothing.
        #[arg(long)]
        check: bool,
    },
    /// Administration of the installation.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an operator account. The password is asked for at the terminal
    /// (not echoed), or read from the first line of stdin when stdin is not a
    /// terminal. The operator enrols TOTP at first login.
    CreateOperator {
        /// The operator's email address.
        #[arg(long)]
        email: String,
    },
}

/// glibc's allocator, left to itself, kept a busy server at hundreds of MiB
/// (measured with `cargo bench --bench load`): a freed large block (an argon2
/// hash takes 19 MiB) raises its mmap threshold, so the next ones come from
/// the heap and stay resident after they are freed, in up to 8 arenas per
/// core. A fixed threshold returns large blocks to the system on free, and
/// two arenas bound what small ones leave behind. Called before any thread
/// starts.
fn bound_malloc_retention() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called at start, before threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> ExitCode {
    bound_malloc_retention();
    let cli = Cli::parse();
    if matches!(cli.command, Command::Config) {
        return print_config(&cli.config_dir);
    }
    let mut settings = match Settings::load(&cli.config_dir) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("bazaar: {error}");
            return ExitCode::from(2);
        }
    };
    match &cli.command {
        Command::Demo { seed: false, .. } => {
            // The day's story and its progress bar are the output; request logs
            // would bury them, and so would the provider client's warning about
            // the card the day declines on purpose (RUST_LOG still wins).
            settings.log.filter = "warn,stripe=error".into();
        }
        // One-shot commands: their printed result is the output; the server's
        // start-up lines (listening, sandbox started, workers) are noise there.
        // Warnings and errors still show; RUST_LOG still wins.
        Command::Migrate
        | Command::Reconcile
        | Command::Replay { .. }
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::Admin(_)
        | Command::Demo { seed: true, .. } => settings.log.filter = "warn".into(),
        Command::Serve { bind: Some(bind) } => settings.server.bind = *bind,
        Command::Serve { bind: None } | Command::Sandbox { .. } | Command::Config => {}
    }
    let json_logs = settings.log.format == bazaar::config::LogFormat::Json;
    telemetry::init(&settings.log);
    let outcome = match cli.command {
        Command::Reconcile => {
            return match reconcile(settings) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(error) => {
                    eprintln!("bazaar: {error:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Serve { .. } => serve(settings),
        Command::Migrate => migrate(&settings),
        Command::Config => unreachable!("handled before the settings are loaded"),
        Command::Sandbox { bind } => sandbox(&settings, bind),
        Command::Replay {
            since: Some(since), ..
        } => backfill(settings, &since),
        Command::Replay { url, files, .. } => replay(&settings, &url, &files),
        Command::Backup { to } => backup(&settings, &to),
        Command::Restore { file, check } => restore(&settings, &file, check),
        Command::Admin(AdminCommand::CreateOperator { email }) => {
            create_operator(&settings, &email)
        }
        Command::Demo { seed: true, .. } => demo(settings),
        Command::Demo {
            quick,
            keep_running,
            fresh,
            ..
        } => demo_day(
            settings,
            bazaar::demo::DayOptions {
                quick,
                keep_running,
                fresh,
            },
        ),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Printed once: the `bazaar: …` line is for the person at the
            // terminal. A human-format log line would repeat it on the same
            // stderr; a JSON log is read by machines (a collector that parses
            // every line), so there the error is also logged as one JSON record.
            if json_logs {
                tracing::error!(error = format!("{error:#}"), "stopped");
            }
            eprintln!("bazaar: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `bazaar config`: the settings as TOML on stdout (exit 0), or the bad
/// setting on stderr (exit 2). A closed pipe (`bazaar config | head`) is no error.
fn print_config(config_dir: &std::path::Path) -> ExitCode {
    use std::io::Write;
    let environment: std::collections::HashMap<String, String> = std::env::vars().collect();
    match Settings::effective_toml(config_dir, &environment) {
        Ok(toml) => match std::io::stdout().lock().write_all(toml.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("bazaar: {error}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("bazaar: {error}");
            ExitCode::from(2)
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let scheme = settings.server.scheme();
        let host = settings.server.bind.ip();
        let application = Application::build(settings).await?;
        println!(
            "Storefront: {scheme}://{}:{}/   (the API under /v1/; Ctrl-C stops)",
            match host {
                std::net::IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_owned(),
                std::net::IpAddr::V4(v4) => v4.to_string(),
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            },
            application.port()
        );
        application.run_until_stopped().await?;
        Ok(())
    })
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let pool = db::connect_pool(&settings.database)?;
    let mut conn = pool.get()?;
    let applied = db::migrate(&mut conn)?;
    if applied.is_empty() {
        println!("database is up to date ({})", conn.backend());
    } else {
        println!(
            "applied {} migration(s) to {}: {}",
            applied.len(),
            conn.backend(),
            applied.join(", ")
        );
    }
    Ok(())
}

/// Where `bazaar sandbox` listens when neither --bind nor a fixed sandbox.bind says.
const SANDBOX_PORT_DEFAULT: u16 = 12111;

fn sandbox(settings: &Settings, bind: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    let bind = bind.unwrap_or_else(|| {
        let mut configured = settings.sandbox.bind;
        if configured.port() == 0 {
            configured.set_port(SANDBOX_PORT_DEFAULT);
        }
        configured
    });
    let config = bazaar::app::sandbox_config(settings);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = std::net::TcpListener::bind(bind)?;
        let sandbox = bazaar::sandbox::Sandbox::start(config, listener).await?;
        // The default sandbox key is public; a configured one is a secret and stays unprinted.
        let default_key = bazaar::sandbox::SandboxConfig::default().secret_key;
        let key = if sandbox.secret_key() == default_key {
            default_key.as_str()
        } else {
            "provider.secret_key"
        };
        println!(
            "sandbox provider listening on {} (API key: {key}); Ctrl-C stops it",
            sandbox.base_url()
        );
        tokio::signal::ctrl_c().await?;
        sandbox.stop().await;
        Ok(())
    })
}

fn replay(settings: &Settings, url: &str, files: &[PathBuf]) -> anyhow::Result<()> {
    let secrets = bazaar::app::webhook_secrets(settings);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let replayed =
        runtime.block_on(bazaar::webhooks::replay::replay_files(url, &secrets, files))?;
    let mut refused = 0;
    for outcome in &replayed {
        println!("{} {} {}", outcome.status, outcome.file, outcome.body);
        refused += usize::from(outcome.status != 200);
    }
    if refused > 0 {
        anyhow::bail!("{refused} of {} event(s) refused", replayed.len());
    }
    Ok(())
}

fn backfill(mut settings: Settings, since: &str) -> anyhow::Result<()> {
    let since = chrono::DateTime::parse_from_rfc3339(since)
        .map_err(|e| anyhow::anyhow!("--since {since}: not an RFC 3339 instant: {e}"))?
        .timestamp();
    // The same wiring as `serve` without listening (the provider, migrations).
    settings.server.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let application = Application::build(settings).await?;
        let report =
            bazaar::webhooks::backfill(application.pool(), application.provider().as_ref(), since)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"));
        application.shutdown().await;
        let report = report?;
        println!(
            "backfill: {} event(s) seen over {} account(s): {} stored, {} already there",
            report.seen, report.accounts, report.stored, report.duplicates
        );
        Ok(())
    })
}

/// Runs a reconciliation; `Ok(true)` when the books match the provider.
fn reconcile(mut settings: Settings) -> anyhow::Result<bool> {
    settings.server.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let application = Application::build(settings).await?;
        let report =
            bazaar::reconcile::run(application.pool(), application.provider().as_ref()).await;
        application.shutdown().await;
        let report = report.map_err(|e| anyhow::anyhow!("{e}"))?;
        println!(
            "reconciliation {}: {} account(s), {} balance transaction(s), {} difference(s)",
            report.id,
            report.accounts_checked,
            report.transactions_checked,
            report.differences.len()
        );
        for d in &report.differences {
            let amount = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
            println!(
                "  {:<20} {:<28} {:<36} {} provider {} ledger {}: {}",
                d.kind.as_str(),
                d.scope,
                d.object,
                d.currency,
                amount(d.provider_minor),
                amount(d.ledger_minor),
                d.detail
            );
        }
        Ok(report.differences.is_empty())
    })
}

fn backup(settings: &Settings, to: &std::path::Path) -> anyhow::Result<()> {
    let manifest = bazaar::backup::backup(settings, to)?;
    let bytes = std::fs::metadata(to).map_or(0, |m| m.len());
    println!(
        "backup written to {} ({bytes} bytes): {}",
        to.display(),
        backup_contents(&manifest)
    );
    if manifest.has_sandbox() {
        println!(
            "the provider sandbox waited {} ms while its state was copied",
            manifest.provider_held_ms
        );
    }
    Ok(())
}

/// What a backup holds, in one line.
fn backup_contents(manifest: &bazaar::backup::Manifest) -> String {
    format!(
        "the {} database as of {} (schema {}), {}{} picture(s)",
        manifest.backend,
        manifest.taken_at,
        manifest.schema_version,
        if manifest.has_sandbox() {
            "the sandbox provider's state, "
        } else {
            ""
        },
        manifest.media_files()
    )
}

fn restore(settings: &Settings, file: &std::path::Path, check: bool) -> anyhow::Result<()> {
    if check {
        let manifest = bazaar::backup::verify(file)?;
        println!(
            "{} is whole (backup format {}, bazaar {}): {}",
            file.display(),
            manifest.format,
            manifest.bazaar_version,
            backup_contents(&manifest)
        );
        return Ok(());
    }
    let manifest = bazaar::backup::restore(settings, file)?;
    println!(
        "restored {}: {}",
        file.display(),
        backup_contents(&manifest)
    );
    if manifest.has_sandbox() {
        println!(
            "start it with `bazaar serve`: the sandbox sends again the webhooks it had not \
             delivered, and the sweep finishes what the backup caught half done"
        );
    } else {
        println!(
            "start it with `bazaar serve`, then fetch what the provider sent since the backup: \
             bazaar replay --since {}",
            manifest.taken_at
        );
    }
    Ok(())
}

fn create_operator(settings: &Settings, email: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Operator password (12+ characters): ")?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    let pool = db::connect_pool(&settings.database)?;
    let mut conn = pool.get()?;
    db::migrate(&mut conn)?;
    let id = bazaar::auth::create_operator(&mut conn, email, &password)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("operator {id} created for {email}; enrol TOTP at first login (POST /v1/me/totp)");
    Ok(())
}

fn demo_day(settings: Settings, options: bazaar::demo::DayOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bazaar::demo::play(settings, options))
}

fn demo(mut settings: Settings) -> anyhow::Result<()> {
    // The HTTP listener is not used: any free port, so a running server's port is no obstacle.
    settings.server.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        // The same wiring as `serve` (database migrated, provider or in-process
        // sandbox with its state file), without listening for HTTP.
        let application = Application::build(settings.clone()).await?;
        let seeded = bazaar::demo::seed(
            &settings,
            application.pool(),
            application.provider().as_ref(),
            application.sandbox_url().as_deref(),
        )
        .await?;
        println!(
            "demo seeded: {} shops, {} products added ({} already there)",
            seeded.shops.len(),
            seeded.products_inserted,
            seeded.products_skipped
        );
        for shop in &seeded.shops {
            println!(
                "  shop {} ({}) status {}",
                shop.slug,
                shop.id,
                shop.status()
            );
        }
        if let Some(rule) = &seeded.fee_rule_created {
            println!(
                "platform fee rule {rule}: {} % + a fixed amount per currency (platform bears processing fees)",
                bazaar::demo::DEMO_FEE_PERCENTAGE
            );
        }
        println!(
            "sellers: {} ; buyer: {}",
            seeded.sellers.join(", "),
            seeded.buyer
        );
        println!(
            "password for every demo account: {}",
            bazaar::demo::DEMO_PASSWORD
        );
        application.shutdown().await;
        Ok(())
    })
}
