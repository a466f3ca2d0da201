//! Every operation of both specs has a contract test, and the generated
//! routers serve exactly the operations the specs declare.

use std::collections::BTreeSet;

fn snake_case(id: &str) -> String {
    let mut out = String::new();
    for (i, c) in id.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn operation_ids(spec: &str) -> BTreeSet<String> {
    let document: openapiv3::OpenAPI = serde_yaml::from_str(spec).expect("spec parses");
    document
        .operations()
        .filter_map(|(_, _, op)| op.operation_id.clone())
        .collect()
}

/// The text of the contract tests of `version`, and where they live: every
/// `.rs` file of `tests/contract_<version>/` when the tests are split into
/// modules, else `tests/contract_<version>.rs`.
fn contract_tests(version: &str) -> (String, String) {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let dir = tests.join(format!("contract_{version}"));
    if !dir.is_dir() {
        let file = format!("tests/contract_{version}.rs");
        let text = std::fs::read_to_string(tests.join(format!("contract_{version}.rs")))
            .unwrap_or_else(|e| panic!("read {file}: {e}"));
        return (text, file);
    }
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    };
    // A file that `main.rs` does not declare is not compiled: its tests
    // would count without running.
    let main = read(&dir.join("main.rs"));
    for path in &files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("file name");
        assert!(
            stem == "main" || main.contains(&format!("mod {stem};")),
            "{} is not a module of tests/contract_{version}/main.rs",
            path.display()
        );
    }
    let text = files
        .iter()
        .map(|path| read(path))
        .collect::<Vec<_>>()
        .join("\n");
    (text, format!("tests/contract_{version}/*.rs"))
}

fn check(version: &str, spec: &str, generated: &[charter::runtime::OperationInfo]) {
    let (tests, location) = contract_tests(version);
    let ids = operation_ids(spec);
    assert!(!ids.is_empty(), "{version} declares no operations");
    // rustfmt may break `contract_test!(name, ...)` over lines.
    let tests: String = tests.chars().filter(|c| !c.is_whitespace()).collect();
    let missing: Vec<_> = ids
        .iter()
        .filter(|id| !tests.contains(&format!("contract_test!({},", snake_case(id))))
        .collect();
    assert!(
        missing.is_empty(),
        "operations of {version} without a contract test in {location}: {missing:?}"
    );
    let routed: BTreeSet<String> = generated
        .iter()
        .map(|op| op.operation_id.to_owned())
        .collect();
    assert_eq!(
        routed, ids,
        "the generated {version} router and the spec disagree"
    );
}

#[test]
fn every_v1_operation_has_a_contract_test() {
    check("v1", charter::api::V1_YAML, charter::api::v1::OPERATIONS);
}

#[test]
fn every_v2_operation_has_a_contract_test() {
    check("v2", charter::api::V2_YAML, charter::api::v2::OPERATIONS);
}

#[test]
fn request_schemas_compile() {
    charter::api::check_schemas().expect("every request schema compiles");
}
