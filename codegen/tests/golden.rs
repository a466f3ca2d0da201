//! Golden snapshots of the generated code, so a reviewer sees what a spec or
//! generator change does. `UPDATE_GOLDEN=1 cargo test -p charter-codegen`
//! rewrites them. They are generated as the server's build script generates
//! its code.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// As in the server's build.rs.
fn settings(source: &str) -> charter_codegen::Settings {
    charter_codegen::Settings::new("::charter_runtime", source)
        .replace("Problem", "::charter_runtime::Problem")
        .replace("ValidationError", "::charter_runtime::Violation")
}

/// `spec` is relative to the workspace root, as the header names it.
fn check(spec: &str, name: &str) {
    check_with(spec, name, settings(spec));
}

fn check_with(spec: &str, name: &str, settings: charter_codegen::Settings) {
    let path = root().join("..").join(spec);
    let source =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let generated = charter_codegen::generate(&source, &settings)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
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
    check("openapi/v1.yaml", "v1");
}

#[test]
fn v2_matches_golden() {
    check("openapi/v2.yaml", "v2");
}

#[test]
fn edge_schemas_match_golden() {
    check("codegen/tests/specs/edge_schemas.yaml", "edge_schemas");
}

#[test]
fn edge_parameters_match_golden() {
    check(
        "codegen/tests/specs/edge_parameters.yaml",
        "edge_parameters",
    );
}

#[test]
fn edge_bodies_match_golden() {
    check("codegen/tests/specs/edge_bodies.yaml", "edge_bodies");
}

#[test]
fn edge_naming_matches_golden() {
    check("codegen/tests/specs/edge_naming.yaml", "edge_naming");
}

#[test]
fn edge_mock_matches_golden() {
    let spec = "codegen/tests/specs/edge_mock.yaml";
    check_with(spec, "edge_mock", settings(spec).with_mock());
}
