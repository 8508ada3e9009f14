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

/// Whether GET `url` (with `key` as its bearer token) answers 2xx within
/// `wait`, asked every 50 ms: a process started beside the test is ready.
pub async fn answers_within(url: &str, key: Option<&str>, wait: std::time::Duration) -> bool {
    let client = crate::common::http_client();
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        let mut request = client.get(url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if request.send().await.is_ok_and(|r| r.status().is_success()) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// `bazaar sandbox` in `dir` on `port`, its state in `state_file`, once it answers.
pub async fn sandbox_process(dir: &Path, state_file: &Path, port: u16) -> Running {
    let running = bazaar_command(
        dir,
        None,
        &["sandbox", "--bind", &format!("127.0.0.1:{port}")],
    )
    .env("BAZAAR__SANDBOX__STATE_FILE", state_file)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .map(Running)
    .expect("bazaar sandbox starts");
    let balance = format!("http://127.0.0.1:{port}/v1/balance");
    let wait = std::time::Duration::from_secs(30);
    assert!(
        answers_within(&balance, Some(super::SANDBOX_KEY), wait).await,
        "bazaar sandbox did not start"
    );
    running
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
