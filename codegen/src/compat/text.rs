//! Changes that only document: descriptions, summaries, titles and
//! examples, found by walking both documents side by side.

use serde_json::Value;

use super::{Change, Severity};
use crate::spec::OwnedPath;

/// Keys whose values document a node without changing the contract.
pub(super) fn is_text_key(key: &str) -> bool {
    matches!(
        key,
        "description" | "summary" | "title" | "example" | "examples" | "externalDocs"
    )
}

/// Whether the object under `key` maps names to nodes (`properties`,
/// `paths`, `responses`, ...): its keys are names, never keywords, so a
/// property called `description` is a property.
pub(super) fn holds_names(key: &str) -> bool {
    matches!(
        key,
        "properties"
            | "paths"
            | "schemas"
            | "responses"
            | "headers"
            | "content"
            | "securitySchemes"
            | "parameters"
            | "requestBodies"
            | "links"
            | "callbacks"
            | "mapping"
            | "variables"
            | "encoding"
    )
}

/// Appends a change for every text that differs between `old` and `new`.
pub(super) fn changes(old: &Value, new: &Value, out: &mut Vec<Change>) {
    walk(old, new, &OwnedPath::root(), false, out);
}

fn walk(old: &Value, new: &Value, path: &OwnedPath, names: bool, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(before), Value::Object(after)) => {
            for (key, new_value) in after {
                let at = path.key(key);
                let old_value = before.get(key);
                if !names && is_text_key(key) {
                    if old_value != Some(new_value) {
                        out.push(text_change(key, &at, old_value.is_none()));
                    }
                    continue;
                }
                if let Some(old_value) = old_value {
                    walk(old_value, new_value, &at, !names && holds_names(key), out);
                }
            }
            for key in before.keys() {
                if !names && is_text_key(key) && !after.contains_key(key) {
                    out.push(Change {
                        rule: "text-removed",
                        severity: Severity::Info,
                        path: path.key(key).0,
                        operation: None,
                        message: format!("`{key}` removed."),
                    });
                }
            }
        }
        (Value::Array(before), Value::Array(after)) => {
            for (index, new_item) in after.iter().enumerate() {
                // Parameters are matched by name and location, so that a
                // reordering reports nothing.
                let old_item = match parameter_key(new_item) {
                    Some(key) => before.iter().find(|item| parameter_key(item) == Some(key)),
                    None => before.get(index),
                };
                if let Some(old_item) = old_item {
                    walk(old_item, new_item, &path.index(index), false, out);
                }
            }
        }
        _ => {}
    }
}

fn parameter_key(value: &Value) -> Option<(&str, &str)> {
    Some((value.get("name")?.as_str()?, value.get("in")?.as_str()?))
}

fn text_change(key: &str, path: &OwnedPath, added: bool) -> Change {
    let (rule, message) = match (key, added) {
        ("example" | "examples", _) => ("example-changed", "Example changed.".to_owned()),
        (_, true) => ("text-added", format!("`{key}` added.")),
        (_, false) => ("text-changed", format!("`{key}` changed.")),
    };
    Change {
        rule,
        severity: Severity::Info,
        path: path.0.clone(),
        operation: None,
        message,
    }
}
