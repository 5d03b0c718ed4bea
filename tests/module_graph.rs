//! The library's top-level modules (`src/<name>.rs` and `src/<name>/`) import each other
//! without a circle, directly or through a chain: a change that closes one fails here, naming it.
//!
//! The graph is read from the sources: every `crate::<module>` path outside comments and test
//! code is an edge (a name the crate root re-exports counts as the module it comes from). Test
//! code (`#[cfg(test)]` modules, test-only modules) is left out: tests drive the code under test
//! through the public API, which is not a dependency of that code.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Lines of `code` without comments, up to the first `#[cfg(test)]` module (tests come last).
fn production_lines(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut test_attr = false;
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if line.starts_with("#[cfg(") && line.contains("test") {
            test_attr = true;
            continue;
        }
        if test_attr && (line.starts_with("mod ") || line.starts_with("pub mod ")) {
            break;
        }
        if !line.starts_with("#[") {
            test_attr = false;
        }
        out.push(line.to_string());
    }
    out
}

/// The top-level modules declared in lib.rs, without the test-only ones.
fn modules() -> BTreeSet<String> {
    let lib = fs::read_to_string(src().join("lib.rs")).unwrap();
    let mut out = BTreeSet::new();
    let mut test_only = false;
    for line in lib.lines().map(str::trim) {
        if line.starts_with("#[cfg(") {
            test_only = line.contains("test");
            continue;
        }
        let decl = line.strip_prefix("pub ").unwrap_or(line);
        let decl = decl.strip_prefix("pub(crate) ").unwrap_or(decl);
        if let Some(name) = decl.strip_prefix("mod ").and_then(|d| d.strip_suffix(';')) {
            if !test_only {
                out.insert(name.to_string());
            }
        }
        test_only = false;
    }
    out
}

/// What each name re-exported by lib.rs (`pub use m::{A, B}`) comes from.
fn reexports() -> BTreeMap<String, String> {
    let lib = fs::read_to_string(src().join("lib.rs")).unwrap();
    let mut out = BTreeMap::new();
    for line in lib.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("pub use ").and_then(|r| r.strip_suffix(';')) else { continue };
        let (module, items) = rest.split_once("::").expect("pub use <module>::...");
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.split(" as ").last().unwrap().rsplit("::").next().unwrap().trim();
            out.insert(name.to_string(), module.to_string());
        }
    }
    out
}

/// The first path segment of every `crate::` path in `code`, group imports included.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut item) = (0, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            out.insert(ident(item.trim()));
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|s| !s.is_empty() && s != "self");
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn graph() -> Graph {
    let modules = modules();
    let reexports = reexports();
    let mut g = Graph::new();
    for m in &modules {
        // A module is `src/<m>.rs`, `src/<m>/`, or both (`src/<m>.rs` with child modules in
        // `src/<m>/`). Files named `*_tests.rs` are test-only modules.
        let mut files = Vec::new();
        let dir = src().join(m);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        let file = src().join(format!("{m}.rs"));
        if file.is_file() {
            files.push(file);
        }
        files.retain(|f| !f.file_stem().is_some_and(|s| s.to_string_lossy().ends_with("_tests")));
        let mut deps = BTreeSet::new();
        for f in files {
            let code = production_lines(&fs::read_to_string(&f).unwrap()).join("\n");
            for name in crate_refs(&code) {
                let target = match reexports.get(&name) {
                    _ if modules.contains(&name) => name,
                    Some(module) => module.clone(),
                    None => panic!("{}: crate::{name} is neither a module nor re-exported by lib.rs", f.display()),
                };
                if &target != m {
                    deps.insert(target);
                }
            }
        }
        g.insert(m.clone(), deps);
    }
    g
}

/// A circle in `g`, as the list of modules along it, if there is one.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(g: &Graph, m: &str, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for d in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(g, d, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys().find_map(|m| visit(g, m, &mut Vec::new(), &mut done))
}

fn show(g: &Graph) -> String {
    g.iter().map(|(m, d)| format!("{m} -> {}\n", d.iter().cloned().collect::<Vec<_>>().join(", "))).collect()
}

#[test]
fn top_level_modules_import_each_other_without_a_circle() {
    let g = graph();
    if let Some(cycle) = find_cycle(&g) {
        panic!("import circle: {}\n\nthe module graph:\n{}", cycle.join(" -> "), show(&g));
    }
    println!("{}", show(&g));
}

#[test]
fn the_reader_sees_every_kind_of_import() {
    let code = "use crate::a::b;\nuse crate::{c::d, e::{f, g}, h};\nlet x = crate::i::j(); $crate::k; my_crate::l";
    let found: Vec<String> = crate_refs(code).into_iter().collect();
    assert_eq!(found, ["a", "c", "e", "h", "i"]);
    let lines = production_lines("use crate::a; // crate::b\n#[cfg(test)]\nmod tests {\n use crate::c;\n}");
    assert_eq!(crate_refs(&lines.join("\n")).into_iter().collect::<Vec<_>>(), ["a"]);
}

#[test]
fn a_circle_is_found() {
    let mut g = Graph::new();
    g.insert("a".into(), ["b".to_string()].into());
    g.insert("b".into(), ["c".to_string()].into());
    g.insert("c".into(), ["a".to_string()].into());
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    g.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&g), None);
}
