//! The README and `docs/` agree with the code: every configuration key of
//! `config/default.toml` is named in the configuration reference
//! (`docs/configuration.md`), no link or path leaves the repository, the
//! README links every file of `docs/`, and figures the prose quotes (the
//! product cache's bound, when CORS headers are sent) match what the code does.

use crate::common;

use std::path::{Path, PathBuf};

/// Where the configuration keys are documented.
const CONFIGURATION_REFERENCE: &str = "docs/configuration.md";
/// Where the catalog's caching is documented.
const API_REFERENCE: &str = "docs/api.md";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every Markdown file under docs/, with their text.
fn documents() -> Vec<(PathBuf, String)> {
    common::documentation_files()
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable");
            (path, text)
        })
        .collect()
}

/// The text of `file` (relative to the repository) between `## {heading}`
/// and the next `## `.
fn section(file: &str, heading: &str) -> String {
    let text = std::fs::read_to_string(root().join(file)).expect(file);
    let start = text
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("{file} has no \"## {heading}\""));
    let rest = &text[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |at| at + 3);
    rest[..end].to_owned()
}

#[test]
fn every_configuration_key_is_documented() {
    let defaults = std::fs::read_to_string(root().join("config/default.toml")).unwrap();
    let section_text = section(CONFIGURATION_REFERENCE, "Configuration");
    let mut section = String::new();
    let mut missing = Vec::new();
    for line in defaults.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            if !section_text.contains(&format!("`{section}`")) {
                missing.push(format!("[{section}]"));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if !section_text.contains(&format!("`{key}`"))
            && !section_text.contains(&format!("{section}.{key}"))
        {
            missing.push(format!("{section}.{key}"));
        }
    }
    assert!(
        missing.is_empty(),
        "keys of config/default.toml {CONFIGURATION_REFERENCE}'s \"Configuration\" does not name: {missing:?}"
    );
}

/// Markdown link targets (`](target)`) in `text`.
fn link_targets(text: &str) -> Vec<&str> {
    text.match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &text[at + 2..];
            rest.find(')').map(|end| &rest[..end])
        })
        .collect()
}

#[test]
fn no_link_or_path_leaves_the_repository() {
    let root = root().canonicalize().unwrap();
    let mut problems = Vec::new();
    for (path, text) in documents() {
        let name = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let file = target.split('#').next().unwrap_or_default();
            let resolved = path.parent().unwrap_or(Path::new(".")).join(file);
            match resolved.canonicalize() {
                Ok(found) if found.starts_with(&root) => {}
                Ok(found) => problems.push(format!(
                    "{name}: ({target}) is outside the repository: {}",
                    found.display()
                )),
                Err(_) => problems.push(format!("{name}: ({target}) does not exist")),
            }
        }
        // A path written as code that climbs out of the clone names a file
        // a reader of the repository does not have.
        for (at, _) in text.match_indices("`../") {
            let line = text[..at].lines().count() + 1;
            problems.push(format!("{name}:{line}: a path outside the repository"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_quoted_cache_bounds_are_the_codes() {
    use bazaar::catalog::cache::{
        CACHE_TTL, LISTING_CACHE_BYTES_MAX, LISTING_CACHE_ENTRIES_MAX, PRODUCT_CACHE_BYTES_MAX,
        PRODUCT_CACHE_ENTRIES_MAX,
    };
    let quoted = format!(
        "(products ≤ {} entries and {} MiB, lists ≤ {} entries and {} MiB, each entry ≤ {} s old)",
        PRODUCT_CACHE_ENTRIES_MAX,
        PRODUCT_CACHE_BYTES_MAX >> 20,
        LISTING_CACHE_ENTRIES_MAX,
        LISTING_CACHE_BYTES_MAX >> 20,
        CACHE_TTL.as_secs()
    );
    let reference = std::fs::read_to_string(root().join(API_REFERENCE))
        .unwrap()
        .replace('\n', " ");
    assert!(
        reference.contains(&quoted),
        "{API_REFERENCE}'s caching paragraph says \"{quoted}\""
    );
}

#[test]
fn every_mention_of_cors_being_off_names_the_setting_that_turns_it_on() {
    let mut problems = Vec::new();
    for (path, text) in documents() {
        for paragraph in text.split("\n\n") {
            if paragraph.contains("CORS is off") && !paragraph.contains("cors_allowed_origins") {
                problems.push(format!("{}: {paragraph}", path.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_readme_states_the_prerequisites_the_build_needs() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("Cargo.toml's rust-version")
        .trim_matches('"');
    let commands = section("README.md", "The two commands");
    for needed in [
        format!("Rust {version} or newer"),
        "libpq".to_owned(),
        "a C compiler".to_owned(),
        "cargo install --path .".to_owned(),
    ] {
        assert!(
            commands.contains(&needed),
            "\"The two commands\" states {needed:?}"
        );
    }
}

#[test]
fn the_readme_links_every_file_of_docs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let targets = link_targets(&readme);
    let mut unlinked = Vec::new();
    for (path, _) in documents().into_iter().skip(1) {
        let name = format!("docs/{}", path.file_name().unwrap().to_string_lossy());
        if !targets
            .iter()
            .any(|target| target.split('#').next() == Some(name.as_str()))
        {
            unlinked.push(name);
        }
    }
    assert!(
        unlinked.is_empty(),
        "files of docs/ the README does not link: {unlinked:?}"
    );
}
