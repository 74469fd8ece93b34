//! The layers of `src/`, kept: each file imports (`crate::…`) only from its own layer or the
//! layers below it, and no two top-level modules (files or folders) import each other through
//! any chain. The order is the one `docs/architecture.md` draws; a new top-level module must be
//! placed in it, or this test names it.
//!
//! Only the source text is read (no compiler): comments are skipped, and `crate::NAME` and
//! `use crate::{A, b::C}` are taken apart by hand. Names at the crate root (`crate::Error`,
//! `crate::Context`) count as the module `lib.rs` re-exports them from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// From the ground up. A module may import from its own layer and every layer below it.
const LAYERS: &[&[&str]] = &[
    // plain data: the Credential, the redacting Secret, hosts and URLs; signals and the test
    // helper that writes scripts import nothing of the crate
    &["protocol", "secret", "host", "signals", "test_script"],
    // every setting, git's configuration, the process environment, Paths
    &["settings"],
    // proxy, TLS, the HTTP client; the prompt; the remembered hosts and OAuth answers
    &["net", "prompt", "recognized"],
    // the secret stores, and what guards them (the refresh lock, the rescue file)
    &["store", "lock", "rescue"],
    // a deployment as data; the OAuth flows
    &["bitbucket", "oauth"],
    // what a caller of the library can act on
    &["error"],
    // the pure order of attempts, one request's target, carrying out the steps
    &["decide", "target", "auth"],
    // answering git's get, store and erase: the authenticator built from settings and store
    &["operation"],
    // what a person runs, and the library's ways in
    &["commands", "cli", "configure", "access", "trace"],
    // the public API and the binary
    &["lib", "main"],
];

/// Root names that are not re-exported with `pub use` in `lib.rs` but live in a module of
/// their own once split out; until then they count as that module.
const ROOT_NAMES: &[(&str, &str)] = &[("Error", "error")];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// `src/a.rs` and `src/a/…` are the module `a`; `src/lib.rs` is `lib`.
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(src()).expect("a file under src/");
    let first = relative.components().next().expect("a path").as_os_str().to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The code of a file without its comments (`//…` to the end of the line; the crate has no
/// block comments in code).
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut in_string = false;
        let mut previous = ' ';
        let mut kept = String::new();
        for (i, c) in line.char_indices() {
            if c == '"' && previous != '\\' {
                in_string = !in_string;
            }
            if !in_string && line[i..].starts_with("//") {
                break;
            }
            kept.push(c);
            previous = c;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// The first path segment of every `crate::…` in `code`, with `crate::{…}` groups split.
fn crate_names(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `my_crate::`, not ours
        }
        if let Some(group) = rest.strip_prefix('{') {
            for item in top_level_items(group) {
                let name: String =
                    item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() && name != "self" {
                    names.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// The comma-separated items of a `{…}` group (the text after its `{`), nested groups whole.
fn top_level_items(group: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

/// What `lib.rs` re-exports at the root: `pub use module::{A, B};` (or `pub(crate) use`) → A
/// and B count as `module`.
fn root_reexports() -> BTreeMap<String, String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("src/lib.rs");
    let mut map: BTreeMap<String, String> =
        ROOT_NAMES.iter().map(|(name, module)| (name.to_string(), module.to_string())).collect();
    for line in code(&lib).lines() {
        let line = line.trim();
        let Some(path) = line.strip_prefix("pub use ").or_else(|| line.strip_prefix("pub(crate) use "))
        else {
            continue;
        };
        let path = path.trim_end_matches(';').trim_start_matches("crate::").trim_start_matches("self::");
        let Some((module, items)) = path.split_once("::") else { continue };
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.trim().rsplit("::").next().unwrap_or_default().to_owned();
            let name = name.rsplit(" as ").next().unwrap_or_default().trim().to_owned();
            if !name.is_empty() {
                map.insert(name, module.to_owned());
            }
        }
    }
    map
}

/// Every top-level module and the modules it imports.
fn import_graph() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let modules: BTreeSet<String> = LAYERS.iter().flat_map(|l| l.iter().map(|m| m.to_string())).collect();
    let reexports = root_reexports();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    assert!(files.len() > 20, "src/ was not found at {}", src().display());
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in files {
        let from = module_of(&file);
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        let entry = graph.entry(from.clone()).or_default();
        for name in crate_names(&code(&text)) {
            let to = if modules.contains(&name) {
                name.clone()
            } else {
                reexports.get(&name).cloned().unwrap_or_else(|| "lib".to_owned())
            };
            if to != from {
                let shown = file.strip_prefix(src()).unwrap_or(&file).display().to_string();
                entry.entry(to).or_default().insert(format!("src/{shown} uses crate::{name}"));
            }
        }
    }
    graph
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn every_module_of_src_has_a_layer() {
    let unplaced: Vec<String> = import_graph().into_keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "place these in LAYERS (tests/it/layers.rs) and docs/architecture.md: {unplaced:?}"
    );
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let mut wrong = Vec::new();
    for (from, imports) in import_graph() {
        let Some(here) = layer_of(&from) else { continue };
        for (to, uses) in imports {
            if layer_of(&to).is_some_and(|there| there > here) {
                wrong.extend(uses.into_iter().map(|u| format!("{u} ({from} is below {to})")));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layer order:\n{}", wrong.join("\n"));
}

/// Within a layer imports may go either way; they must still not form a loop.
#[test]
fn no_two_modules_import_each_other() {
    let graph = import_graph();
    let mut cycles = Vec::new();
    for start in graph.keys() {
        // Depth-first from `start`: a path back to it is a cycle.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in graph.get(&at).map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
                if &next == start {
                    cycles.push(format!("{} -> {start}", path.join(" -> ")));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next, longer));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "modules that import each other:\n{}", cycles.join("\n"));
}

#[test]
fn the_reader_finds_grouped_and_plain_imports() {
    let text = "use crate::{Error, store::{self, Account}, host};\nlet x = crate::net::load(); // crate::oauth\nlet s = \"crate::bitbucket\";";
    let names = crate_names(&code(text));
    let expected: BTreeSet<String> = ["Error", "store", "host", "net", "bitbucket"].map(String::from).into();
    // A string literal is code to this reader; only comments are skipped.
    assert_eq!(names, expected);
}
