//! The README's run command, as written there, twice in the same folder with
//! the binary the suite already built (`cargo run --release --` stands for
//! it): the first run plays the demo day and serves the storefront, the
//! second serves the marketplace the first one played — both print the
//! storefront's address, answer on it, and stop cleanly when killed. The test
//! command is the one `.ci/run` calls; this checks that the README names it.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::cli::{bazaar_command, Running};

const README: &str = include_str!("../README.md");

/// The shell blocks under the README's "The two commands" heading, in order.
fn two_commands_blocks() -> Vec<Vec<String>> {
    let section = README
        .split("\n## ")
        .find(|s| s.starts_with("The two commands"))
        .expect("the README has a \"## The two commands\" section");
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("```sh") {
            let block: Vec<String> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .map(|l| l.split(" #").next().unwrap_or(l).trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect();
            blocks.push(block);
        }
    }
    blocks
}

/// The run command's arguments after `cargo run --release --`.
fn run_command_args() -> Vec<String> {
    let blocks = two_commands_blocks();
    let first = blocks
        .first()
        .and_then(|b| b.first())
        .expect("a shell block with the run command");
    let args = first
        .strip_prefix("cargo run --release -- ")
        .unwrap_or_else(|| panic!("the run command runs the release binary: {first}"));
    args.split_whitespace().map(str::to_owned).collect()
}

/// Runs the command in `dir` until it has printed the storefront's address
/// and a line `done` accepts; returns what it printed, the address and the
/// running process.
fn run_until(
    dir: &Path,
    args: &[String],
    done: impl Fn(&str) -> bool,
) -> (Vec<String>, String, Running) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut command = bazaar_command(dir, None, &args);
    command
        // The README's address is 127.0.0.1:8080; tests run side by side.
        .env("BAZAAR__SERVER__BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().expect("bazaar starts");
    let stdout = child.stdout.take().unwrap();
    let serving = Running(child);
    let (sender, received) = mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end even once nobody listens: a closed pipe would kill
        // the server (SIGPIPE, or a panic in `println!`) at its next line.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut said: Vec<String> = Vec::new();
    loop {
        let line = received
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| panic!("not done within 300 s: {said:#?}"));
        let finished = done(&line);
        said.push(line);
        let storefront = said
            .iter()
            .find_map(|l| l.strip_prefix("Storefront: "))
            .map(str::to_owned);
        if let (true, Some(url)) = (finished, storefront) {
            return (said, url, serving);
        }
    }
}

fn answers(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::get(url).await.expect("the storefront answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    })
}

#[test]
fn the_readmes_run_command_works_twice_in_the_same_folder() {
    if std::env::var("BAZAAR_TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty()) {
        // The command as written runs on the embedded SQLite default; the
        // PostgreSQL-after-SQLite folder is tests/demo_day.rs's.
        eprintln!("skipped on the PostgreSQL run: the README's command runs on SQLite");
        return;
    }
    let args = run_command_args();
    assert_eq!(
        args,
        ["demo", "--keep-running"],
        "the run command this test knows"
    );
    let dir = tempfile::tempdir().unwrap();

    let (said, storefront, first) = run_until(dir.path(), &args, |line| {
        line.contains("reconciliation: clean (0 differences)")
    });
    assert!(
        !said
            .iter()
            .any(|l| l.starts_with("This folder already holds a played demo")),
        "the first run plays the day: {said:#?}"
    );
    assert!(
        said.iter()
            .any(|l| l.contains("reconciliation: clean (0 differences)")),
        "{said:#?}"
    );
    let (status, page) = answers(&storefront);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<main"), "the storefront page: {page}");
    drop(first);

    let (said, storefront, second) =
        run_until(dir.path(), &args, |line| line.starts_with("Storefront: "));
    assert!(
        said.iter()
            .any(|l| l.starts_with("This folder already holds a played demo (")),
        "the second run serves what the first played: {said:#?}"
    );
    let (status, _) = answers(&format!("{storefront}healthz"));
    assert_eq!(status, 200);
    let (status, page) = answers(&storefront);
    assert_eq!(status, 200, "{page}");
    drop(second);
}

#[test]
fn the_readme_names_the_test_command() {
    let blocks = two_commands_blocks();
    assert!(
        blocks.iter().flatten().any(|line| line == "cargo test"),
        "{blocks:#?}"
    );
    let ci = include_str!("../.ci/run");
    assert!(
        ci.lines().any(|l| l.trim_start().starts_with("cargo test")),
        ".ci/run runs the README's test command"
    );
}
