//! Every problem `code` the server can answer with is documented in
//! `openapi/v2.yaml` (the table in `Problem.code`'s description), and the
//! table names no code the server does not use: clients match on them.

use std::collections::BTreeSet;
use std::path::Path;

/// Calls whose first string argument is a problem code.
const CONSTRUCTORS: &[&str] = &[
    "Problem::new(",
    "bad_request(",
    "conflict(",
    "unprocessable(",
    "on_unique_violation(",
    "on_foreign_key_violation(",
];

/// Files mapping statuses to codes as `("CODE", "detail")` tuples.
const STATUS_TABLES: &[&str] = &["runtime/src/problem.rs", "src/http/listener.rs"];

fn is_code(text: &str) -> bool {
    text.len() > 3
        && text.starts_with(|c: char| c.is_ascii_uppercase())
        && text
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn first_literal(text: &str) -> Option<&str> {
    let start = text.find('"')? + 1;
    let end = start + text[start..].find('"')?;
    Some(&text[start..end])
}

fn codes_in(text: &str, tuples: bool) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for constructor in CONSTRUCTORS {
        for (at, _) in text.match_indices(constructor) {
            let call = &text[at + constructor.len()..];
            let call = &call[..call.len().min(160)];
            // The call's own arguments: up to its first `;`.
            let call = call.split(';').next().unwrap_or_default();
            if let Some(code) = first_literal(call).filter(|c| is_code(c)) {
                found.insert(code.to_owned());
            }
        }
    }
    if tuples {
        // `StatusCode::X => ("CODE", "detail")`, on one line or several.
        for arm in ["=> (", "=> {"] {
            for (at, _) in text.match_indices(arm) {
                if let Some(code) = first_literal(&text[at..]).filter(|c| is_code(c)) {
                    found.insert(code.to_owned());
                }
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn used_codes() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("runtime/src"), &mut files);
    let mut codes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        let relative = file.strip_prefix(root).expect("inside the repository");
        let tuples = STATUS_TABLES.iter().any(|t| relative == Path::new(t));
        codes.extend(codes_in(&text, tuples));
    }
    codes
}

fn documented_codes() -> BTreeSet<String> {
    let spec: serde_json::Value =
        serde_yaml::from_str(charter::api::V2_YAML).expect("the v2 document");
    let table = spec
        .pointer("/components/schemas/Problem/properties/code/description")
        .and_then(|d| d.as_str())
        .expect("Problem.code has a description");
    table
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect()
}

/// Codes of the runtime's readers for form, multipart and text request
/// bodies. Charter's documents take JSON bodies only, so no Charter request
/// can meet them ([`charter_bodies_are_json_only`] holds that true).
const OTHER_BODIES: &[&str] = &["MALFORMED_FORM", "MALFORMED_MULTIPART", "MALFORMED_TEXT"];

#[test]
fn charter_bodies_are_json_only() {
    for document in [charter::api::V1_YAML, charter::api::V2_YAML] {
        let spec: serde_json::Value = serde_yaml::from_str(document).expect("the document");
        let mut media = BTreeSet::new();
        for item in spec["paths"].as_object().expect("paths").values() {
            for operation in item.as_object().expect("path item").values() {
                if let Some(content) = operation
                    .pointer("/requestBody/content")
                    .and_then(|c| c.as_object())
                {
                    media.extend(content.keys().cloned());
                }
            }
        }
        assert_eq!(media, BTreeSet::from(["application/json".to_owned()]));
    }
}

#[test]
fn every_problem_code_is_documented_and_every_documented_code_is_used() {
    let mut used = used_codes();
    for code in OTHER_BODIES {
        assert!(used.remove(*code), "{code} is no longer used; drop it here");
    }
    let documented = documented_codes();
    assert!(used.len() > 20, "found only {used:?}");
    let undocumented: Vec<&String> = used.difference(&documented).collect();
    let unused: Vec<&String> = documented.difference(&used).collect();
    assert!(
        undocumented.is_empty() && unused.is_empty(),
        "codes the server uses but the spec does not document: {undocumented:?}; \
         codes the spec documents but the server does not use: {unused:?}"
    );
}

#[test]
fn the_scan_finds_codes_in_each_form() {
    let text = r#"
        Problem::new(StatusCode::FORBIDDEN, "ORIGIN_NOT_ALLOWED")
        Problem::bad_request(
            "INVALID_CURSOR",
            "detail",
        )
        .on_foreign_key_violation("USER_NOT_FOUND", "No user has this id.")?;
        Problem::new(status, code).with_detail("Not a CODE");
    "#;
    let found = codes_in(text, false);
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["INVALID_CURSOR", "ORIGIN_NOT_ALLOWED", "USER_NOT_FOUND"]
    );
    assert!(
        codes_in(
            r#"StatusCode::URI_TOO_LONG => ("URI_TOO_LONG", "x"),"#,
            true
        )
        .contains("URI_TOO_LONG")
    );
}
