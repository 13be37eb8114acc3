//! The layers hold (ARCHITECTURE.md): imports point one way, entry → app → adapters → domain, and
//! every layer may read `settings`, which reads nothing of the crate; the domain does no I/O of its
//! own; and no modules import each other in a circle. Read from the source, test modules left out
//! (a domain test may build an in-memory adapter).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// What the domain must not name: the process environment, the network, files, AWS, HTTP.
const NOT_IN_THE_DOMAIN: &[&str] = &[
    "std::env",
    "std::net",
    "std::fs",
    "tokio::net",
    "tokio::fs",
    "aws_",
    "axum",
    "hyper",
    "http::",
    "lambda_http",
    "reqwest",
];

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

/// A file's module path from `src/`: `adapters::providers::sns`, `app` (for app/mod.rs), ...
fn module_of(path: &Path) -> String {
    let relative = path.strip_prefix(SRC).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

/// The unit a circle is looked for between: a layer's file or directory module
/// (`domain::gateway`, `adapters::providers`); a directory module and its files are one unit.
fn unit_of(module: &str) -> String {
    module.split("::").take(2).collect::<Vec<_>>().join("::")
}

/// Lower is deeper; `settings` is below everything.
fn layer_of(module: &str) -> Option<u8> {
    match module.split("::").next()? {
        "settings" => Some(0),
        "domain" => Some(1),
        "adapters" => Some(2),
        "app" => Some(3),
        "entry" | "main" => Some(4),
        _ => None,
    }
}

/// The source without its test module (by convention the last item of a file).
fn without_tests(source: &str) -> &str {
    source.find("#[cfg(test)]").map_or(source, |i| &source[..i])
}

/// Every `crate::a::b` a source names, as the unit it belongs to.
fn units_named(source: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for (i, _) in source.match_indices("crate::") {
        let rest = &source[i + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let parts: Vec<&str> = path
            .split("::")
            .take_while(|p| p.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .collect();
        if !parts.is_empty() {
            named.insert(parts.iter().take(2).copied().collect::<Vec<_>>().join("::"));
        }
    }
    named
}

#[test]
fn imports_point_down_and_the_domain_does_no_io() {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    let mut problems = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        let code = without_tests(&source);
        let module = module_of(file);
        if module.is_empty() {
            continue; // lib.rs declares the layers
        }
        // main.rs reaches the library by its name, like any user of it.
        let code = code.replace("mosaic_sms_gateway::", "crate::");
        let layer = layer_of(&module).unwrap_or_else(|| panic!("{module}: in no layer"));
        let unit = unit_of(&module);
        for named in units_named(&code) {
            let Some(named_layer) = layer_of(&named) else {
                continue;
            };
            if named_layer > layer || (layer == 0 && named != unit) {
                problems.push(format!("{module} imports {named}, a layer above it"));
            }
            if named != unit {
                edges.entry(unit.clone()).or_default().insert(named);
            }
        }
        if layer == 1 {
            for forbidden in NOT_IN_THE_DOMAIN {
                if code.contains(forbidden) {
                    problems.push(format!("{module} (domain) names {forbidden}"));
                }
            }
        }
    }
    // No circles: a depth-first walk finds none of its own path again.
    fn walk(
        unit: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        problems: &mut Vec<String>,
    ) {
        if let Some(start) = path.iter().position(|u| u == unit) {
            let mut circle = path[start..].to_vec();
            circle.push(unit.to_owned());
            problems.push(format!("a circle: {}", circle.join(" → ")));
            return;
        }
        if !done.insert(unit.to_owned()) {
            return;
        }
        path.push(unit.to_owned());
        for next in edges.get(unit).into_iter().flatten() {
            walk(next, edges, path, done, problems);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for unit in edges.keys() {
        walk(unit, &edges, &mut Vec::new(), &mut done, &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(edges.len() > 10, "the check read the source: {edges:?}");
}
