//! Generates each document of the corpus, with its mock, from the directory
//! `CHARTER_OPENAPI_CORPUS` names (`.ci/run` installs the documents there:
//! they are not copied into this repository). Without it nothing is
//! generated and the tests say so; with it, a document that is missing or
//! that the generator refuses fails the build.

use std::path::PathBuf;

/// The documents, by file name without `.yaml`; `tests/corpus.rs` names
/// the same.
const DOCUMENTS: &[&str] = &[
    "petstore",
    "petstore-expanded",
    "uspto",
    "link-example",
    "callbacks",
    "star-trek",
];

fn main() {
    println!("cargo::rerun-if-env-changed=CHARTER_OPENAPI_CORPUS");
    println!("cargo::rustc-check-cfg=cfg(corpus)");
    let Some(dir) = std::env::var_os("CHARTER_OPENAPI_CORPUS") else {
        return;
    };
    // Relative to where cargo was run, not to this crate: made absolute.
    let dir = std::fs::canonicalize(PathBuf::from(&dir))
        .unwrap_or_else(|e| panic!("CHARTER_OPENAPI_CORPUS={}: {e}", dir.display()));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for name in DOCUMENTS {
        let path = dir.join(format!("{name}.yaml"));
        println!("cargo::rerun-if-changed={}", path.display());
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("CHARTER_OPENAPI_CORPUS: {}: {e}", path.display()));
        let settings = charter_codegen::Settings::new("::charter_runtime", &format!("{name}.yaml"))
            .with_mock();
        let (code, warnings) = charter_codegen::generate_with_warnings(&source, &settings)
            .unwrap_or_else(|e| panic!("{name}.yaml: {e}"));
        std::fs::write(out.join(format!("{}.rs", name.replace('-', "_"))), code)
            .expect("write the generated code");
        let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        std::fs::write(
            out.join(format!("{}.warnings", name.replace('-', "_"))),
            warnings.join("\n"),
        )
        .expect("write the warnings");
    }
    println!("cargo::rustc-cfg=corpus");
    println!(
        "cargo::rustc-env=CHARTER_OPENAPI_CORPUS_DIR={}",
        dir.display()
    );
}
