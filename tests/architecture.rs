//! The module graph: no dependency cycle among the crate's top-level
//! modules, so the layers read off the folders (DESIGN §11) stay true.
//! Every `crate::` path counts — `use` lines, grouped imports and inline
//! paths alike; comments do not. And every signal handler the crate
//! installs is announced to the command starter (`engine/spawn.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments (line comments, doc comments, blocks) and
/// without the contents of string literals.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            i = end;
        } else if b[i] == b'"' {
            out.push('"');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            out.push('"');
            i += 1;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules a piece of code names through `crate::`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        // `deploy_session::crate::` cannot occur; skip `$crate::` in macros.
        if code[..at].ends_with('$') {
            continue;
        }
        let rest = code[at + "crate::".len()..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first segment of each item.
            let (mut depth, mut item_start) = (0usize, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        out.insert(ident_at(&group[i..]).to_string());
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                out.insert(name.to_string());
            }
        }
    }
    out
}

/// The graph of the crate rooted at `src`.
fn module_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        let deps = graph.entry(top.clone()).or_default();
        deps.extend(named_modules(&code).into_iter().filter(|m| *m != top));
    }
    graph
}

/// Every cycle's members (strongly connected components of more than one
/// module), by Tarjan's algorithm.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on_stack.insert(v);
        for next in w.graph.get(v).into_iter().flatten() {
            let next = next.as_str();
            if !w.graph.contains_key(next) {
                continue;
            }
            if !w.index.contains_key(next) {
                visit(w, next);
                let low = w.low[v].min(w.low[next]);
                w.low.insert(v, low);
            } else if w.on_stack.contains(next) {
                let low = w.low[v].min(w.index[next]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(m) = w.stack.pop() {
                w.on_stack.remove(m);
                component.push(m.to_string());
                if m == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.found.push(component);
            }
        }
    }
    let mut w = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !w.index.contains_key(v.as_str()) {
            visit(&mut w, v);
        }
    }
    w.found
}

fn render(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(m, deps)| {
            let deps: Vec<&str> = deps
                .iter()
                .filter(|d| graph.contains_key(*d))
                .map(String::as_str)
                .collect();
            format!("{m} -> {}", deps.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_crate_has_no_module_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    assert!(
        graph.len() > 10,
        "the scan found too few modules: {graph:?}"
    );
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "module cycles: {found:?}\nthe graph:\n{}",
        render(&graph)
    );
    if std::env::var_os("DEPLOY_SESSION_SHOW_MODULES").is_some() {
        eprintln!("{}", render(&graph));
    }
}

#[test]
fn a_fixture_with_a_cycle_is_rejected() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/module_cycle/src");
    let graph = module_graph(&src);
    assert_eq!(
        cycles(&graph),
        vec![vec!["a".to_string(), "b".to_string(), "c".to_string()]],
        "{}",
        render(&graph)
    );
}

#[test]
fn every_form_of_path_is_seen_and_comments_are_not() {
    let code = code_only(
        "use crate::alpha::X;\nuse crate::{beta, gamma::{Y, Z}, delta::W};\n\
         fn f() { crate::epsilon::g(); let s = \"crate::zeta\"; }\n\
         // crate::eta in a comment\n/// crate::theta in a doc comment\n/* crate::iota */\n\
         macro_rules! m { () => { $crate::kappa::h() }; }\n",
    );
    let names: Vec<String> = named_modules(&code).into_iter().collect();
    assert_eq!(names, ["alpha", "beta", "delta", "epsilon", "gamma"]);
}

/// What installs a signal handler in our code: a `sigaction` with an
/// action, tokio's `signal`, tokio's process driver (its `SIGCHLD` one).
const HANDLER_INSTALLS: [&str; 3] = ["sigaction(", "signal(SignalKind", "tokio::process::Command"];

/// The files (by name) whose code installs a signal handler without
/// calling `handlers_changed()` after it. `engine/spawn.rs` asks about
/// handlers and resets them in its children; it installs none.
fn unannounced_handlers(files: &[(String, String)]) -> (usize, Vec<&str>) {
    let mut installers = 0;
    let mut unannounced = Vec::new();
    for (name, text) in files {
        if name.ends_with("engine/spawn.rs") {
            continue;
        }
        let code = code_only(text);
        if HANDLER_INSTALLS.iter().any(|i| code.contains(i)) {
            installers += 1;
            if !code.contains("handlers_changed()") {
                unannounced.push(name.as_str());
            }
        }
    }
    (installers, unannounced)
}

/// The command starter keeps which signals have a handler and resets only
/// those in each child before it execs (a handler of ours must never run
/// on the child's borrowed memory): so every file that installs one says
/// so with `signals::handlers_changed()`.
#[test]
fn every_signal_handler_installed_is_announced() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            let name = p.strip_prefix(&src).unwrap().display().to_string();
            (name, std::fs::read_to_string(p).unwrap())
        })
        .collect();
    let (installers, unannounced) = unannounced_handlers(&files);
    assert!(
        installers >= 4,
        "the scan found {installers} installers; signals.rs, lib.rs, engine/mod.rs and demo/mod.rs install handlers"
    );
    assert!(
        unannounced.is_empty(),
        "these install a signal handler without signals::handlers_changed(): {unannounced:?}"
    );
}

#[test]
fn an_unannounced_handler_is_caught_and_a_comment_is_not_one() {
    let files = [
        (
            "quiet.rs".to_string(),
            "fn f() { let _ = signal(SignalKind::hangup()); }".to_string(),
        ),
        (
            "said.rs".to_string(),
            "fn f() { unsafe { sigaction(SIGHUP, &a) }; handlers_changed(); }".to_string(),
        ),
        (
            "talk.rs".to_string(),
            "// sigaction( in a comment\nfn f() { let s = \"tokio::process::Command\"; }"
                .to_string(),
        ),
    ];
    assert_eq!(unannounced_handlers(&files), (2, vec!["quiet.rs"]));
}
