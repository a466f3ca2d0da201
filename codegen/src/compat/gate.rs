//! The release gate: a released version's current document against its
//! released baseline. A frozen version may change only in descriptions and
//! examples; any other version may not break its clients; `info.version`
//! follows semver against the baseline either way.

use serde_json::Value;

use super::document::strip_text;
use super::{Change, Severity, diff};
use crate::spec::OwnedPath;

/// What the gate found for one version.
#[derive(Debug, Clone)]
pub struct GateReport {
    pub released_version: String,
    pub current_version: String,
    /// Every change since the release.
    pub changes: Vec<Change>,
    /// Why the gate fails; empty when it passes.
    pub failures: Vec<String>,
}

impl GateReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The least `info.version` bump a set of changes needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Bump {
    None,
    Patch,
    Minor,
    Major,
}

fn is_text(change: &Change) -> bool {
    matches!(
        change.rule,
        "text-added" | "text-changed" | "text-removed" | "example-changed"
    )
}

/// Checks `current` against the `released` baseline of its version.
pub fn gate(released: &Value, current: &Value, frozen: bool) -> GateReport {
    let changes = diff(released, current);
    let mut failures = Vec::new();
    let contract_differs = contract(released) != contract(current);
    let contract_changes: Vec<&Change> = changes.iter().filter(|c| !is_text(c)).collect();

    if frozen && contract_differs {
        for change in &contract_changes {
            failures.push(format!(
                "frozen: {} ({}) at {}",
                change.message, change.rule, change.path
            ));
        }
        if contract_changes.is_empty() {
            for path in differences(&contract(released), &contract(current), OwnedPath::root())
                .into_iter()
                .take(20)
            {
                failures.push(format!(
                    "frozen: the document differs from its release at {path}; only descriptions and examples may change"
                ));
            }
        }
    } else if !frozen {
        for change in changes.iter().filter(|c| c.severity == Severity::Breaking) {
            failures.push(format!(
                "breaking: {} ({}) at {}",
                change.message, change.rule, change.path
            ));
        }
    }

    let needed = if changes.iter().any(|c| c.severity == Severity::Breaking) {
        Bump::Major
    } else if !contract_changes.is_empty() || contract_differs {
        Bump::Minor
    } else if !changes.is_empty() {
        Bump::Patch
    } else {
        Bump::None
    };
    let released_version = version_text(released);
    let current_version = version_text(current);
    if let Some(failure) = check_version(&released_version, &current_version, needed) {
        failures.push(failure);
    }
    GateReport {
        released_version,
        current_version,
        changes,
        failures,
    }
}

fn version_text(document: &Value) -> String {
    document
        .pointer("/info/version")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// `MAJOR.MINOR.PATCH`, with any pre-release or build suffix ignored.
fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(str::parse::<u64>);
    let version = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    );
    parts.next().is_none().then_some(version)
}

fn check_version(released: &str, current: &str, needed: Bump) -> Option<String> {
    let (Some(before), Some(after)) = (parse_version(released), parse_version(current)) else {
        return Some(format!(
            "info.version: `{current}` (released `{released}`) is not MAJOR.MINOR.PATCH"
        ));
    };
    if after.0 != before.0 {
        return Some(format!(
            "info.version: {current} changes the major version of {released}; a new major version is a new document and path (`/api/v3`), not an edit of this one"
        ));
    }
    if after < before {
        return Some(format!(
            "info.version: {current} is older than the released {released}"
        ));
    }
    let made = if after.1 > before.1 {
        Bump::Minor
    } else if after.2 > before.2 {
        Bump::Patch
    } else {
        Bump::None
    };
    match needed {
        Bump::Major => Some(format!(
            "info.version: breaking changes since {released} cannot be released as {current}; declare a new version path instead"
        )),
        Bump::None if made != Bump::None => Some(format!(
            "info.version: {current} is ahead of the released {released} but nothing changed"
        )),
        _ if made < needed => Some(format!(
            "info.version: the changes since {released} need a {} release; {current} is not one",
            match needed {
                Bump::Minor => "minor",
                _ => "patch",
            }
        )),
        _ => None,
    }
}

/// The document as a client's code sees it: no text, no `info.version`.
fn contract(document: &Value) -> Value {
    let mut stripped = strip_text(document);
    if let Some(info) = stripped.get_mut("info").and_then(Value::as_object_mut) {
        info.remove("version");
    }
    stripped
}

/// The JSON paths where two values differ, outermost first.
fn differences(old: &Value, new: &Value, path: OwnedPath) -> Vec<String> {
    match (old, new) {
        (Value::Object(before), Value::Object(after)) => {
            let mut out = Vec::new();
            for (key, value) in before {
                match after.get(key) {
                    Some(other) => out.extend(differences(value, other, path.key(key))),
                    None => out.push(path.key(key).0),
                }
            }
            for key in after.keys().filter(|k| !before.contains_key(*k)) {
                out.push(path.key(key).0);
            }
            out
        }
        (Value::Array(before), Value::Array(after)) if before.len() == after.len() => before
            .iter()
            .zip(after)
            .enumerate()
            .flat_map(|(i, (a, b))| differences(a, b, path.index(i)))
            .collect(),
        _ if old == new => Vec::new(),
        _ => vec![path.0],
    }
}
