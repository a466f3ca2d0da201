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

fn check(version: &str, spec: &str, tests: &str, generated: &[charter::runtime::OperationInfo]) {
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
        "operations of {version} without a contract test in tests/contract_{version}.rs: {missing:?}"
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
    check(
        "v1",
        charter::api::V1_YAML,
        include_str!("contract_v1.rs"),
        charter::api::v1::OPERATIONS,
    );
}

#[test]
fn every_v2_operation_has_a_contract_test() {
    check(
        "v2",
        charter::api::V2_YAML,
        include_str!("contract_v2.rs"),
        charter::api::v2::OPERATIONS,
    );
}

#[test]
fn request_schemas_compile() {
    charter::api::check_schemas().expect("every request schema compiles");
}
