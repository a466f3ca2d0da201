//! Properties of objects (added, removed, renamed, made required or
//! optional) and the variants of `oneOf`/`anyOf`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::constraints::{closed, list};
use super::document::same_shape;
use super::schema::{Direction, Effect, Site};
use super::{Diff, Severity};
use crate::spec::OwnedPath;

impl Diff<'_> {
    pub(super) fn properties(&mut self, old: &Value, new: &Value, site: &Site) {
        let (before, after) = (properties(old), properties(new));
        if before.is_empty() && after.is_empty() {
            return;
        }
        let (old_required, new_required) = (required(old), required(new));
        let mut added: Vec<&str> = after
            .keys()
            .copied()
            .filter(|name| !before.contains_key(name))
            .collect();
        for (name, old_property) in &before {
            if after.contains_key(name) {
                continue;
            }
            // A property that left while one of the same shape and
            // requiredness arrived was renamed.
            let renamed = added.iter().position(|candidate| {
                same_shape(old_property, after[candidate])
                    && old_required.contains(name) == new_required.contains(candidate)
            });
            match renamed {
                Some(index) => {
                    let candidate = added.remove(index);
                    self.renamed_property(name, candidate, site);
                }
                None => self.removed_property(name, closed(new), site),
            }
        }
        for name in added {
            self.added_property(name, new_required.contains(&name), closed(new), site);
        }
        for (name, old_property) in &before {
            let Some(new_property) = after.get(name) else {
                continue;
            };
            let property = site.property(name);
            let was = old_required.contains(name);
            let is = new_required.contains(name);
            if was != is {
                self.requiredness(was, &property);
            }
            self.schema(old_property, new_property, &property);
        }
    }

    fn renamed_property(&mut self, old_name: &str, new_name: &str, site: &Site) {
        let rule = site.rule("request-property-renamed", "response-property-renamed");
        let verb = match site.direction {
            Direction::Request => "send",
            Direction::Response => "read",
        };
        let message = format!(
            "{}: `{old_name}` renamed to `{new_name}`; clients of the old contract {verb} `{old_name}`.",
            site.subject.sentence()
        );
        let path = site.property(new_name).path;
        self.report(rule, Severity::Breaking, &path, message);
    }

    fn removed_property(&mut self, name: &str, now_closed: bool, site: &Site) {
        let property = site.property(name);
        let (rule, severity, consequence) = match site.direction {
            Direction::Request if now_closed => (
                "request-property-removed",
                Severity::Breaking,
                "the server now refuses requests that send it",
            ),
            Direction::Request => (
                "request-property-removed",
                Severity::NonBreaking,
                "the server now ignores it",
            ),
            Direction::Response => (
                "response-property-removed",
                Severity::Breaking,
                "clients that read it find it missing",
            ),
        };
        let message = format!("{} removed; {consequence}.", property.subject.sentence());
        self.report(rule, severity, &property.path, message);
    }

    fn added_property(&mut self, name: &str, is_required: bool, now_closed: bool, site: &Site) {
        let property = site.property(name);
        let field = property.subject.sentence();
        let (rule, severity, message) = match site.direction {
            Direction::Request if is_required => (
                "request-property-added-required",
                Severity::Breaking,
                format!("{field} added as required; requests without it are refused."),
            ),
            Direction::Request => (
                "request-property-added",
                Severity::NonBreaking,
                format!("{field} added as optional."),
            ),
            // Generated clients refuse unknown fields of a closed object.
            Direction::Response if now_closed => (
                "response-property-added-closed",
                Severity::Breaking,
                format!(
                    "{field} added to a closed object; clients that refuse unknown fields cannot decode it."
                ),
            ),
            Direction::Response => (
                "response-property-added",
                Severity::NonBreaking,
                format!("{field} added."),
            ),
        };
        self.report(rule, severity, &property.path, message);
    }

    /// A property that was required and is not, or the reverse.
    fn requiredness(&mut self, was_required: bool, property: &Site) {
        let (rule, severity, what) = match (property.direction, was_required) {
            (Direction::Request, false) => (
                "request-property-made-required",
                Severity::Breaking,
                "made required; requests without it are refused",
            ),
            (Direction::Request, true) => (
                "request-property-made-optional",
                Severity::NonBreaking,
                "made optional",
            ),
            (Direction::Response, true) => (
                "response-property-made-optional",
                Severity::Breaking,
                "made optional; clients that expect it may not find it",
            ),
            (Direction::Response, false) => (
                "response-property-made-required",
                Severity::NonBreaking,
                "now always present",
            ),
        };
        let message = format!("{} {what}.", property.subject.sentence());
        self.report(rule, severity, &property.path, message);
    }

    /// `oneOf`/`anyOf`: variants matched by `$ref` (or by position when
    /// inline). Returns whether to go on comparing the rest of the schema.
    pub(super) fn variants(&mut self, old: &Value, new: &Value, site: &Site) -> bool {
        let ((old_keyword, old_variants), (new_keyword, new_variants)) =
            match (composition(old), composition(new)) {
                (None, None) => return true,
                (Some(before), Some(after)) => (before, after),
                _ => {
                    let rule = site.rule("request-schema-changed", "response-schema-changed");
                    let what = "composition (`oneOf`/`anyOf`) added or removed";
                    self.judged(rule, Effect::Alters, site, &site.path, what);
                    return false;
                }
            };
        let old_ids = identities(old_variants);
        let new_ids = identities(new_variants);
        for (index, id) in old_ids.iter().enumerate() {
            match new_ids.iter().position(|n| n == id) {
                Some(new_index) => self.schema(
                    &old_variants[index],
                    &new_variants[new_index],
                    &site.variant(new_keyword, new_index),
                ),
                None => {
                    let path = site.at(old_keyword).index(index);
                    self.variant_change(id, false, &path, site);
                }
            }
        }
        for (index, id) in new_ids.iter().enumerate() {
            if !old_ids.contains(id) {
                let path = site.at(new_keyword).index(index);
                self.variant_change(id, true, &path, site);
            }
        }
        let discriminator = |schema: &Value| schema.get("discriminator").cloned();
        if discriminator(old) != discriminator(new) {
            let rule = site.rule(
                "request-discriminator-changed",
                "response-discriminator-changed",
            );
            let path = site.at("discriminator");
            self.judged(rule, Effect::Alters, site, &path, "discriminator changed");
        }
        true
    }

    fn variant_change(&mut self, id: &str, added: bool, path: &OwnedPath, site: &Site) {
        let (rule, severity, consequence) = match (site.direction, added) {
            (Direction::Request, false) => (
                "request-variant-removed",
                Severity::Breaking,
                "requests of that shape are refused",
            ),
            (Direction::Response, false) => (
                "response-variant-removed",
                Severity::NonBreaking,
                "responses no longer take that shape",
            ),
            (Direction::Request, true) => (
                "request-variant-added",
                Severity::NonBreaking,
                "the server accepts another shape",
            ),
            (Direction::Response, true) => (
                "response-variant-added",
                Severity::Breaking,
                "clients of the old contract cannot decode responses of that shape",
            ),
        };
        let verb = if added { "added" } else { "removed" };
        let message = format!(
            "{}: variant {id} {verb}; {consequence}.",
            site.subject.sentence()
        );
        self.report(rule, severity, path, message);
    }
}

/// A variant is known by its `$ref`, or by its position when inline.
fn identities(variants: &[Value]) -> Vec<String> {
    variants
        .iter()
        .enumerate()
        .map(|(index, variant)| {
            variant
                .get("$ref")
                .and_then(Value::as_str)
                .map_or_else(|| format!("#{index}"), str::to_owned)
        })
        .collect()
}

fn properties(schema: &Value) -> BTreeMap<&str, &Value> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|map| map.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default()
}

fn required(schema: &Value) -> Vec<&str> {
    list(schema, "required")
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn composition(schema: &Value) -> Option<(&'static str, &Vec<Value>)> {
    ["oneOf", "anyOf"]
        .into_iter()
        .find_map(|keyword| list(schema, keyword).map(|variants| (keyword, variants)))
}
