//! A value made up from a schema alone, deterministic and as small as the
//! schema allows: what the generated mock answers with (`Settings::mock`),
//! and what a driver of a generated router can send. Examples in the spec
//! are not used: public documents' examples often disagree with their own
//! schemas.
//!
//! Strings honour `format` (a nil UUID, a date, an e-mail address, ...),
//! `enum` and the length bounds; numbers the bounds and `multipleOf`;
//! arrays get one item (or `minItems`); objects their required properties;
//! `allOf` is merged, `oneOf`/`anyOf` take their first member (with its
//! discriminator value). A `pattern` is not solved: the value may miss it.

use serde_json::{Map, Value, json};

use crate::spec::{At, OwnedPath, Spec};

/// References followed, and schemas nested, before giving up with `null`
/// (a required property that refers to its own schema has no finite value).
const MAX_DEPTH: usize = 24;

/// A value `schema` accepts (see the module's documentation), its
/// references resolved in `document`.
pub fn sample(document: &Value, schema: &Value) -> Value {
    sample_at(document, schema, 0)
}

fn sample_at(document: &Value, schema: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let Some(schema) = resolve(document, schema) else {
        return Value::Null;
    };
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|v| v.first())
    {
        return first.clone();
    }
    if let Some(members) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for member in members {
            match sample_at(document, member, depth + 1) {
                Value::Object(fields) => merged.extend(fields),
                other if merged.is_empty() && members.len() == 1 => return other,
                _ => {}
            }
        }
        // Properties written beside `allOf` belong to it too.
        if let Value::Object(own) = object(document, schema, depth) {
            merged.extend(own);
        }
        return Value::Object(merged);
    }
    if let Some(first) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
        .and_then(|v| v.first())
    {
        let mut value = sample_at(document, first, depth + 1);
        if let (Some(discriminator), Value::Object(fields)) =
            (schema.get("discriminator"), &mut value)
            && let Some(property) = discriminator.get("propertyName").and_then(Value::as_str)
            && let Some(tag) = discriminator_value(discriminator, first)
        {
            fields.insert(property.to_owned(), Value::String(tag));
        }
        return value;
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => Value::String(string(schema)),
        Some("integer") => number(schema).map_or(json!(1), |n| json!(n.round() as i64)),
        Some("number") => number(schema).map_or(json!(1), |n| json!(n)),
        Some("boolean") => Value::Bool(false),
        Some("array") => {
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let max = schema.get("maxItems").and_then(Value::as_u64);
            let count = if max == Some(0) { 0 } else { min.max(1) };
            let item = schema
                .get("items")
                .map_or(Value::Null, |items| sample_at(document, items, depth + 1));
            Value::Array((0..count).map(|_| item.clone()).collect())
        }
        Some("object") => object(document, schema, depth),
        None if schema.get("properties").is_some() => object(document, schema, depth),
        _ => Value::Null,
    }
}

/// The schema `$ref` names (repeatedly), or the schema itself; `None` for
/// a reference that leads nowhere.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    let spec = Spec { root: document };
    spec.resolve(At::new(schema, OwnedPath::root()))
        .ok()
        .map(|at| at.value)
}

/// The required properties of an object schema.
fn object(document: &Value, schema: &Value, depth: usize) -> Value {
    let mut fields = Map::new();
    let properties = schema.get("properties").and_then(Value::as_object);
    let required = schema.get("required").and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        let value = properties
            .and_then(|p| p.get(name))
            .map_or(Value::Null, |property| {
                sample_at(document, property, depth + 1)
            });
        fields.insert(name.to_owned(), value);
    }
    Value::Object(fields)
}

/// What the discriminator says for `member`: its key in `mapping`, or the
/// name of the schema it refers to.
fn discriminator_value(discriminator: &Value, member: &Value) -> Option<String> {
    let reference = member.get("$ref").and_then(Value::as_str)?;
    let mapped = discriminator
        .get("mapping")
        .and_then(Value::as_object)
        .and_then(|mapping| {
            mapping
                .iter()
                .find(|(_, target)| target.as_str() == Some(reference))
                .map(|(key, _)| key.clone())
        });
    mapped.or_else(|| reference.rsplit('/').next().map(str::to_owned))
}

fn string(schema: &Value) -> String {
    let formatted = match schema.get("format").and_then(Value::as_str) {
        Some("uuid") => Some("00000000-0000-0000-0000-000000000000"),
        Some("date-time") => Some("2000-01-01T00:00:00Z"),
        Some("date") => Some("2000-01-01"),
        Some("time") => Some("00:00:00"),
        Some("email") => Some("user@example.com"),
        Some("uri" | "url") => Some("https://example.com/"),
        Some("hostname") => Some("example.com"),
        Some("ipv4") => Some("192.0.2.1"),
        Some("ipv6") => Some("2001:db8::1"),
        // Base64 of nothing.
        Some("byte") => Some(""),
        _ => None,
    };
    if let Some(text) = formatted {
        return text.to_owned();
    }
    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = schema
        .get("maxLength")
        .and_then(Value::as_u64)
        .map_or(usize::MAX, |n| n as usize);
    let mut text = String::from("sample");
    while text.len() < min {
        text.push('s');
    }
    text.truncate(max.max(min));
    text
}

/// A number within the schema's bounds (1 when it has none), a multiple of
/// `multipleOf` where one is near; `None` for the default.
fn number(schema: &Value) -> Option<f64> {
    let minimum = schema.get("minimum").and_then(Value::as_f64);
    let maximum = schema.get("maximum").and_then(Value::as_f64);
    let exclusive = |key: &str| schema.get(key).and_then(Value::as_bool) == Some(true);
    let step = schema
        .get("multipleOf")
        .and_then(Value::as_f64)
        .filter(|s| *s > 0.0);
    if minimum.is_none() && maximum.is_none() && step.is_none() {
        return None;
    }
    let mut value = step.unwrap_or(1.0);
    if let Some(min) = minimum {
        let floor = if exclusive("exclusiveMinimum") {
            min + step.unwrap_or(1.0)
        } else {
            min
        };
        if value < floor {
            value = match step {
                Some(s) => (floor / s).ceil() * s,
                None => floor,
            };
        }
    }
    if let Some(max) = maximum {
        let ceiling = if exclusive("exclusiveMaximum") {
            max - step.unwrap_or(1.0)
        } else {
            max
        };
        if value > ceiling {
            value = match step {
                Some(s) => (ceiling / s).floor() * s,
                None => ceiling,
            };
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(schema: Value) -> Value {
        sample(&json!({}), &schema)
    }

    #[test]
    fn strings_honour_formats_enums_and_lengths() {
        assert_eq!(
            of(json!({"type": "string", "format": "uuid"})),
            "00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            of(json!({"type": "string", "enum": ["b", "a"]})),
            json!("b")
        );
        assert_eq!(of(json!({"type": "string", "maxLength": 3})), "sam");
        assert_eq!(of(json!({"type": "string", "minLength": 8})), "sampless");
    }

    #[test]
    fn numbers_stay_within_bounds() {
        assert_eq!(of(json!({"type": "integer"})), json!(1));
        assert_eq!(
            of(json!({"type": "integer", "minimum": 10, "maximum": 20})),
            json!(10)
        );
        assert_eq!(
            of(json!({"type": "integer", "maximum": 0, "exclusiveMaximum": true})),
            json!(-1)
        );
        assert_eq!(
            of(json!({"type": "number", "minimum": 7, "multipleOf": 5})),
            json!(10.0)
        );
    }

    #[test]
    fn objects_get_their_required_properties_through_references() {
        let document = json!({"components": {"schemas": {
            "Pet": {"type": "object", "required": ["id", "name"], "properties": {
                "id": {"type": "integer", "format": "int64"},
                "name": {"type": "string"},
                "tag": {"type": "string"}
            }},
            "Node": {"type": "object", "required": ["next"], "properties": {
                "next": {"$ref": "#/components/schemas/Node"}
            }}
        }}});
        assert_eq!(
            sample(
                &document,
                &json!({"type": "array", "items": {"$ref": "#/components/schemas/Pet"}})
            ),
            json!([{"id": 1, "name": "sample"}])
        );
        // A schema that requires itself ends in null rather than looping.
        let node = sample(&document, &json!({"$ref": "#/components/schemas/Node"}));
        assert!(node.to_string().contains("null"));
    }

    #[test]
    fn composition_merges_all_of_and_tags_one_of() {
        let document = json!({"components": {"schemas": {
            "Cat": {"type": "object", "required": ["kind", "lives"], "properties": {
                "kind": {"type": "string"}, "lives": {"type": "integer"}
            }},
            "Dog": {"type": "object", "required": ["kind"], "properties": {
                "kind": {"type": "string"}
            }}
        }}});
        let pet = json!({
            "oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}],
            "discriminator": {"propertyName": "kind", "mapping": {"cat": "#/components/schemas/Cat"}}
        });
        assert_eq!(sample(&document, &pet), json!({"kind": "cat", "lives": 1}));
        let merged = json!({"allOf": [
            {"$ref": "#/components/schemas/Dog"},
            {"type": "object", "required": ["bark"], "properties": {"bark": {"type": "boolean"}}}
        ]});
        assert_eq!(
            sample(&document, &merged),
            json!({"kind": "sample", "bark": false})
        );
    }
}
