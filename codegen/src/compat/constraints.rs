//! The keywords of one schema that narrow or widen the values it allows:
//! type, format, pattern, nullable, enum, numeric and length bounds, and
//! whether unlisted properties are allowed.

use serde_json::Value;

use super::Diff;
use super::document::schema_type;
use super::schema::{Effect, Site};

impl Diff<'_> {
    /// Compares the types; returns whether the rest of the schemas can be
    /// compared (not when one type became another).
    pub(super) fn types(&mut self, old: &Value, new: &Value, site: &Site) -> bool {
        let rule = site.rule("request-type-changed", "response-type-changed");
        let (effect, what) = match (schema_type(old), schema_type(new)) {
            (Some(before), Some(after)) if before != after => {
                let effect = match (before, after) {
                    ("integer", "number") => Effect::Loosens,
                    ("number", "integer") => Effect::Tightens,
                    _ => Effect::Alters,
                };
                let what = format!("type changed from `{before}` to `{after}`");
                self.judged(rule, effect, site, &site.at("type"), &what);
                return false;
            }
            (None, Some(after)) => (
                Effect::Tightens,
                format!("now restricted to type `{after}`"),
            ),
            (Some(before), None) => (
                Effect::Loosens,
                format!("no longer restricted to type `{before}`"),
            ),
            _ => return true,
        };
        self.judged(rule, effect, site, &site.at("type"), &what);
        true
    }

    /// A keyword with a value (`format`, `pattern`): adding it tightens,
    /// removing it loosens, changing it allows other values.
    pub(super) fn keyword(
        &mut self,
        key: &str,
        rule: &'static str,
        old: &Value,
        new: &Value,
        site: &Site,
    ) {
        let (effect, what) = match (old.get(key), new.get(key)) {
            (None, None) => return,
            (Some(a), Some(b)) if a == b => return,
            (Some(a), Some(b)) => (Effect::Alters, format!("`{key}` changed from {a} to {b}")),
            (None, Some(b)) => (Effect::Tightens, format!("`{key}` {b} added")),
            (Some(a), None) => (Effect::Loosens, format!("`{key}` {a} removed")),
        };
        self.judged(rule, effect, site, &site.at(key), &what);
    }

    pub(super) fn nullable(&mut self, old: &Value, new: &Value, site: &Site) {
        let (rule, effect, what) = match (flag(old, "nullable"), flag(new, "nullable")) {
            (false, true) => (
                site.rule("request-nullable-added", "response-nullable-added"),
                Effect::Loosens,
                "may now be null",
            ),
            (true, false) => (
                site.rule("request-nullable-removed", "response-nullable-removed"),
                Effect::Tightens,
                "may no longer be null",
            ),
            _ => return,
        };
        self.judged(rule, effect, site, &site.at("nullable"), what);
    }

    /// A boolean that restricts when true (`exclusiveMinimum`, `uniqueItems`).
    pub(super) fn restricting_flag(&mut self, key: &str, old: &Value, new: &Value, site: &Site) {
        let (effect, what) = match (flag(old, key), flag(new, key)) {
            (false, true) => (Effect::Tightens, format!("`{key}` set")),
            (true, false) => (Effect::Loosens, format!("`{key}` unset")),
            _ => return,
        };
        self.constraint(key, effect, site, &what);
    }

    pub(super) fn enumeration(&mut self, old: &Value, new: &Value, site: &Site) {
        let path = site.at("enum");
        let (before, after) = match (list(old, "enum"), list(new, "enum")) {
            (None, None) => return,
            (None, Some(_)) => {
                let rule = site.rule("request-enum-added", "response-enum-added");
                self.judged(
                    rule,
                    Effect::Tightens,
                    site,
                    &path,
                    "now limited to an enumeration",
                );
                return;
            }
            (Some(_), None) => {
                let rule = site.rule("request-enum-removed", "response-enum-removed");
                let what = "no longer limited to an enumeration";
                self.judged(rule, Effect::Loosens, site, &path, what);
                return;
            }
            (Some(before), Some(after)) => (before, after),
        };
        let missing_from = |values: &[Value], others: &[Value]| -> Vec<String> {
            values
                .iter()
                .filter(|v| !others.contains(v))
                .map(Value::to_string)
                .collect()
        };
        let removed = missing_from(before, after);
        if !removed.is_empty() {
            let rule = site.rule("request-enum-value-removed", "response-enum-value-removed");
            let what = format!("enum value {} removed", removed.join(", "));
            self.judged(rule, Effect::Tightens, site, &path, &what);
        }
        let added = missing_from(after, before);
        if !added.is_empty() {
            let rule = site.rule("request-enum-value-added", "response-enum-value-added");
            let what = format!("enum value {} added", added.join(", "));
            self.judged(rule, Effect::Loosens, site, &path, &what);
        }
    }

    /// A numeric bound: an upper one tightens when lowered or added, a
    /// lower one when raised or added.
    pub(super) fn bound(&mut self, key: &str, upper: bool, old: &Value, new: &Value, site: &Site) {
        let number = |schema: &Value| schema.get(key).and_then(Value::as_f64);
        let (effect, what) = match (number(old), number(new)) {
            (None, None) => return,
            (Some(a), Some(b)) if a == b => return,
            (Some(a), Some(b)) => {
                let lowered = b < a;
                let verb = if lowered { "lowered" } else { "raised" };
                let effect = if lowered == upper {
                    Effect::Tightens
                } else {
                    Effect::Loosens
                };
                (effect, format!("`{key}` {verb} from {a} to {b}"))
            }
            (None, Some(b)) => (Effect::Tightens, format!("`{key}` of {b} added")),
            (Some(a), None) => (Effect::Loosens, format!("`{key}` of {a} removed")),
        };
        self.constraint(key, effect, site, &what);
    }

    /// A bound or flag at `key` tightened or loosened.
    fn constraint(&mut self, key: &str, effect: Effect, site: &Site, what: &str) {
        let rule = site.constraint_rule(effect);
        self.judged(rule, effect, site, &site.at(key), what);
    }

    pub(super) fn additional_properties(&mut self, old: &Value, new: &Value, site: &Site) {
        let path = site.at("additionalProperties");
        match (closed(old), closed(new)) {
            (false, true) => {
                let rule = site.rule(
                    "request-additional-properties-closed",
                    "response-additional-properties-closed",
                );
                let what = "no longer allows properties it does not list";
                self.judged(rule, Effect::Tightens, site, &path, what);
            }
            (true, false) => {
                let rule = site.rule(
                    "request-additional-properties-opened",
                    "response-additional-properties-opened",
                );
                let what = "now allows properties it does not list";
                self.judged(rule, Effect::Loosens, site, &path, what);
            }
            _ => {
                if let (Some(before), Some(after)) = (
                    old.get("additionalProperties").filter(|v| v.is_object()),
                    new.get("additionalProperties").filter(|v| v.is_object()),
                ) {
                    self.schema(before, after, &site.inner("additionalProperties", ".*"));
                }
            }
        }
    }
}

pub(super) fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

pub(super) fn list<'v>(schema: &'v Value, key: &str) -> Option<&'v Vec<Value>> {
    schema.get(key).and_then(Value::as_array)
}

/// Whether a schema refuses properties it does not list.
pub(super) fn closed(schema: &Value) -> bool {
    schema.get("additionalProperties") == Some(&Value::Bool(false))
}
