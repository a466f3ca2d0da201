//! The release gate: a released version's current document against its
//! released baseline. A frozen version may change only in descriptions and
//! examples; any other version may not break its clients, except by a
//! change its release accepts with a reason; `info.version` follows semver
//! against the baseline either way.

use serde_json::Value;

use super::document::strip_text;
use super::{Change, RULES, Severity, diff};
use crate::spec::OwnedPath;

/// A breaking change a release accepts, with why no client built on the
/// baseline is affected. The checker judges shapes, not who receives them:
/// a response variant sent only to clients that ask for it is breaking to
/// the checker, harmless to everyone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The rule of the change (`response-variant-added`).
    pub rule: String,
    /// The change's JSON path, exactly as the gate prints it.
    pub at: String,
    /// Why clients built on the baseline are unaffected.
    pub reason: String,
}

impl Accepted {
    /// Whether this entry accepts `change`: a breaking change of its rule at
    /// its path. An entry without a reason accepts nothing, so that nothing
    /// is let through unexplained.
    pub fn accepts(&self, change: &Change) -> bool {
        change.severity == Severity::Breaking
            && change.rule == self.rule
            && change.path == self.at
            && !self.reason.trim().is_empty()
    }
}

/// A breaking change the gate let through, and the reason it was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedChange {
    pub change: Change,
    /// The entry's reason on one line (a YAML block may have folded it), so
    /// that reports and changelog items stay one line each.
    pub reason: String,
}

/// What the gate found for one version.
#[derive(Debug, Clone)]
pub struct GateReport {
    pub released_version: String,
    pub current_version: String,
    /// Every change since the release, accepted ones included.
    pub changes: Vec<Change>,
    /// The breaking changes among `changes` that an [`Accepted`] entry lets
    /// through.
    pub accepted: Vec<AcceptedChange>,
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
///
/// A breaking change that an entry of `accepted` [accepts](Accepted::accepts)
/// does not fail the gate and needs only a minor release. Every entry must
/// accept a change, so that the record cannot outlive what it excuses; a
/// `frozen` version accepts nothing.
pub fn gate(released: &Value, current: &Value, frozen: bool, accepted: &[Accepted]) -> GateReport {
    let changes = diff(released, current);
    let mut failures = Vec::new();
    let mut accepted_changes = Vec::new();
    let contract_differs = contract(released) != contract(current);
    let contract_changes: Vec<&Change> = changes.iter().filter(|c| !is_text(c)).collect();

    if frozen {
        if contract_differs {
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
        }
        for entry in accepted {
            failures.push(format!(
                "frozen: a frozen version accepts no breaking change; remove the accepted entry ({}) at {}",
                entry.rule, entry.at
            ));
        }
    } else {
        failures.extend(entry_failures(accepted, &changes));
        for change in changes.iter().filter(|c| c.severity == Severity::Breaking) {
            match accepted.iter().find(|entry| entry.accepts(change)) {
                Some(entry) => accepted_changes.push(AcceptedChange {
                    change: change.clone(),
                    reason: entry
                        .reason
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                }),
                None => failures.push(format!(
                    "breaking: {} ({}) at {}",
                    change.message, change.rule, change.path
                )),
            }
        }
    }

    let breaking = changes
        .iter()
        .filter(|c| c.severity == Severity::Breaking)
        .count();
    // An accepted break is still a contract change: a minor release, as
    // for any other change a client may see.
    let needed = if breaking > accepted_changes.len() {
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
        accepted: accepted_changes,
        failures,
    }
}

/// Why entries of `accepted` are wrong: without a reason, naming no rule,
/// listed twice, or stale (no breaking change of theirs since the release,
/// as after the baseline has moved to include it).
fn entry_failures(accepted: &[Accepted], changes: &[Change]) -> Vec<String> {
    let mut failures = Vec::new();
    for (index, entry) in accepted.iter().enumerate() {
        let (rule, at) = (&entry.rule, &entry.at);
        if entry.reason.trim().is_empty() {
            failures.push(format!(
                "accepted: the entry ({rule}) at {at} gives no reason; say why no client built on the baseline is affected"
            ));
        }
        if accepted[..index]
            .iter()
            .any(|earlier| earlier.rule == *rule && earlier.at == *at)
        {
            failures.push(format!("accepted: ({rule}) at {at} is listed twice"));
        } else if !RULES.contains(&rule.as_str()) {
            failures.push(format!(
                "accepted: `{rule}` is not a rule of the checker (entry at {at})"
            ));
        } else if !changes
            .iter()
            .any(|c| c.severity == Severity::Breaking && c.rule == rule.as_str() && c.path == *at)
        {
            failures.push(format!(
                "accepted: stale entry: no breaking change ({rule}) at {at} since the release; remove it"
            ));
        }
    }
    failures
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A document whose one operation answers with a `oneOf` of `variants`.
    fn document(version: &str, variants: &[&str]) -> Value {
        let one_of: Vec<Value> = variants
            .iter()
            .map(|v| json!({"$ref": format!("#/components/schemas/{v}")}))
            .collect();
        let schemas: serde_json::Map<String, Value> = variants
            .iter()
            .map(|v| {
                let shape = json!({
                    "type": "object",
                    "required": ["type"],
                    "properties": {"type": {"type": "string", "enum": [*v]}},
                });
                ((*v).to_owned(), shape)
            })
            .collect();
        json!({
            "openapi": "3.0.3",
            "info": {"title": "Events", "version": version},
            "paths": {"/events": {"get": {
                "operationId": "getEvent",
                "responses": {"200": {
                    "description": "An event.",
                    "content": {"application/json": {"schema": {"oneOf": one_of}}},
                }},
            }}},
            "components": {"schemas": schemas},
        })
    }

    const RELEASED: &[&str] = &["created", "deleted"];
    const WITH_UPDATED: &[&str] = &["created", "deleted", "updated"];

    fn entry(rule: &str, at: &str, reason: &str) -> Accepted {
        Accepted {
            rule: rule.to_owned(),
            at: at.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// The variant added, as the gate reports it.
    fn added_variant() -> Accepted {
        let report = run("1.1.0", false, &[]);
        let change = report
            .changes
            .iter()
            .find(|c| c.rule == "response-variant-added")
            .cloned()
            .unwrap_or_else(|| panic!("no variant added in {:?}", report.changes));
        entry(
            change.rule,
            &change.path,
            "sent only to clients that ask for it",
        )
    }

    /// The gate on a release 1.0.0 of `released` variants and a document
    /// `version` of `current` ones.
    fn judge(
        released: &[&str],
        version: &str,
        current: &[&str],
        frozen: bool,
        accepted: &[Accepted],
    ) -> GateReport {
        gate(
            &document("1.0.0", released),
            &document(version, current),
            frozen,
            accepted,
        )
    }

    /// The gate on the `updated` variant added.
    fn run(version: &str, frozen: bool, accepted: &[Accepted]) -> GateReport {
        judge(RELEASED, version, WITH_UPDATED, frozen, accepted)
    }

    fn has(report: &GateReport, text: &str) -> bool {
        report.failures.iter().any(|f| f.contains(text))
    }

    #[test]
    fn a_matching_entry_accepts_the_break_with_its_reason() {
        let accepted = added_variant();
        assert_eq!(
            accepted.at,
            "$.paths['/events'].get.responses.200.content['application/json'].schema.oneOf[2]"
        );
        let report = run("1.1.0", false, std::slice::from_ref(&accepted));
        assert!(report.passed(), "{:?}", report.failures);
        assert_eq!(report.accepted.len(), 1);
        assert_eq!(report.accepted[0].change.rule, "response-variant-added");
        assert_eq!(report.accepted[0].reason, accepted.reason);

        let refused = run("1.1.0", false, &[]);
        assert!(has(&refused, "breaking:"), "{:?}", refused.failures);
        assert!(
            has(&refused, "cannot be released"),
            "{:?}",
            refused.failures
        );
        assert!(refused.accepted.is_empty());
    }

    #[test]
    fn an_entry_matches_on_rule_and_path_exactly() {
        let accepted = added_variant();
        let other_rule = entry("response-variant-removed", &accepted.at, &accepted.reason);
        let other_path = entry(&accepted.rule, "$.paths['/events']", &accepted.reason);
        for wrong in [other_rule, other_path] {
            let report = run("1.1.0", false, std::slice::from_ref(&wrong));
            assert!(
                has(&report, "breaking:"),
                "{wrong:?}: {:?}",
                report.failures
            );
            assert!(
                has(&report, "stale entry"),
                "{wrong:?}: {:?}",
                report.failures
            );
        }
    }

    #[test]
    fn an_accepted_break_needs_a_minor_release() {
        let accepted = [added_variant()];
        let patch = run("1.0.1", false, &accepted);
        assert!(has(&patch, "need a minor release"), "{:?}", patch.failures);
        let same = run("1.0.0", false, &accepted);
        assert!(has(&same, "need a minor release"), "{:?}", same.failures);
        let major = run("2.0.0", false, &accepted);
        assert!(
            has(&major, "changes the major version"),
            "{:?}",
            major.failures
        );
        assert!(run("1.2.0", false, &accepted).passed());
    }

    #[test]
    fn an_entry_without_a_change_is_stale() {
        let accepted = added_variant();
        let unchanged = judge(
            RELEASED,
            "1.0.0",
            RELEASED,
            false,
            std::slice::from_ref(&accepted),
        );
        assert!(has(&unchanged, "stale entry"), "{:?}", unchanged.failures);
        assert!(unchanged.accepted.is_empty());

        // Once the baseline holds the change, the entry excuses nothing.
        let released = judge(WITH_UPDATED, "1.0.0", WITH_UPDATED, false, &[accepted]);
        assert!(has(&released, "stale entry"), "{:?}", released.failures);
    }

    #[test]
    fn an_entry_without_a_reason_accepts_nothing() {
        for reason in ["", "  \n"] {
            let accepted = Accepted {
                reason: reason.to_owned(),
                ..added_variant()
            };
            let report = run("1.1.0", false, &[accepted]);
            assert!(has(&report, "gives no reason"), "{:?}", report.failures);
            assert!(has(&report, "breaking:"), "{:?}", report.failures);
            assert!(report.accepted.is_empty());
        }
    }

    #[test]
    fn unknown_rules_and_repeated_entries_fail() {
        let accepted = added_variant();
        let unknown = entry("variant-added", &accepted.at, "a reason");
        let report = run("1.1.0", false, &[accepted.clone(), unknown]);
        assert!(
            has(&report, "`variant-added` is not a rule"),
            "{:?}",
            report.failures
        );

        let report = run("1.1.0", false, &[accepted.clone(), accepted]);
        assert!(has(&report, "is listed twice"), "{:?}", report.failures);
        assert_eq!(report.accepted.len(), 1);
    }

    #[test]
    fn a_frozen_version_accepts_nothing() {
        let accepted = [added_variant()];
        let report = run("1.1.0", true, &accepted);
        assert!(
            has(&report, "a frozen version accepts no breaking change"),
            "{:?}",
            report.failures
        );
        assert!(has(&report, "frozen: "), "{:?}", report.failures);
        assert!(report.accepted.is_empty());

        let unchanged = judge(RELEASED, "1.0.0", RELEASED, true, &accepted);
        assert_eq!(unchanged.failures.len(), 1, "{:?}", unchanged.failures);
    }

    #[test]
    fn the_changelog_gives_the_reason_of_an_accepted_change() {
        let accepted = Accepted {
            reason: "sent only\n  to clients that ask".to_owned(),
            ..added_variant()
        };
        let report = run("1.1.0", false, &[accepted]);
        let log = crate::compat::changelog(
            "Events",
            &report.released_version,
            &report.current_version,
            &report.changes,
            &report.accepted,
        );
        let line = log
            .lines()
            .find(|l| l.contains("variant #/components/schemas/updated added"))
            .unwrap_or_default();
        assert!(
            line.ends_with("; accepted: sent only to clients that ask"),
            "{log}"
        );
    }
}
