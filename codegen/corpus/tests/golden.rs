//! Golden snapshots of the code generated (with its mock) from two of the
//! public documents, Petstore Expanded and USPTO, so a reviewer sees what a
//! change to the generator does to code it did not write the spec of. The
//! snapshots leave out doc comments, which repeat the documents' prose:
//! the documents themselves are not copied into this repository either.
//! `UPDATE_GOLDEN=1` rewrites them.

#[cfg(not(corpus))]
#[test]
fn the_corpus_is_not_installed() {
    eprintln!("CHARTER_OPENAPI_CORPUS was not set when this crate was built: nothing to compare");
    // Cargo rebuilds the crate when the variable changes, so it cannot be
    // set now without the documents having been generated.
    assert!(
        std::env::var_os("CHARTER_OPENAPI_CORPUS").is_none(),
        "CHARTER_OPENAPI_CORPUS is set but the corpus was not generated"
    );
}

#[cfg(corpus)]
#[test]
fn petstore_expanded_and_uspto_generate_as_snapshotted() {
    let mut stale = Vec::new();
    for (name, generated) in [
        (
            "petstore_expanded",
            include_str!(concat!(env!("OUT_DIR"), "/petstore_expanded.rs")),
        ),
        ("uspto", include_str!(concat!(env!("OUT_DIR"), "/uspto.rs"))),
    ] {
        let snapshot: String = generated
            .lines()
            .filter(|line| !line.trim_start().starts_with("///"))
            .map(|line| format!("{line}\n"))
            .collect();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("golden")
            .join(format!("{name}.rs"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &snapshot).expect("write the snapshot");
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != snapshot {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "generated code differs from {}; review the change and rerun with UPDATE_GOLDEN=1",
        stale.join(", ")
    );
}
