//! The suite's own `bazaar` binary, run as a person would run it in a folder.

use std::path::Path;
use std::process::Command;

/// The binary `cargo test` built: the tests build nothing of their own.
pub const BAZAAR: &str = env!("CARGO_BIN_EXE_bazaar");

/// `bazaar ARGS` in `dir`, logging at `warn`, with none of the caller's
/// `BAZAAR_ENV`, `BAZAAR_CONFIG_DIR` or `BAZAAR__*` settings (a test's environment must not pick
/// its database or port), on `database_url` when given.
pub fn bazaar_command(dir: &Path, database_url: Option<&str>, args: &[&str]) -> Command {
    let mut command = Command::new(BAZAAR);
    command
        .current_dir(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("BAZAAR_ENV")
        .env_remove("BAZAAR_CONFIG_DIR");
    for (name, _) in std::env::vars() {
        if name.starts_with("BAZAAR__") {
            command.env_remove(name);
        }
    }
    if let Some(url) = database_url {
        command.env("BAZAAR__DATABASE__URL", url);
    }
    command
}

/// A child process killed when the test ends, however it ends: a failing
/// test leaves no server behind.
pub struct Running(pub std::process::Child);

impl Running {
    /// Kills it now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}
