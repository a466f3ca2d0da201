//! Who may call an operation (its security requirements and the schemes
//! they name) and until when (deprecation and sunset).

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::constraints::flag;
use super::document::Document;
use super::operations::Pair;
use super::{Diff, Severity};
use crate::spec::OwnedPath;

impl Diff<'_> {
    pub(super) fn security(&mut self, pair: &Pair<'_>) {
        let before = requirements(self.old.root, pair.old_operation);
        let after = requirements(self.new.root, pair.new_operation);
        if before == after {
            return;
        }
        let path = if pair.new_operation.get("security").is_some() {
            pair.path.key("security")
        } else {
            OwnedPath::root().key("security")
        };
        let public = |alternatives: &Alternatives| {
            alternatives.is_empty() || alternatives.iter().any(BTreeSet::is_empty)
        };
        if public(&before) && !public(&after) {
            let message = format!(
                "Authentication now required ({}); anonymous calls are refused.",
                describe(&after)
            );
            self.report("security-added", Severity::Breaking, &path, message);
            return;
        }
        let lost: Vec<&BTreeSet<String>> = before
            .iter()
            .filter(|a| !a.is_empty() && !after.contains(*a))
            .collect();
        if !lost.is_empty() && !public(&after) {
            let message = format!(
                "Security requirement changed from {} to {}; requests authenticated the old way are refused.",
                describe(&before),
                describe(&after)
            );
            self.report("security-changed", Severity::Breaking, &path, message);
            return;
        }
        let message = format!(
            "Security requirement widened from {} to {}; every old way still works.",
            describe(&before),
            describe(&after)
        );
        self.report("security-widened", Severity::NonBreaking, &path, message);
    }

    pub(super) fn security_schemes(&mut self) {
        let (old_document, new_document) = (self.old, self.new);
        let schemes = |root: &Value| -> serde_json::Map<String, Value> {
            root.pointer("/components/securitySchemes")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let (before, after) = (schemes(old_document.root), schemes(new_document.root));
        let path = OwnedPath::root().key("components").key("securitySchemes");
        for (name, old_scheme) in &before {
            let Some(new_scheme) = after.get(name) else {
                let message = format!("Security scheme `{name}` removed.");
                self.report(
                    "security-scheme-removed",
                    Severity::Info,
                    &path.key(name),
                    message,
                );
                continue;
            };
            let old_scheme = old_document.resolve(old_scheme).0;
            let new_scheme = new_document.resolve(new_scheme).0;
            let fold = |v: &Value, key: &str| {
                v.get(key)
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
            };
            for key in ["type", "scheme", "in", "name"] {
                if fold(old_scheme, key) != fold(new_scheme, key) {
                    let message = format!(
                        "Security scheme `{name}`: `{key}` changed from {} to {}; clients send credentials where the server no longer reads them.",
                        fold(old_scheme, key).unwrap_or_else(|| "none".to_owned()),
                        fold(new_scheme, key).unwrap_or_else(|| "none".to_owned()),
                    );
                    self.report(
                        "security-scheme-changed",
                        Severity::Breaking,
                        &path.key(name).key(key),
                        message,
                    );
                }
            }
        }
        for name in after.keys() {
            if !before.contains_key(name) {
                let message = format!("Security scheme `{name}` added.");
                self.report(
                    "security-scheme-added",
                    Severity::Info,
                    &path.key(name),
                    message,
                );
            }
        }
    }

    pub(super) fn deprecation(&mut self, pair: &Pair<'_>) {
        match (
            flag(pair.old_operation, "deprecated"),
            flag(pair.new_operation, "deprecated"),
        ) {
            (false, true) => self.report(
                "operation-deprecated",
                Severity::Info,
                &pair.path.key("deprecated"),
                "Deprecated.",
            ),
            (true, false) => self.report(
                "operation-reactivated",
                Severity::Info,
                &pair.path.key("deprecated"),
                "No longer deprecated.",
            ),
            _ => {}
        }
        let (old_document, new_document) = (self.old, self.new);
        let before = sunset(&old_document, pair.old_operation);
        let after = sunset(&new_document, pair.new_operation);
        let path = pair.path.clone();
        match (before, after) {
            (Some((old_text, old_at)), Some((new_text, new_at))) if new_at < old_at => {
                let message = format!(
                    "Sunset moved earlier, from {old_text} to {new_text}; clients have less time to migrate."
                );
                self.report("sunset-earlier", Severity::Breaking, &path, message);
            }
            (Some((old_text, old_at)), Some((new_text, new_at))) if new_at > old_at => {
                let message = format!("Sunset moved later, from {old_text} to {new_text}.");
                self.report("sunset-later", Severity::NonBreaking, &path, message);
            }
            (None, Some((new_text, _))) => {
                let message = format!("Sunset set to {new_text}.");
                self.report("sunset-added", Severity::Info, &path, message);
            }
            (Some((old_text, _)), None) => {
                let message = format!("Sunset of {old_text} withdrawn.");
                self.report("sunset-removed", Severity::NonBreaking, &path, message);
            }
            _ => {}
        }
    }
}

type Alternatives = BTreeSet<BTreeSet<String>>;

/// The security alternatives of an operation: its own, or the document's.
fn requirements(root: &Value, operation: &Value) -> Alternatives {
    let list = operation.get("security").or_else(|| root.get("security"));
    list.and_then(Value::as_array)
        .map(|alternatives| {
            alternatives
                .iter()
                .map(|alternative| {
                    alternative
                        .as_object()
                        .map(|schemes| schemes.keys().cloned().collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn describe(alternatives: &Alternatives) -> String {
    if alternatives.is_empty() {
        return "none".to_owned();
    }
    alternatives
        .iter()
        .map(|alternative| {
            if alternative.is_empty() {
                "anonymous".to_owned()
            } else {
                alternative
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            }
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// When an operation stops being served: its `x-sunset`, or the fixed value
/// (`x-charter-value`) of a `Sunset` header on its success responses.
fn sunset(document: &Document<'_>, operation: &Value) -> Option<(String, DateTime<Utc>)> {
    if let Some(text) = operation.get("x-sunset").and_then(Value::as_str) {
        return parse_date(text).map(|at| (text.to_owned(), at));
    }
    let responses = operation.get("responses").and_then(Value::as_object)?;
    responses
        .iter()
        .filter(|(code, _)| code.starts_with(['1', '2', '3']))
        .filter_map(|(_, response)| document.resolve(response).0.get("headers")?.as_object())
        .flat_map(|headers| headers.iter())
        .filter(|(name, _)| name.eq_ignore_ascii_case("sunset"))
        .find_map(|(_, header)| {
            let text = document
                .resolve(header)
                .0
                .get("x-charter-value")?
                .as_str()?;
            parse_date(text).map(|at| (text.to_owned(), at))
        })
}

/// An HTTP-date (`Wed, 30 Jun 2027 23:59:59 GMT`), an RFC 3339 moment or a
/// calendar date.
fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc2822(text) {
        return Some(at.with_timezone(&Utc));
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|moment| moment.and_utc())
}
