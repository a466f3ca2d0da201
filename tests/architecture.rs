//! The server's layers point one way: each module of `src/` may use only
//! modules below it in [`LAYERS`]. A `crate::` path that reaches up (or a
//! module missing from the table) fails this test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top first. A module may use the modules of every later line; the modules
/// of one line may not use one another.
const LAYERS: &[&[&str]] = &[
    // The command line: subcommands and settings.
    &["cli"],
    // Contract governance over the documents (`charter openapi ...`).
    &["contract"],
    // Transport: routers, the `Api` trait implementations, SSE and WebSocket.
    &["http"],
    // The application state, assembled from the settings.
    &["app"],
    &["config"],
    // Domain, each module above the ones it calls.
    &["users"],
    &["api_keys", "messages"],
    &["channels"],
    // What the domain stores through, and the services it uses.
    &["store"],
    &["principal_cache", "pagination"],
    &["auth"],
    &["events"],
    // Storage and operations below every rule.
    &["write_gate", "group_commit", "ratelimit"],
    &["error"],
    &["health"],
    &["metrics", "telemetry"],
    &["db"],
    // Generated from the contract; sees only the `charter-runtime` crate.
    &["api"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|line| line.contains(&module))
}

/// The top-level module a source file belongs to (`src/http/live/ws.rs` is
/// in `http`); `None` for the crate roots.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

/// The modules `text` names as `crate::<module>`, outside comments.
fn uses(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let code = match line.find("//") {
            Some(comment) => &line[..comment],
            None => line,
        };
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + "crate::".len()..];
            // `charter_runtime::` or `my_crate::` are other paths.
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            // `crate::{a, b::C}` names each of its members.
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .collect(),
                None => vec![rest],
            };
            for name in names {
                let name: String = name
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name.is_empty() {
                    continue;
                }
                found.push(name);
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every upward or sideways use, as "file: module uses module".
fn violations(files: &BTreeMap<String, (String, String)>) -> Vec<String> {
    let mut found = Vec::new();
    for (file, (module, text)) in files {
        let Some(own) = rank(module) else {
            found.push(format!("{file}: module `{module}` has no place in LAYERS"));
            continue;
        };
        for used in uses(text) {
            if used == *module {
                continue;
            }
            match rank(&used) {
                Some(theirs) if theirs > own => {}
                Some(_) => found.push(format!(
                    "{file}: `{module}` uses `crate::{used}`, which is not below it"
                )),
                None => found.push(format!(
                    "{file}: `crate::{used}` names a module with no place in LAYERS"
                )),
            }
        }
    }
    found
}

#[test]
fn layers_only_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: BTreeMap<String, (String, String)> = paths
        .iter()
        .filter_map(|path| {
            let module = module_of(&src, path)?;
            let text = std::fs::read_to_string(path).expect("read source");
            Some((path.display().to_string(), (module, text)))
        })
        .collect();
    assert!(files.len() > 20, "found only {} source files", files.len());
    let found = violations(&files);
    assert!(found.is_empty(), "layers point up:\n{}", found.join("\n"));
}

#[test]
fn an_upward_or_unplaced_use_is_reported() {
    let case = |module: &str, text: &str| {
        let files = BTreeMap::from([("src/x.rs".to_owned(), (module.to_owned(), text.to_owned()))]);
        violations(&files)
    };
    assert_eq!(case("channels", "use crate::http::live;").len(), 1);
    assert_eq!(
        case("channels", "use crate::messages::MessageRow;").len(),
        1
    );
    assert_eq!(case("api_keys", "use crate::messages::PostQueue;").len(), 1);
    assert_eq!(case("events", "use crate::db::on_db;").len(), 0);
    // Nothing is named from the crate root: it sits above every module.
    assert_eq!(case("events", "crate::on_db!(db, p => p)").len(), 1);
    assert_eq!(
        case("store", "// see crate::users\nuse crate::db::Db;").len(),
        0
    );
    assert_eq!(case("nowhere", "use crate::db::Db;").len(), 1);
    assert_eq!(case("http", "use crate::elsewhere::Thing;").len(), 1);
    assert_eq!(case("http", "use charter_runtime::Problem;").len(), 0);
    assert_eq!(case("db", "use crate::api::v2::Channel;").len(), 0);
    assert_eq!(case("api", "use crate::db::Db;").len(), 1);
    assert_eq!(case("users", "use crate::{db::Db, http};").len(), 1);
    assert_eq!(
        case("users", "use crate::{channels, messages::MessageKey};").len(),
        0
    );
}
