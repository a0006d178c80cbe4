//! Tidy checks, run by plain `cargo test` (`#[test] fn tidy`): every Rust file opens with a `//!` module
//! doc, no trailing whitespace, no `#[ignore]` or `#[should_panic]`, every fixture is JSON with a
//! `description`, and every top-level module of the mock is named in ARCHITECTURE.md.

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
    #[test]
    fn tidy() {
        let problems = super::problems(&crate::project_root());
        assert!(problems.is_empty(), "tidy found {} problems:\n{}", problems.len(), problems.join("\n"));
    }
}
