//! A real SMTP server on loopback for the email tests: aiosmtpd (PyPI, installed
//! by `.ci/run`), run by `sink.py`, which writes each message it accepts as JSON.

#![allow(dead_code)] // each email test binary uses a different part

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// Whether python3 can import aiosmtpd. Outside CI a missing package skips
/// the test with a note; in CI (`CI` set) it is a failure.
pub fn available() -> bool {
    let present = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with aiosmtpd is required in CI (.ci/run installs it)"
        );
        eprintln!("skipped: `pip install aiosmtpd==1.4.6` to run the SMTP tests");
    }
    present
}

/// A running sink; killed when dropped. Its messages outlive restarts.
pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl SmtpSink {
    /// Starts a sink on a free port.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("sink dir");
        let mut sink = Self {
            port: 0,
            dir,
            child: None,
        };
        sink.listen(0);
        sink
    }

    fn listen(&mut self, port: u16) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_support/sink.py");
        // The port may still be held for a moment after a stop; retry briefly.
        for _ in 0..50 {
            let mut child = Command::new("python3")
                .arg(&script)
                .arg(port.to_string())
                .arg(self.dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("python3 runs");
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .expect("sink output");
            if let Some(port) = line.strip_prefix("listening ") {
                self.port = port.trim().parse().expect("sink port");
                self.child = Some(child);
                return;
            }
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the SMTP sink could not listen on port {port}");
    }

    /// Stops the server: connections to its port are refused until [`Self::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, keeping what it received.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the sink is running");
        self.listen(self.port);
    }

    /// Every message received so far, in arrival order, but the sign-ups'
    /// verification links: the people helpers verify without reading them, and
    /// whether one goes out first is a race (`tests/auth_account.rs` reads them).
    pub fn messages(&self) -> Vec<Value> {
        self.everything()
            .into_iter()
            .filter(|m| m["subject"] != "Confirm your email address for Bazaar")
            .collect()
    }

    /// Every message received so far, in arrival order.
    pub fn everything(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("sink dir")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    /// The messages to `address`.
    pub fn to(&self, address: &str) -> Vec<Value> {
        self.messages()
            .into_iter()
            .filter(|m| {
                m["rcpt_tos"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r == address)
            })
            .collect()
    }

    /// The settings that point the app at this sink.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        vec![
            ("BAZAAR__EMAIL__TRANSPORT", "smtp".into()),
            ("BAZAAR__EMAIL__SMTP_HOST", "127.0.0.1".into()),
            ("BAZAAR__EMAIL__SMTP_PORT", self.port.to_string()),
            ("BAZAAR__EMAIL__SMTP_TLS", "none".into()),
            ("BAZAAR__EMAIL__SMTP_TIMEOUT_MS", "2000".into()),
        ]
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}
