//! Tidy checks, run by plain `cargo test` (`#[test] fn tidy`): every Rust file opens with a `//!` module
//! doc, no trailing whitespace, no `#[ignore]` or `#[should_panic]`, every fixture is JSON with a
//! `description`, every top-level module of the mock is named in ARCHITECTURE.md, and the mock's modules
//! import only what ARCHITECTURE.md's invariants allow ([`LAYER_RULES`]).

use std::path::{Path, PathBuf};

/// Runs every check and returns the problems found, one line each.
pub fn problems(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut rust_files = Vec::new();
    for folder in ["mock-server/src", "mock-server/tests", "conformance/src", "conformance/tests", "xtask/src"] {
        collect(&root.join(folder), "rs", &mut rust_files);
    }
    let ignore_attribute = ["#[", "ignore]"].concat();
    let should_panic_attribute = ["#[", "should_panic"].concat();
    for file in &rust_files {
        let Ok(text) = std::fs::read_to_string(file) else {
            problems.push(format!("{}: cannot read", file.display()));
            continue;
        };
        let shown = file.strip_prefix(root).unwrap_or(file).display().to_string();
        if !text.starts_with("//!") {
            problems.push(format!("{shown}: expected a `//!` module doc on the first line"));
        }
        for (number, line) in text.lines().enumerate() {
            if line.ends_with(' ') || line.ends_with('\t') {
                problems.push(format!("{shown}:{}: trailing whitespace", number + 1));
            }
            let trimmed = line.trim_start();
            if trimmed.starts_with(&ignore_attribute) || trimmed.starts_with(&should_panic_attribute) {
                problems.push(format!("{shown}:{}: tests must not be ignored or expect panics", number + 1));
            }
        }
    }
    let mut fixtures = Vec::new();
    collect(&root.join("fixtures"), "json", &mut fixtures);
    for file in &fixtures {
        let shown = file.strip_prefix(root).unwrap_or(file).display().to_string();
        let parsed: Result<serde_json::Value, _> = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(value) if value.get("description").and_then(|d| d.as_str()).is_some_and(|d| !d.trim().is_empty()) => {}
            Ok(_) => problems.push(format!("{shown}: expected a non-empty `description`")),
            Err(error) => problems.push(format!("{shown}: not JSON: {error}")),
        }
    }
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap_or_default();
    if let Ok(entries) = std::fs::read_dir(root.join("mock-server/src")) {
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
            if name.is_empty() || name == "lib" || name == "main" {
                continue;
            }
            let is_module = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
            if is_module && !architecture.contains(&format!("`{name}")) && !architecture.contains(&format!("/{name}")) {
                problems.push(format!("mock-server/src/{name}: module not named in ARCHITECTURE.md"));
            }
        }
    }
    problems.extend(layer_problems(root));
    problems
}

/// What each part of the mock must not use (ARCHITECTURE.md, invariants): the folder or file below
/// `mock-server/src`, and the paths its code (not its comments or `#[cfg(test)]` code) must not name.
pub const LAYER_RULES: &[(&str, &[&str])] = &[
    (
        "domain",
        &[
            "crate::web",
            "crate::uko",
            "crate::control",
            "crate::console",
            "crate::server",
            "crate::store",
            "crate::persistence",
            "crate::config",
            "crate::snapshot",
            "axum::",
            "hyper::",
            "http::",
            "serde_json",
        ],
    ),
    ("web", &["crate::uko", "crate::control", "crate::console"]),
    ("uko", &["crate::control", "crate::console", "crate::persistence"]),
    ("control", &["crate::uko", "crate::console"]),
    ("console", &["crate::uko", "crate::control", "crate::store", "crate::domain"]),
    ("store.rs", &["crate::web", "crate::uko", "crate::control", "crate::console", "axum::"]),
    ("persistence.rs", &["crate::web", "crate::uko", "crate::control", "crate::console", "axum::"]),
    ("fixture.rs", &["crate::web", "crate::uko", "crate::control", "crate::console", "crate::store", "axum::"]),
    ("snapshot", &["crate::web", "crate::uko", "crate::control", "crate::console", "crate::store", "crate::server"]),
];

/// Every use of a path a part must not name, as `file:line: ...`.
fn layer_problems(root: &Path) -> Vec<String> {
    let source = root.join("mock-server/src");
    let mut problems = Vec::new();
    for (part, forbidden) in LAYER_RULES {
        let mut files = Vec::new();
        let path = source.join(part);
        if path.is_dir() {
            collect(&path, "rs", &mut files);
        } else {
            files.push(path);
        }
        for file in files {
            let shown = file.strip_prefix(root).unwrap_or(&file).display().to_string();
            // Unit tests may use fixtures and JSON to build their inputs; the rules are about shipped code.
            if shown.contains("/tests/") || shown.ends_with("/tests.rs") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&file) else {
                problems.push(format!("{shown}: cannot read"));
                continue;
            };
            problems.extend(forbidden_uses(&shown, &text, forbidden));
        }
    }
    problems
}

/// The lines of `text` before its first `#[cfg(test)]` that name a `forbidden` path outside a comment.
fn forbidden_uses(shown: &str, text: &str, forbidden: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("#[cfg(test)]") {
            break;
        }
        let code = code.split("//").next().unwrap_or("");
        for path in forbidden {
            let named = code.match_indices(path).any(|(at, _)| {
                // `http::` must not match inside `axum::http::` (axum's re-export is already refused as `axum::`).
                at == 0 || !code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
            });
            if named {
                problems.push(format!("{shown}:{}: must not use `{path}` (ARCHITECTURE.md, invariants)", number + 1));
            }
        }
    }
    problems
}

fn collect(folder: &Path, extension: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(folder) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "snapshots" || n == "target") {
                continue;
            }
            collect(&path, extension, out);
        } else if path.extension().is_some_and(|e| e == extension) {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::forbidden_uses;

    #[test]
    fn a_forbidden_import_is_found_and_comments_and_test_code_are_not() {
        let text = "//! Talks about crate::uko in prose.\nuse crate::domain::Error;\nuse crate::uko::wire; // no\nlet x = axum::http::StatusCode::OK;\n#[cfg(test)]\nuse crate::uko::context;\n";
        let problems = forbidden_uses("control/x.rs", text, &["crate::uko", "http::"]);
        assert_eq!(problems, ["control/x.rs:3: must not use `crate::uko` (ARCHITECTURE.md, invariants)"]);
        let problems = forbidden_uses("domain/x.rs", "use http::StatusCode;\n", &["http::"]);
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn tidy() {
        let problems = super::problems(&crate::project_root());
        assert!(problems.is_empty(), "tidy found {} problems:\n{}", problems.len(), problems.join("\n"));
    }
}
