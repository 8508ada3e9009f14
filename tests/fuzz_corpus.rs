//! Replays every committed fuzz corpus file through the property its fuzz target
//! checks (`bazaar::fuzzing`), so `cargo test` on the stable toolchain catches a
//! regression on any input the fuzzers ever kept, without cargo-fuzz.

use std::path::PathBuf;

#[test]
fn every_corpus_file_keeps_its_property() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut broken = Vec::new();
    for (target, property) in bazaar::fuzzing::TARGETS {
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{target} has no seed corpus");
        for file in files {
            let data = std::fs::read(&file).expect("corpus file");
            if std::panic::catch_unwind(|| property(&data)).is_err() {
                broken.push(format!("{target}: {}", file.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "inputs that break their property:\n{}",
        broken.join("\n")
    );
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for (target, _) in bazaar::fuzzing::TARGETS {
        let source = std::fs::read_to_string(root.join(format!("{target}.rs")))
            .unwrap_or_else(|e| panic!("fuzz target {target}: {e}"));
        assert!(
            source.contains(&format!("bazaar::fuzzing::{target}(")),
            "fuzz/fuzz_targets/{target}.rs does not call bazaar::fuzzing::{target}"
        );
    }
}
