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
    Serve,
    /// Apply pending migrations to the configured database, then exit. Safe to run
    /// again, and from several processes at once.
    Migrate,
    /// Print the effective settings (secrets redacted) and exit; fails on a bad setting.
    Config,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.config_dir) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("bazaar: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let outcome = match cli.command {
        Command::Serve => serve(settings),
        Command::Migrate => migrate(&settings),
        Command::Config => {
            println!("{settings:#?}");
            Ok(())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "stopped");
            eprintln!("bazaar: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let application = Application::build(settings)?;
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
