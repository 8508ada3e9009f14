//! The provider's own official client library (Python `stripe`) drives the
//! sandbox: the independent judge that the sandbox speaks the real protocol.

use std::process::Command;

use bazaar::sandbox::{Sandbox, SandboxConfig};

fn python_has_stripe() -> bool {
    Command::new("python3")
        .args(["-c", "import stripe"])
        .status()
        .is_ok_and(|status| status.success())
}

#[tokio::test]
async fn the_official_python_client_accepts_the_sandbox() {
    if !python_has_stripe() {
        // CI installs it (.ci/run); there a missing library is a failure, not a skip.
        assert!(
            std::env::var("CI").is_err(),
            "python3 with the `stripe` package is required in CI"
        );
        eprintln!("skipped: `pip install stripe==16.1.0` to run the official-client judge");
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sandbox = Sandbox::start(SandboxConfig::default(), listener)
        .await
        .unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/official_client/sandbox_judge.py"
    );
    let base_url = sandbox.base_url().to_owned();
    let secret_key = sandbox.secret_key().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(base_url)
            .arg(secret_key)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "judge failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    sandbox.stop().await;
}
