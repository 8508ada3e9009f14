//! The crate's modules import one way: no circle of imports between file
//! modules, and the HTTP edge never reaches into a domain.
//!
//! A circle makes every module in it a part of all the others: none can be
//! read, tested or moved alone. The check reads `src/` as text, so it needs
//! no build of the crate and no parser dependency; it is rough on purpose
//! (comments and string literals are blanked, macros are read as code).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// What a module under `src/http/` may import besides `http` itself: the
/// edge speaks the web's vocabulary and the shared plumbing, never a domain
/// (orders, payouts, sellers…), so that domains depend on it and not the
/// other way round.
const HTTP_MAY_IMPORT: &[&str] = &["db", "error", "money", "config", "telemetry"];

/// One `crate::`/`super::`/`self::` path found in a file, resolved to the
/// deepest file module it names.
struct Edge {
    from: String,
    to: String,
    file: PathBuf,
    line: usize,
}

#[test]
fn file_modules_import_without_circles() {
    let graph = ModuleGraph::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let circles = graph.circles();
    assert!(
        circles.is_empty(),
        "{} import circle(s) between modules; move the shared item into a module below both:\n\n{}",
        circles.len(),
        circles.join("\n\n")
    );
}

#[test]
fn the_http_edge_imports_no_domain() {
    let graph = ModuleGraph::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let reaching: Vec<String> = graph
        .edges
        .iter()
        .filter(|edge| top_level(&edge.from) == "http")
        .filter(|edge| {
            let target = top_level(&edge.to);
            target != "http" && !HTTP_MAY_IMPORT.contains(&target)
        })
        .map(|edge| edge.describe())
        .collect();
    assert!(
        reaching.is_empty(),
        "src/http/ may import only {HTTP_MAY_IMPORT:?}; it reaches into:\n{}",
        reaching.join("\n")
    );
}

/// The checker itself: a circle written in the shapes the crate uses must be
/// found, and the shapes Rust expects between parent and child must not.
#[test]
fn the_checker_finds_a_planted_circle_and_ignores_parents() {
    let root = tempfile::tempdir().expect("temporary folder");
    let src = root.path();
    let write = |path: &str, text: &str| {
        let path = src.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n");
    write(
        "a/mod.rs",
        "pub mod inner;\npub use self::inner::Thing;\n// crate::c::nothing in a comment\n",
    );
    write(
        "a/inner.rs",
        "use super::Thing as _;\npub struct Thing;\nfn f() { crate::b::{g, h}(); }\n\
         const S: &str = \"crate::c::in_a_string\";\n\
         #[cfg(test)]\nmod tests {\n    use super::super::Thing;\n}\n",
    );
    write("b.rs", "use crate::{c::Other, money};\npub fn g() {}\n");
    write(
        "c.rs",
        "pub struct Other;\nfn k() { let _ = crate::a::inner::Thing; }\n",
    );

    let graph = ModuleGraph::read(src.to_path_buf());
    let pairs: BTreeSet<(String, String)> = graph
        .edges
        .iter()
        .map(|edge| (edge.from.clone(), edge.to.clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = [("a::inner", "b"), ("b", "c"), ("c", "a::inner")]
        .into_iter()
        .map(|(from, to)| (from.to_owned(), to.to_owned()))
        .collect();
    assert_eq!(pairs, expected);
    let circles = graph.circles();
    assert_eq!(circles.len(), 1, "{circles:?}");
    assert!(
        circles[0].starts_with("a::inner -> b -> c -> a::inner"),
        "{}",
        circles[0]
    );
}

struct ModuleGraph {
    edges: Vec<Edge>,
}

impl ModuleGraph {
    fn read(src: PathBuf) -> Self {
        let mut files = Vec::new();
        collect_rust_files(&src, &mut files);
        let modules: BTreeMap<String, PathBuf> = files
            .iter()
            .filter_map(|file| module_of(&src, file).map(|module| (module, file.clone())))
            .collect();
        let known: BTreeSet<String> = modules.keys().cloned().collect();
        let mut edges = Vec::new();
        for (module, file) in &modules {
            let text = std::fs::read_to_string(file).expect("readable source");
            let code = blank_comments_and_strings(&text);
            for found in paths_in(&code) {
                let scope = inline_scope(module, &found.inline_modules);
                let Some(absolute) = absolute_path(&scope, &found.segments) else {
                    continue;
                };
                let target = deepest_file_module(&absolute, &known);
                if is_same_line_of_descent(module, &target) {
                    continue;
                }
                edges.push(Edge {
                    from: module.clone(),
                    to: target,
                    file: file.strip_prefix(&src).unwrap_or(file).to_path_buf(),
                    line: found.line,
                });
            }
        }
        ModuleGraph { edges }
    }

    /// Every strongly connected group of more than one module, each written
    /// as one circle through it followed by every edge inside the group.
    fn circles(&self) -> Vec<String> {
        let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for edge in &self.edges {
            next.entry(&edge.from).or_default().insert(&edge.to);
            next.entry(&edge.to).or_default();
        }
        let mut report = Vec::new();
        for group in strongly_connected(&next) {
            if group.len() < 2 {
                continue;
            }
            let start = group.iter().next().copied().unwrap();
            let circle = shortest_circle(start, &group, &next);
            let mut text = circle.join(" -> ");
            let mut inside: Vec<String> = self
                .edges
                .iter()
                .filter(|edge| group.contains(edge.from.as_str()))
                .filter(|edge| group.contains(edge.to.as_str()))
                .map(|edge| format!("  {}", edge.describe()))
                .collect();
            inside.dedup();
            text.push('\n');
            text.push_str(&inside.join("\n"));
            report.push(text);
        }
        report
    }
}

impl Edge {
    fn describe(&self) -> String {
        format!(
            "{} -> {} ({}:{})",
            self.from,
            self.to,
            Path::new("src").join(&self.file).display(),
            self.line
        )
    }
}

fn collect_rust_files(folder: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .expect("readable source folder")
        .map(|entry| entry.expect("readable entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_rust_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// `src/lib.rs` is the root (`""`); `src/a.rs` and `src/a/mod.rs` are `a`;
/// `src/a/b.rs` is `a::b`. `src/main.rs` is another crate and `src/bin/`
/// other crates again, so neither is a module of this one.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|first| first == "bin") || parts == ["main.rs"] {
        return None;
    }
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if stem != "mod" && !(parts.is_empty() && stem == "lib") {
        parts.push(stem.to_owned());
    }
    Some(parts.join("::"))
}

fn top_level(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

fn segments_of(module: &str) -> Vec<String> {
    if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_owned).collect()
    }
}

fn inline_scope(module: &str, inline_modules: &[String]) -> Vec<String> {
    let mut scope = segments_of(module);
    scope.extend(inline_modules.iter().cloned());
    scope
}

/// `crate::…` from the root, `super::…` from the parent of `scope`,
/// `self::…` from `scope`; `None` for a `super` above the root.
fn absolute_path(scope: &[String], segments: &[String]) -> Option<Vec<String>> {
    let mut segments = segments.iter().peekable();
    let mut base: Vec<String> = match segments.next()?.as_str() {
        "crate" => Vec::new(),
        "self" => scope.to_vec(),
        "super" => {
            let mut parent = scope.to_vec();
            parent.pop()?;
            parent
        }
        _ => return None,
    };
    while segments.peek().is_some_and(|segment| *segment == "super") {
        segments.next();
        base.pop()?;
    }
    base.extend(segments.filter(|segment| *segment != "self").cloned());
    Some(base)
}

fn deepest_file_module(path: &[String], known: &BTreeSet<String>) -> String {
    (0..=path.len())
        .rev()
        .map(|length| path[..length].join("::"))
        .find(|candidate| known.contains(candidate))
        .unwrap_or_default()
}

/// A parent declares and re-exports its children and a child uses its
/// parent's items: that is the shape of every Rust module tree, not a circle.
fn is_same_line_of_descent(a: &str, b: &str) -> bool {
    let within = |outer: &str, inner: &str| {
        outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}::"))
    };
    within(a, b) || within(b, a)
}

/// The text with comments and the insides of string and character literals
/// replaced by spaces, newlines kept, so line numbers stay true.
fn blank_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let previous_is_ident = i > 0 && is_ident_char(chars[i - 1]);
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if !previous_is_ident
            && (c == 'r' || (c == 'b' && next == Some('r')))
            && raw_string_hashes(&chars, i).is_some()
        {
            let (hashes, opening_quote) = raw_string_hashes(&chars, i).unwrap();
            for _ in i..=opening_quote {
                out.push(' ');
            }
            i = opening_quote + 1;
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while i < chars.len() && !chars[i..].starts_with(&closing) {
                out.push(blank(chars[i]));
                i += 1;
            }
            for _ in 0..closing.len().min(chars.len() - i) {
                out.push(' ');
            }
            i += closing.len();
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    out.push(' ');
                    i += 1;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}') is blanked; a
            // lifetime ('a) is left alone.
            let end = if next == Some('\\') {
                (i + 3..chars.len().min(i + 12)).find(|&j| chars[j] == '\'')
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    for _ in i..=end {
                        out.push(' ');
                    }
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// For `r"`, `r#"`, `br##"`…: the number of `#` and the index of the quote.
fn raw_string_hashes(chars: &[char], start: usize) -> Option<(usize, usize)> {
    let mut i = start + if chars[start] == 'b' { 2 } else { 1 };
    let mut hashes = 0;
    while chars.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    (chars.get(i) == Some(&'"')).then_some((hashes, i))
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A path as written, with the inline `mod name { … }` blocks it sits in.
struct FoundPath {
    segments: Vec<String>,
    inline_modules: Vec<String>,
    line: usize,
}

/// Every path that starts with `crate::`, `super::` or `self::`, with
/// `use` groups (`crate::a::{b, c::d}`) expanded into one path each.
fn paths_in(code: &str) -> Vec<FoundPath> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut depth = 0usize;
    // (name, brace depth inside the block) for each open inline module.
    let mut inline_modules: Vec<(String, usize)> = Vec::new();
    let mut pending_module: Option<String> = None;
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        if c == '{' {
            depth += 1;
            if let Some(name) = pending_module.take() {
                inline_modules.push((name, depth));
            }
            i += 1;
            continue;
        }
        if c == '}' {
            if inline_modules
                .last()
                .is_some_and(|(_, open)| *open == depth)
            {
                inline_modules.pop();
            }
            depth = depth.saturating_sub(1);
            i += 1;
            continue;
        }
        if c == ';' {
            pending_module = None;
            i += 1;
            continue;
        }
        if !is_ident_char(c) || (i > 0 && (is_ident_char(chars[i - 1]) || chars[i - 1] == '$')) {
            i += 1;
            continue;
        }
        let word_end = (i..chars.len())
            .find(|&j| !is_ident_char(chars[j]))
            .unwrap_or(chars.len());
        let word: String = chars[i..word_end].iter().collect();
        if word == "mod" {
            let name_start = skip_spaces(&chars, word_end);
            let name_end = (name_start..chars.len())
                .find(|&j| !is_ident_char(chars[j]))
                .unwrap_or(chars.len());
            if name_end > name_start {
                pending_module = Some(chars[name_start..name_end].iter().collect());
            }
            i = word_end;
            continue;
        }
        let starts_path = matches!(word.as_str(), "crate" | "super" | "self")
            && chars.get(word_end) == Some(&':')
            && chars.get(word_end + 1) == Some(&':');
        let after_visibility_in = {
            let before: String = chars[i.saturating_sub(4)..i].iter().collect();
            before.trim_end().ends_with("(in")
        };
        if !starts_path || after_visibility_in {
            i = word_end;
            continue;
        }
        let scope: Vec<String> = inline_modules
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        let mut paths = Vec::new();
        let end = read_path(&chars, i, Vec::new(), &mut paths);
        for segments in paths {
            found.push(FoundPath {
                segments,
                inline_modules: scope.clone(),
                line,
            });
        }
        line += chars[i..end].iter().filter(|&&c| c == '\n').count();
        i = end;
    }
    found
}

fn skip_spaces(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

/// Reads `a::b::{c, d::{e}}` from `start`, pushing each full path onto
/// `paths`; returns the index just past what it read.
fn read_path(
    chars: &[char],
    start: usize,
    prefix: Vec<String>,
    paths: &mut Vec<Vec<String>>,
) -> usize {
    let mut segments = prefix;
    let mut i = skip_spaces(chars, start);
    loop {
        if chars.get(i) == Some(&'{') {
            i += 1;
            loop {
                i = skip_spaces(chars, i);
                match chars.get(i) {
                    None => return i,
                    Some('}') => return i + 1,
                    Some(',') => i += 1,
                    Some(c) if is_ident_char(*c) || *c == '*' => {
                        i = read_path(chars, i, segments.clone(), paths);
                    }
                    Some(_) => i += 1,
                }
            }
        }
        if chars.get(i) == Some(&'*') {
            paths.push(segments);
            return i + 1;
        }
        let end = (i..chars.len())
            .find(|&j| !is_ident_char(chars[j]))
            .unwrap_or(chars.len());
        if end == i {
            paths.push(segments);
            return i;
        }
        segments.push(chars[i..end].iter().collect());
        i = end;
        let after = skip_spaces(chars, i);
        if chars.get(after) == Some(&':') && chars.get(after + 1) == Some(&':') {
            i = skip_spaces(chars, after + 2);
        } else {
            // `as name` renames the last segment; it names nothing new.
            paths.push(segments);
            return i;
        }
    }
}

/// Tarjan's algorithm, iterative so deep graphs cannot overflow the stack.
fn strongly_connected<'a>(next: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<BTreeSet<&'a str>> {
    let mut index_of: BTreeMap<&str, usize> = BTreeMap::new();
    let mut low: BTreeMap<&str, usize> = BTreeMap::new();
    let mut on_stack: BTreeSet<&str> = BTreeSet::new();
    let mut stack: Vec<&str> = Vec::new();
    let mut groups = Vec::new();
    let mut counter = 0;
    for &root in next.keys() {
        if index_of.contains_key(root) {
            continue;
        }
        let mut work: Vec<(&str, Vec<&str>)> = Vec::new();
        index_of.insert(root, counter);
        low.insert(root, counter);
        counter += 1;
        stack.push(root);
        on_stack.insert(root);
        work.push((root, next[root].iter().copied().collect()));
        while let Some((node, pending)) = work.last_mut() {
            let node = *node;
            if let Some(child) = pending.pop() {
                if !index_of.contains_key(child) {
                    index_of.insert(child, counter);
                    low.insert(child, counter);
                    counter += 1;
                    stack.push(child);
                    on_stack.insert(child);
                    work.push((child, next[child].iter().copied().collect()));
                } else if on_stack.contains(child) {
                    let lowest = low[node].min(index_of[child]);
                    low.insert(node, lowest);
                }
                continue;
            }
            work.pop();
            if let Some((parent, _)) = work.last() {
                let lowest = low[parent].min(low[node]);
                low.insert(parent, lowest);
            }
            if low[node] == index_of[node] {
                let mut group = BTreeSet::new();
                while let Some(member) = stack.pop() {
                    on_stack.remove(member);
                    group.insert(member);
                    if member == node {
                        break;
                    }
                }
                groups.push(group);
            }
        }
    }
    groups
}

/// A shortest path from `start` back to itself inside `group`.
fn shortest_circle<'a>(
    start: &'a str,
    group: &BTreeSet<&'a str>,
    next: &BTreeMap<&'a str, BTreeSet<&'a str>>,
) -> Vec<&'a str> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &child in &next[node] {
            if !group.contains(child) {
                continue;
            }
            if child == start {
                let mut circle = vec![start];
                let mut at = node;
                while at != start {
                    circle.push(at);
                    at = came_from[at];
                }
                circle.push(start);
                circle.reverse();
                return circle;
            }
            if child != start && !came_from.contains_key(child) {
                came_from.insert(child, node);
                queue.push_back(child);
            }
        }
    }
    vec![start]
}
