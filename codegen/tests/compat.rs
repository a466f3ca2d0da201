//! The compatibility checker against a labelled corpus of document pairs
//! (`tests/compat/*.yaml`): every change each pair holds, with its rule,
//! severity and (where given) JSON path, and nothing else.

use std::collections::BTreeSet;
use std::path::Path;

use charter_codegen::compat::{self, Change, RULES};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Case {
    name: String,
    old: Value,
    new: Value,
    /// `rule severity [path]`.
    expect: Vec<String>,
}

struct Labelled {
    file: String,
    case: Case,
}

fn corpus() -> Vec<Labelled> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read corpus file");
        let cases: Vec<Case> =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for case in cases {
            out.push(Labelled {
                file: file
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                case,
            });
        }
    }
    out
}

/// A fragment (`paths`, `components`, `security`) as a whole document.
fn document(fragment: &Value) -> Value {
    let mut document = json!({
        "openapi": "3.0.3",
        "info": {"title": "Corpus", "version": "1.0.0"},
    });
    if let (Some(target), Some(source)) = (document.as_object_mut(), fragment.as_object()) {
        for (key, value) in source {
            target.insert(key.clone(), value.clone());
        }
    }
    document
}

fn matches(expected: &str, change: &Change) -> bool {
    let mut words = expected.splitn(3, ' ');
    let rule = words.next().unwrap_or_default();
    let severity = words.next().unwrap_or_default();
    let path = words.next();
    change.rule == rule
        && change.severity.label() == severity
        && path.is_none_or(|path| path == change.path)
}

/// What is wrong with the changes found for one case, if anything.
fn check(case: &Case, changes: &[Change]) -> Option<String> {
    let mut unmatched: Vec<&Change> = changes.iter().collect();
    let mut missing = Vec::new();
    for expected in &case.expect {
        match unmatched
            .iter()
            .position(|change| matches(expected, change))
        {
            Some(index) => {
                unmatched.remove(index);
            }
            None => missing.push(expected.as_str()),
        }
    }
    if missing.is_empty() && unmatched.is_empty() {
        return None;
    }
    let found: Vec<String> = changes
        .iter()
        .map(|c| {
            format!(
                "{} {} {}  ({})",
                c.rule,
                c.severity.label(),
                c.path,
                c.message
            )
        })
        .collect();
    Some(format!(
        "missing: {missing:?}\n  found:\n    {}",
        found.join("\n    ")
    ))
}

#[test]
fn every_labelled_pair_reports_exactly_its_changes() {
    let mut failures = Vec::new();
    for Labelled { file, case } in corpus() {
        let changes = compat::diff(&document(&case.old), &document(&case.new));
        if let Some(problem) = check(&case, &changes) {
            failures.push(format!("{file}: {}:\n  {problem}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_document_compared_with_itself_reports_nothing() {
    for Labelled { case, .. } in corpus() {
        for side in [&case.old, &case.new] {
            let changes = compat::diff(&document(side), &document(side));
            assert!(changes.is_empty(), "{}: {changes:?}", case.name);
        }
    }
}

#[test]
fn the_corpus_is_labelled_and_exercises_every_rule() {
    let corpus = corpus();
    assert!(corpus.len() >= 40, "only {} labelled pairs", corpus.len());
    let names: BTreeSet<&str> = corpus.iter().map(|l| l.case.name.as_str()).collect();
    assert_eq!(names.len(), corpus.len(), "case names are unique");
    let exercised: BTreeSet<&str> = corpus
        .iter()
        .flat_map(|l| l.case.expect.iter())
        .filter_map(|e| e.split(' ').next())
        .collect();
    let unknown: Vec<&&str> = exercised.iter().filter(|r| !RULES.contains(r)).collect();
    assert!(unknown.is_empty(), "labels name unknown rules: {unknown:?}");
    let missing: Vec<&&str> = RULES.iter().filter(|r| !exercised.contains(**r)).collect();
    assert!(missing.is_empty(), "rules no pair exercises: {missing:?}");
}
