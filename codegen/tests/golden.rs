//! Golden snapshots of the generated code, so a reviewer sees what a spec or
//! generator change does. `UPDATE_GOLDEN=1 cargo test -p charter-codegen`
//! rewrites them.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn settings(source: &str) -> charter_codegen::Settings {
    charter_codegen::Settings::new("crate::runtime", source)
        .replace("Problem", "crate::runtime::Problem")
        .replace("ValidationError", "crate::runtime::Violation")
}

fn check(spec: &Path, name: &str) {
    let source =
        std::fs::read_to_string(spec).unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
    let label = format!(
        "openapi/{}",
        spec.file_name().and_then(|n| n.to_str()).unwrap_or(name)
    );
    let generated = charter_codegen::generate(&source, &settings(&label))
        .unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
    let golden = root().join("tests/golden").join(format!("{name}.rs"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &generated).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    if expected != generated {
        let first = expected
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(generated.lines().count()));
        panic!(
            "{} is out of date (first difference at line {}); rerun with UPDATE_GOLDEN=1 and review the diff",
            golden.display(),
            first + 1
        );
    }
}

#[test]
fn v1_matches_golden() {
    check(&root().join("../openapi/v1.yaml"), "v1");
}

#[test]
fn v2_matches_golden() {
    check(&root().join("../openapi/v2.yaml"), "v2");
}

#[test]
fn edge_schemas_match_golden() {
    check(
        &root().join("tests/specs/edge_schemas.yaml"),
        "edge_schemas",
    );
}

#[test]
fn edge_parameters_match_golden() {
    check(
        &root().join("tests/specs/edge_parameters.yaml"),
        "edge_parameters",
    );
}
