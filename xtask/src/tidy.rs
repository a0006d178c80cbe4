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

/// One top-level module of `mock-server/src` (`NAME.rs` or `NAME/`): the top-level modules it may import
/// (`crate::NAME`), and the outside paths its code must not name.
pub struct Layer {
    pub module: &'static str,
    pub may_import: &'static [&'static str],
    pub must_not_name: &'static [&'static str],
}

/// The layer rules (ARCHITECTURE.md, invariants) as allow-lists: each top-level module of the mock has a row
/// naming every top-level module it may import, so a new dependency is a decision written here, and a new
/// module fails tidy until it has a row. Only shipped code counts (not comments, not `#[cfg(test)]` code).
/// Besides, the imports actually found and these rows themselves must have no cycle ([`import_cycle`]).
pub const LAYER_RULES: &[Layer] = &[
    Layer { module: "domain", may_import: &[], must_not_name: &["axum::", "hyper::", "http::", "serde_json"] },
    Layer { module: "tls", may_import: &[], must_not_name: &[] },
    Layer { module: "fixture", may_import: &["domain"], must_not_name: &["axum::"] },
    Layer { module: "persistence", may_import: &["domain", "fixture"], must_not_name: &["axum::"] },
    Layer { module: "store", may_import: &["domain", "fixture", "persistence"], must_not_name: &["axum::"] },
    Layer { module: "snapshot", may_import: &["domain", "fixture"], must_not_name: &[] },
    Layer { module: "web", may_import: &["domain", "persistence", "store"], must_not_name: &[] },
    Layer { module: "uko", may_import: &["domain", "store", "web"], must_not_name: &[] },
    Layer { module: "control", may_import: &["domain", "fixture", "store", "web"], must_not_name: &[] },
    Layer { module: "console", may_import: &["web"], must_not_name: &[] },
    Layer { module: "config", may_import: &["domain", "persistence", "web"], must_not_name: &[] },
    Layer {
        module: "server",
        may_import: &["console", "control", "domain", "fixture", "persistence", "store", "tls", "uko", "web"],
        must_not_name: &[],
    },
];

/// Every import a module's row does not allow, every top-level module without a row, and any import cycle
/// between top-level modules, as lines.
fn layer_problems(root: &Path) -> Vec<String> {
    let source = root.join("mock-server/src");
    let mut problems = Vec::new();
    let mut found: Graph = Graph::new();
    let modules = top_level_modules(&source);
    for module in &modules {
        if !LAYER_RULES.iter().any(|layer| layer.module == module) {
            problems.push(format!("mock-server/src/{module}: no row in LAYER_RULES (xtask/src/tidy.rs)"));
        }
    }
    for layer in LAYER_RULES {
        let mut files = Vec::new();
        let path = source.join(layer.module);
        if path.is_dir() {
            collect(&path, "rs", &mut files);
        } else {
            files.push(path.with_extension("rs"));
        }
        let imports = found.entry(layer.module.to_owned()).or_default();
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
            problems.extend(forbidden_uses(&shown, &text, layer.must_not_name));
            for (line, module) in crate_imports(&text) {
                if module == layer.module || !modules.contains(&module) {
                    continue;
                }
                if !layer.may_import.contains(&module.as_str()) {
                    problems.push(format!(
                        "{shown}:{line}: `{}` may not import `crate::{module}` (LAYER_RULES; ARCHITECTURE.md, invariants)",
                        layer.module
                    ));
                }
                imports.insert(module);
            }
        }
    }
    if let Some(cycle) = import_cycle(&found) {
        problems.push(format!("import cycle between top-level modules: {}", cycle.join(" → ")));
    }
    let allowed: Graph = LAYER_RULES
        .iter()
        .map(|layer| (layer.module.to_owned(), layer.may_import.iter().map(|m| (*m).to_owned()).collect()))
        .collect();
    if let Some(cycle) = import_cycle(&allowed) {
        problems.push(format!("LAYER_RULES allow an import cycle: {}", cycle.join(" → ")));
    }
    problems
}

/// Module → the top-level modules it imports.
type Graph = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;

/// The top-level modules of the mock's library (`lib.rs` and `main.rs` are the crate roots, not modules).
fn top_level_modules(source: &Path) -> Vec<String> {
    let mut modules = Vec::new();
    for entry in std::fs::read_dir(source).into_iter().flatten().flatten() {
        let path = entry.path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        let is_module = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
        if is_module && name != "lib" && name != "main" {
            modules.push(name.to_owned());
        }
    }
    modules
}

/// The `crate::NAME` paths named in `text`'s code before its first `#[cfg(test)]`, as (line, NAME).
/// A grouped `crate::{…}` import is reported as the module `{`, which no row allows: tidy wants one
/// `use crate::module::…` per module so it can read them.
fn crate_imports(text: &str) -> Vec<(usize, String)> {
    let mut imports = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("#[cfg(test)]") {
            break;
        }
        let code = code.split("//").next().unwrap_or("");
        for (at, _) in code.match_indices("crate::") {
            if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':' || c == '$') {
                continue;
            }
            let rest = &code[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            imports.push((number + 1, if name.is_empty() { rest.chars().take(1).collect() } else { name }));
        }
    }
    imports
}

/// A cycle in `graph` (its modules in order, the first repeated at the end), if there is one.
fn import_cycle(graph: &Graph) -> Option<Vec<String>> {
    // Depth-first search; `path` is the chain being explored, `done` the modules known to reach no cycle.
    fn visit(
        graph: &Graph,
        module: &str,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == module) {
            let mut cycle = path[at..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    graph.keys().find_map(|module| visit(graph, module, &mut Vec::new(), &mut done))
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
    use super::{crate_imports, forbidden_uses, import_cycle, Graph};

    #[test]
    fn a_forbidden_import_is_found_and_comments_and_test_code_are_not() {
        let text = "//! Talks about crate::uko in prose.\nuse crate::domain::Error;\nuse crate::uko::wire; // no\nlet x = axum::http::StatusCode::OK;\n#[cfg(test)]\nuse crate::uko::context;\n";
        let problems = forbidden_uses("control/x.rs", text, &["crate::uko", "http::"]);
        assert_eq!(problems, ["control/x.rs:3: must not use `crate::uko` (ARCHITECTURE.md, invariants)"]);
        let problems = forbidden_uses("domain/x.rs", "use http::StatusCode;\n", &["http::"]);
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn crate_imports_are_read_from_code_only() {
        let text = "//! Uses crate::uko in prose.\nuse crate::server::Limits; // crate::control\nlet id = crate::store::InstanceId::parse(x);\nuse crate::{web, uko};\n#[cfg(test)]\nuse crate::fixture;\n";
        let found: Vec<(usize, String)> = crate_imports(text);
        let expected = [(2, "server"), (3, "store"), (4, "{")];
        assert_eq!(found, expected.map(|(line, module)| (line, module.to_owned())));
    }

    /// The two cycles tidy missed with deny-lists, web::gateway ↔ server and store ↔ persistence, are found.
    #[test]
    fn an_import_cycle_is_found_and_a_layered_graph_passes() {
        let graph = |edges: &[(&str, &str)]| {
            let mut graph = Graph::new();
            for (from, to) in edges {
                graph.entry((*from).to_owned()).or_default().insert((*to).to_owned());
                graph.entry((*to).to_owned()).or_default();
            }
            graph
        };
        let layered = graph(&[("server", "web"), ("web", "store"), ("store", "persistence"), ("server", "store")]);
        assert_eq!(import_cycle(&layered), None);
        let cycle = import_cycle(&graph(&[("server", "web"), ("web", "server"), ("web", "store")]));
        assert_eq!(cycle, Some(["server", "web", "server"].map(str::to_owned).to_vec()));
        let long =
            graph(&[("store", "persistence"), ("persistence", "fixture"), ("fixture", "store"), ("web", "store")]);
        assert_eq!(import_cycle(&long).map(|cycle| cycle.len()), Some(4));
    }

    #[test]
    fn tidy() {
        let problems = super::problems(&crate::project_root());
        assert!(problems.is_empty(), "tidy found {} problems:\n{}", problems.len(), problems.join("\n"));
    }
}
