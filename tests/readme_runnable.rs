//! The shell blocks the README and `docs/` mark ```` ```sh runnable ```` run as
//! written against a demo marketplace: `bazaar demo --keep-running` in an
//! empty folder, then each file's runnable blocks in order in one
//! `bash -euo pipefail` session (a variable one block sets is there in the
//! next), with `BAZAAR` pointing at the demo. Every `curl` in them uses `-f`,
//! so an answer that is not 2xx fails the run.

use crate::common;
use common::cli::Running;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The README's tours: a buyer's, a seller's and an operator's, after the block
/// that sets the shared variables.
const README_RUNNABLE_BLOCKS_MIN: usize = 3;
const DEMO_READY_TIMEOUT: Duration = Duration::from_secs(120);
const FILE_RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// The line of `demo --keep-running`'s output that carries a signed-in
/// operator session, as a reader sees it.
const OPERATOR_SESSION_PREFIX: &str = "signed in already: export OP=";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A runnable block: the line its fence opens on, and its text.
struct Block {
    line: usize,
    text: String,
}

/// The blocks of `markdown` whose fence's info string is `sh runnable`.
fn runnable_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, bool, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let words: Vec<&str> = info.split_whitespace().collect();
                    let runnable = words == ["sh", "runnable"];
                    open = Some((index + 1, runnable, String::new()));
                }
            }
            Some((start, runnable, text)) => {
                if trimmed.trim_end() == "```" {
                    if *runnable {
                        blocks.push(Block {
                            line: *start,
                            text: std::mem::take(text),
                        });
                    }
                    open = None;
                } else {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    assert!(open.is_none(), "a code block is never closed");
    blocks
}

/// The demo server, stopped when dropped.
/// `bazaar demo --quick --keep-running` in `dir` on a free port: the server,
/// its base URL and the operator session it printed.
fn start_demo(dir: &Path) -> (Running, String, String) {
    let port = common::cli::free_port();
    let mut command =
        common::cli::bazaar_command(dir, None, &["demo", "--quick", "--keep-running"]);
    let mut child = command
        .env("BAZAAR__SERVER__BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bazaar starts");
    let stdout = child.stdout.take().unwrap();
    let demo = Running(child);
    let (sender, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + DEMO_READY_TIMEOUT;
    let mut said = Vec::new();
    let session = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = received.recv_timeout(left).unwrap_or_else(|_| {
            panic!("no operator session within {DEMO_READY_TIMEOUT:?}: {said:#?}")
        });
        if let Some((_, token)) = line.split_once(OPERATOR_SESSION_PREFIX) {
            break token.trim().to_owned();
        }
        said.push(line);
    };
    // The rest of the output still has to go somewhere, or the demo blocks on a full pipe.
    std::thread::spawn(move || while received.recv().is_ok() {});
    (demo, format!("http://127.0.0.1:{port}"), session)
}

fn jq_is_installed() -> bool {
    Command::new("jq")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// The marker printed before each block, so a failure names its block.
fn marker(index: usize) -> String {
    format!("@@ runnable block {index} @@")
}

/// Runs `blocks` in one `bash -euo pipefail` session in `dir`; on failure, the
/// failing block and what the session printed.
fn run_blocks(
    dir: &Path,
    base: &str,
    session: &str,
    name: &str,
    blocks: &[Block],
) -> Result<(), String> {
    let mut script = String::new();
    for (index, block) in blocks.iter().enumerate() {
        script.push_str(&format!("echo '{}'\n", marker(index)));
        script.push_str(&block.text);
    }
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir)
        .env("BAZAAR", base)
        .env("OPS_TOKEN", session)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + FILE_RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    if status.is_some_and(|s| s.success()) {
        return Ok(());
    }
    let failed = (0..blocks.len())
        .rev()
        .find(|&index| out.contains(&marker(index)))
        .unwrap_or(0);
    let block = &blocks[failed];
    let outcome = match status {
        Some(status) => format!("exited with {status}"),
        None => format!("did not finish within {FILE_RUN_TIMEOUT:?}"),
    };
    Err(format!(
        "{name}: the runnable block at line {} {outcome}\n--- block ---\n{}--- stdout ---\n{out}\n--- stderr ---\n{err}",
        block.line, block.text
    ))
}

#[test]
fn the_readme_has_a_runnable_block_per_tour() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let blocks = runnable_blocks(&readme);
    assert!(
        blocks.len() >= README_RUNNABLE_BLOCKS_MIN,
        "the README marks {} blocks ```sh runnable; its tours need at least {README_RUNNABLE_BLOCKS_MIN}",
        blocks.len()
    );
    assert!(
        blocks[0]
            .text
            .contains("BAZAAR=${BAZAAR:-http://127.0.0.1:8080}"),
        "the README's first runnable block sets BAZAAR, defaulting to the demo's address"
    );
}

#[test]
fn every_runnable_block_runs_against_the_demo() {
    if !jq_is_installed() {
        // CI installs it (.ci/run); there a missing jq is a failure, not a skip.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "jq is required in CI to run the documentation's runnable blocks"
        );
        eprintln!("skipped: install jq to run the documentation's runnable blocks");
        return;
    }
    let files: Vec<(String, Vec<Block>)> = common::documentation_files()
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path
                .strip_prefix(root())
                .unwrap_or(&path)
                .display()
                .to_string();
            (name, runnable_blocks(&text))
        })
        .filter(|(_, blocks)| !blocks.is_empty())
        .collect();
    assert!(
        files.iter().any(|(name, _)| name == "README.md"),
        "the README has runnable blocks"
    );

    let dir = tempfile::tempdir().unwrap();
    let (_demo, base, session) = start_demo(dir.path());
    let mut failures = Vec::new();
    for (name, blocks) in &files {
        let started = Instant::now();
        match run_blocks(dir.path(), &base, &session, name, blocks) {
            Ok(()) => eprintln!(
                "{name}: {} runnable blocks passed in {:?}",
                blocks.len(),
                started.elapsed()
            ),
            Err(failure) => failures.push(failure),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
