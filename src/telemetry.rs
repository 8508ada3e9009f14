//! Process-wide logging: human-readable lines by default, JSON when configured.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `log.filter`.
/// Human lines are coloured only when stderr is a terminal (and `NO_COLOR` is
/// unset): piped to a file or a log collector they stay plain text.
/// Calling it twice is harmless (the second call keeps the first subscriber).
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(colours_on_stderr())
        .with_writer(std::io::stderr);
    let installed = match settings.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    // Err only means a subscriber is already installed (tests start many servers).
    drop(installed);
}

/// Whether log lines on stderr may carry ANSI colour codes.
pub fn colours_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Installs a global subscriber that writes every line matching `filter` to
/// `path` (appending, no colours), span creations included, for the test harness's log capture: the
/// leak check greps these files for secrets and personal data. Like [`init`],
/// a second call keeps the first subscriber.
///
/// # Errors
/// The file cannot be opened.
pub fn init_file(filter: &str, path: &std::path::Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("debug"));
    // Span creation too: a span's fields (an instrumented function's arguments)
    // reach every line logged inside it, so they are checked even where
    // nothing happens to be logged today.
    let installed = fmt()
        .with_env_filter(filter)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::NEW)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    drop(installed);
    Ok(())
}
