//! Contract governance from the command line (`charter openapi ...`): the
//! compatibility of two documents, the release gate over `openapi/` and
//! its released baselines, the changelog since a release, and the bundle
//! an API portal publishes. The judging is `charter_codegen::compat`'s;
//! this module reads the files and writes the reports.

mod accepted;
pub mod bundle;
mod history;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use charter_codegen::compat::{self, Format};
use serde_json::Value;

/// What a command found, as its exit status says it: 0 for compatible (or
/// done), 1 for breaking (or a failed gate), 2 for input it could not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Compatible,
    Breaking,
}

/// A spec that could not be read or is not an OpenAPI 3.0 document.
#[derive(Debug)]
pub struct Unreadable(pub String);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreadable {}

/// Reads and checks one OpenAPI 3.0 document (YAML or JSON).
pub fn read(path: &Path) -> Result<Value, Unreadable> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| Unreadable(format!("{}: {e}", path.display())))?;
    parse(&source, &path.display().to_string())
}

fn parse(source: &str, name: &str) -> Result<Value, Unreadable> {
    charter_codegen::load(source).map_err(|e| Unreadable(format!("{name}: {e}")))
}

/// `charter openapi diff OLD NEW`: every change, and whether one breaks.
pub fn diff(old: &Path, new: &Path, format: Format) -> Result<(String, Outcome), Unreadable> {
    let changes = compat::diff(&read(old)?, &read(new)?);
    let outcome = if compat::is_breaking(&changes) {
        Outcome::Breaking
    } else {
        Outcome::Compatible
    };
    Ok((compat::render(&changes, format), outcome))
}

/// One API version in a specs directory: `DIR/vN.yaml`, its released
/// baseline `DIR/released/vN.yaml` once it has been released, and the
/// breaking changes that release accepts, `DIR/released/vN.accepted.yaml`
/// (optional).
#[derive(Debug, Clone)]
pub struct Version {
    pub name: String,
    pub current: PathBuf,
    pub released: Option<PathBuf>,
    /// Where the record of accepted changes is, whether or not it exists.
    pub accepted: PathBuf,
}

/// The versions of a specs directory, in name order.
pub fn versions(specs: &Path) -> Result<Vec<Version>, Unreadable> {
    let entries =
        std::fs::read_dir(specs).map_err(|e| Unreadable(format!("{}: {e}", specs.display())))?;
    let mut versions = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Unreadable(format!("{}: {e}", specs.display())))?
            .path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".yaml"))
        else {
            continue;
        };
        if !name.starts_with('v') || !name[1..].chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let released = specs.join("released").join(format!("{name}.yaml"));
        versions.push(Version {
            name: name.to_owned(),
            accepted: accepted::beside(&released),
            released: released.is_file().then_some(released),
            current: path.clone(),
        });
    }
    versions.sort_by(|a, b| a.name.cmp(&b.name));
    if versions.is_empty() {
        return Err(Unreadable(format!(
            "{}: no vN.yaml documents",
            specs.display()
        )));
    }
    Ok(versions)
}

/// A released version is frozen when every operation of its baseline is
/// deprecated: it only waits for its sunset.
fn frozen(released: &Value) -> bool {
    let operations: Vec<&Value> = released
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
        .filter(|operation| operation.get("responses").is_some())
        .collect();
    !operations.is_empty()
        && operations
            .iter()
            .all(|operation| operation.get("deprecated") == Some(&Value::Bool(true)))
}

/// `charter openapi gate`: each released version against its baseline,
/// and every move of each baseline in the repository's history.
pub fn gate(specs: &Path) -> Result<(String, Outcome), Unreadable> {
    let mut out = String::new();
    let mut outcome = Outcome::Compatible;
    for version in versions(specs)? {
        let accepted = accepted::read(&version.accepted)?;
        let Some(released_path) = &version.released else {
            let _ = writeln!(
                out,
                "{}: not released yet (no {}); nothing to hold it to",
                version.name,
                specs
                    .join("released")
                    .join(format!("{}.yaml", version.name))
                    .display()
            );
            // A record without a baseline excuses nothing; left in place it
            // would excuse a break of the first release's baseline later.
            if !accepted.is_empty() {
                let _ = writeln!(
                    out,
                    "  FAIL accepted: {} accepts changes of a version never released; remove it",
                    version.accepted.display()
                );
                outcome = Outcome::Breaking;
            }
            continue;
        };
        let released = read(released_path)?;
        let current = read(&version.current)?;
        let is_frozen = frozen(&released);
        let report = compat::gate(&released, &current, is_frozen, &accepted);
        let state = if is_frozen { "frozen" } else { "released" };
        let accepted_count = match report.accepted.len() {
            0 => String::new(),
            n => format!(", {n} breaking change(s) accepted"),
        };
        let _ = writeln!(
            out,
            "{} ({state} {}, now {}): {} change(s) since the release{accepted_count}",
            version.name,
            report.released_version,
            report.current_version,
            report.changes.len(),
        );
        for compat::AcceptedChange { change, reason } in &report.accepted {
            let _ = writeln!(
                out,
                "  ACCEPTED {} ({}) at {}\n    reason: {}",
                change.message, change.rule, change.path, reason
            );
        }
        for failure in &report.failures {
            let _ = writeln!(out, "  FAIL {failure}");
        }
        if !report.passed() {
            outcome = Outcome::Breaking;
        }
        for failure in history::baseline_moves(released_path)? {
            let _ = writeln!(out, "  FAIL {failure}");
            outcome = Outcome::Breaking;
        }
    }
    let _ = writeln!(
        out,
        "{}",
        match outcome {
            Outcome::Compatible => "gate: passed",
            Outcome::Breaking => "gate: FAILED",
        }
    );
    Ok((out, outcome))
}

/// The changelog of one version: Markdown of the changes since its
/// released baseline, accepted ones with their reasons (or a note that it
/// has no baseline).
pub fn changelog(version: &Version) -> Result<String, Unreadable> {
    let current = read(&version.current)?;
    let title = current
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or(&version.name)
        .to_owned();
    let to = text_at(&current, "/info/version");
    let Some(released_path) = &version.released else {
        return Ok(format!(
            "# {title}: changes\n\n{to} has not been released; there is no baseline to compare with.\n"
        ));
    };
    let released = read(released_path)?;
    // The gate's own judgement, so the changelog calls accepted exactly
    // what the gate lets through.
    let accepted = accepted::read(&version.accepted)?;
    let report = compat::gate(&released, &current, frozen(&released), &accepted);
    Ok(compat::changelog(
        &title,
        &report.released_version,
        &to,
        &report.changes,
        &report.accepted,
    ))
}

fn text_at(document: &Value, pointer: &str) -> String {
    document
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_version_whose_operations_are_all_deprecated_is_frozen() {
        let all = json!({"paths": {"/a": {"get": {"deprecated": true, "responses": {}}, "parameters": []}}});
        let some = json!({"paths": {"/a": {"get": {"deprecated": true, "responses": {}}, "post": {"responses": {}}}}});
        let none = json!({"paths": {}});
        assert!(frozen(&all));
        assert!(!frozen(&some));
        assert!(!frozen(&none));
    }
}
