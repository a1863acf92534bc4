//! The layering holds, and ARCHITECTURE.md with it: no import cycles
//! between the crate's modules (a module that reaches another through
//! `crate::` paths, in `use` lines or inline, must not be reached back,
//! directly or through others; test modules are left out), and every key
//! prefix of the table is in ARCHITECTURE.md's table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `adapters/sqs.rs` → `adapters::sqs`; `adapters/mod.rs` → `adapters`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> =
        rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    if parts.is_empty() {
        "crate".into()
    } else {
        parts.join("::")
    }
}

/// The source without its test module (by this crate's convention, last).
fn without_tests(source: &str) -> &str {
    source.find("#[cfg(test)]").map_or(source, |at| &source[..at])
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Every path named after `crate::`, with `use crate::{a, b::c}` groups
/// (nested ones too) spread into `a` and `b::c`.
fn crate_paths(source: &str) -> Vec<String> {
    /// Reads the group that `text` starts inside of (after its `{`) and
    /// returns the rest of `text`, after the group's `}`.
    fn group<'a>(mut text: &'a str, prefix: &str, out: &mut Vec<String>) -> &'a str {
        loop {
            let Some(at) = text.find(['{', '}', ',']) else { return "" };
            let item = text[..at].trim();
            let mark = text.as_bytes()[at];
            text = &text[at + 1..];
            match mark {
                b'{' => text = group(text, &format!("{prefix}{item}"), out),
                _ if !item.is_empty() => out.push(format!("{prefix}{item}")),
                _ => {}
            }
            if mark == b'}' {
                return text;
            }
        }
    }
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let path: String = rest.chars().take_while(|c| is_path_char(*c)).collect();
        match rest[path.len()..].strip_prefix('{') {
            Some(inside) if path.is_empty() || path.ends_with("::") => {
                group(inside, &path, &mut out);
            }
            _ if !path.is_empty() => out.push(path),
            _ => {}
        }
    }
    out
}

/// The longest module that `path` starts with.
fn module_named(path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").map(str::trim).collect();
    (1..=parts.len()).rev().map(|n| parts[..n].join("::")).find(|m| modules.contains(m))
}

fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let from = module_of(src, file);
        let source = std::fs::read_to_string(file).unwrap();
        let deps = graph.entry(from.clone()).or_default();
        for path in crate_paths(without_tests(&source)) {
            if let Some(to) = module_named(&path, &modules).filter(|to| *to != from) {
                deps.insert(to);
            }
        }
    }
    graph
}

/// A cycle through `start`, if there is one: the modules in order.
fn cycle_through(graph: &Graph, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == start {
                return Some(path.iter().cloned().chain([start.to_owned()]).collect());
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

fn cycles(graph: &Graph) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut covered = BTreeSet::new();
    for module in graph.keys() {
        if covered.contains(module) {
            continue;
        }
        if let Some(cycle) = cycle_through(graph, module) {
            covered.extend(cycle.iter().cloned());
            found.push(cycle.join(" → "));
        }
    }
    found
}

#[test]
fn modules_import_each_other_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = cycles(&graph(&src));
    assert!(found.is_empty(), "import cycles between modules:\n{}", found.join("\n"));
}

/// What each layer must not import (ARCHITECTURE.md's table): the model
/// and the ports import no outer layer; the services see the ports only,
/// never an adapter; the adapters use no service; the endpoints and workers
/// get their adapters from the composition root, never by name.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("model", &["ports", "adapters", "services", "api", "workers", "compose", "bootstrap"]),
    ("ports", &["adapters", "services", "api", "workers", "compose", "bootstrap"]),
    ("services", &["adapters", "api", "workers", "compose", "bootstrap"]),
    ("adapters", &["services", "api", "workers", "compose", "bootstrap"]),
    ("api", &["adapters"]),
    ("workers", &["adapters"]),
];

fn layer(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

fn violations(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for (from, deps) in graph {
        let Some((_, forbidden)) = FORBIDDEN.iter().find(|(l, _)| *l == layer(from)) else {
            continue;
        };
        for to in deps.iter().filter(|to| forbidden.contains(&layer(to))) {
            found.push(format!("{from} → {to}"));
        }
    }
    found
}

#[test]
fn layers_import_only_what_the_architecture_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&graph(&src));
    assert!(found.is_empty(), "imports across the layering:\n{}", found.join("\n"));
}

#[test]
fn the_check_finds_a_cycle_and_reads_grouped_imports() {
    let paths = crate_paths("use crate::{a::X, b::{c::Y, d}};\nlet x = crate::e::f(1);");
    assert_eq!(paths, ["a::X", "b::c::Y", "b::d", "e::f"]);
    let g: Graph = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")].into_iter().fold(
        Graph::new(),
        |mut g, (from, to)| {
            g.entry(from.into()).or_default().insert(to.into());
            g
        },
    );
    assert_eq!(cycles(&g), ["a → b → c → a"]);
    assert!(cycle_through(&g, "d").is_none());
    let g: Graph = [("services::handoff", "adapters::salesforce"), ("api::x", "services::y")]
        .into_iter()
        .fold(Graph::new(), |mut g, (from, to)| {
            g.entry(from.into()).or_default().insert(to.into());
            g
        });
    assert_eq!(violations(&g), ["services::handoff → adapters::salesforce"]);
}

/// Every key prefix the table's items are written with, as the code has them.
fn key_prefixes(src: &Path) -> BTreeSet<String> {
    let mut prefixes = BTreeSet::new();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let is_store = file.ends_with("adapters/dynamodb.rs");
        for (at, _) in source.match_indices('"') {
            let word: String =
                source[at + 1..].chars().take_while(char::is_ascii_uppercase).collect();
            let after = source[at + 1 + word.len()..].chars().next();
            let before = &source[..at];
            // `format!("CONV#…` in the store; `const KIND: &str = "PDCHANNEL";` in services.
            let formatted = is_store && before.ends_with("format!(") && after == Some('#');
            let kind = before.ends_with(": &str = ") && after == Some('"') && word.len() > 3;
            if !word.is_empty() && (formatted || kind) {
                prefixes.insert(word);
            }
        }
    }
    prefixes
}

#[test]
fn the_architecture_documents_every_key_of_the_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("../ARCHITECTURE.md")).unwrap();
    let prefixes = key_prefixes(&root.join("src"));
    assert!(prefixes.contains("CONV") && prefixes.contains("PDCHANNEL"), "{prefixes:?}");
    let missing: Vec<&String> =
        prefixes.iter().filter(|p| !doc.contains(&format!("`{p}#"))).collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md's table lacks {missing:?}");
}
