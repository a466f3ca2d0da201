//! One side of a comparison: following `$ref` chains and reading schemas
//! the way a validator sees them (`allOf` merged into one object).

use std::borrow::Cow;

use serde_json::{Map, Value};

/// How many `$ref` hops or nested `allOf`s are followed before giving up:
/// a cycle would otherwise never end.
const MAX_DEPTH: usize = 32;

#[derive(Clone, Copy)]
pub(super) struct Document<'a> {
    pub root: &'a Value,
}

impl<'a> Document<'a> {
    pub fn new(root: &'a Value) -> Self {
        Document { root }
    }

    /// Follows a chain of local `$ref`s to the value it names, and returns
    /// the last reference followed (the name clients' types carry).
    pub fn resolve<'v>(&self, mut value: &'v Value) -> (&'v Value, Option<&'v str>)
    where
        'a: 'v,
    {
        let mut name = None;
        for _ in 0..MAX_DEPTH {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                break;
            };
            let Some(target) = self.target(reference) else {
                break;
            };
            name = Some(reference);
            value = target;
        }
        (value, name)
    }

    fn target(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    /// A schema as one object: its `$ref` followed and the members of an
    /// `allOf` merged (properties, `required`, constraints of the first
    /// member that states them), which is what a request must satisfy.
    pub fn schema<'v>(&self, value: &'v Value) -> (Cow<'v, Value>, Option<&'v str>)
    where
        'a: 'v,
    {
        let (resolved, name) = self.resolve(value);
        (self.flatten(resolved, 0), name)
    }

    fn flatten<'v>(&self, schema: &'v Value, depth: usize) -> Cow<'v, Value>
    where
        'a: 'v,
    {
        let Some(members) = schema.get("allOf").and_then(Value::as_array) else {
            return Cow::Borrowed(schema);
        };
        if depth >= MAX_DEPTH {
            return Cow::Borrowed(schema);
        }
        let mut merged: Map<String, Value> = schema
            .as_object()
            .map(|object| {
                object
                    .iter()
                    .filter(|(key, _)| *key != "allOf")
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for member in members {
            let (member, _) = self.resolve(member);
            let member = self.flatten(member, depth + 1);
            let Some(member) = member.as_object() else {
                continue;
            };
            for (key, value) in member {
                match key.as_str() {
                    "properties" => {
                        let target = merged
                            .entry("properties")
                            .or_insert_with(|| Value::Object(Map::new()));
                        if let (Some(target), Some(source)) =
                            (target.as_object_mut(), value.as_object())
                        {
                            for (name, property) in source {
                                target
                                    .entry(name.clone())
                                    .or_insert_with(|| property.clone());
                            }
                        }
                    }
                    "required" => {
                        let target = merged
                            .entry("required")
                            .or_insert_with(|| Value::Array(Vec::new()));
                        if let (Some(target), Some(source)) =
                            (target.as_array_mut(), value.as_array())
                        {
                            for name in source {
                                if !target.contains(name) {
                                    target.push(name.clone());
                                }
                            }
                        }
                    }
                    _ => {
                        merged.entry(key.clone()).or_insert_with(|| value.clone());
                    }
                }
            }
        }
        Cow::Owned(Value::Object(merged))
    }
}

/// A schema's type, inferred from its shape when `type` is absent.
pub(super) fn schema_type(schema: &Value) -> Option<&str> {
    if let Some(declared) = schema.get("type").and_then(Value::as_str) {
        return Some(declared);
    }
    if schema.get("properties").is_some() || schema.get("additionalProperties").is_some() {
        Some("object")
    } else if schema.get("items").is_some() {
        Some("array")
    } else {
        None
    }
}

/// Whether two values are the same schema, ignoring what only documents it.
pub(super) fn same_shape(a: &Value, b: &Value) -> bool {
    strip_text(a) == strip_text(b)
}

/// A copy without descriptions, summaries, titles and examples.
pub(super) fn strip_text(value: &Value) -> Value {
    strip(value, false)
}

fn strip(value: &Value, names: bool) -> Value {
    use super::text::{holds_names, is_text_key};
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .filter(|(key, _)| names || !is_text_key(key))
                .map(|(key, value)| (key.clone(), strip(value, !names && holds_names(key))))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|item| strip(item, false)).collect()),
        other => other.clone(),
    }
}
