//! Translation of OpenAPI 3.0 schema objects into self-contained JSON Schema
//! (draft 2020-12) documents that the server validates requests against.
//!
//! OpenAPI 3.0 schemas are "almost" JSON Schema: `nullable` has to become a
//! `null` type, boolean `exclusiveMinimum`/`exclusiveMaximum` become numeric,
//! `int32`/`int64` become bounds, references are inlined and documentation-only
//! keywords are dropped.

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::spec::{At, Spec, schema_ref_name};

/// Keywords copied verbatim (their values are not schemas).
const PLAIN_KEYWORDS: &[&str] = &[
    "type",
    "enum",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "required",
    "minProperties",
    "maxProperties",
];

/// Keywords that only document a schema; they do not constrain values.
const DOC_KEYWORDS: &[&str] = &[
    "title",
    "description",
    "example",
    "examples",
    "default",
    "readOnly",
    "writeOnly",
    "deprecated",
    "externalDocs",
    "xml",
    "discriminator",
    "nullable",
    "format",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "$ref",
];

/// Formats the validator asserts. Others (`password`, `byte`, ...) are annotations.
const ASSERTED_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "email",
    "uuid",
    "uri",
    "uri-reference",
    "hostname",
    "ipv4",
    "ipv6",
];

pub fn convert(spec: &Spec<'_>, node: &At<'_>) -> Result<Value, Error> {
    convert_inner(spec, node, &mut Vec::new())
}

fn convert_inner(spec: &Spec<'_>, node: &At<'_>, stack: &mut Vec<String>) -> Result<Value, Error> {
    if let Some(name) = schema_ref_name(node)? {
        if stack.contains(&name) {
            return Err(node.error(format!(
                "recursive schema `{name}` is not supported for request validation"
            )));
        }
        let target = spec.resolve(node.clone())?;
        stack.push(name);
        let converted = convert_inner(spec, &target, stack);
        stack.pop();
        return converted;
    }
    let Value::Object(source) = node.value else {
        return Err(node.error("a schema must be an object"));
    };
    let mut out = Map::new();
    for (key, value) in source {
        let key = key.as_str();
        if PLAIN_KEYWORDS.contains(&key) {
            out.insert(key.to_owned(), value.clone());
        } else if key.starts_with("x-") || DOC_KEYWORDS.contains(&key) {
            // handled below, or documentation only
        } else {
            match key {
                "items" | "not" => {
                    let child = node.get(key).ok_or_else(|| node.error("missing child"))?;
                    out.insert(key.to_owned(), convert_inner(spec, &child, stack)?);
                }
                "additionalProperties" => match value {
                    Value::Bool(allowed) => {
                        out.insert(key.to_owned(), Value::Bool(*allowed));
                    }
                    _ => {
                        let child = node.get(key).ok_or_else(|| node.error("missing child"))?;
                        out.insert(key.to_owned(), convert_inner(spec, &child, stack)?);
                    }
                },
                "properties" => {
                    let props = node.get(key).ok_or_else(|| node.error("missing child"))?;
                    let mut converted = Map::new();
                    for (name, child) in props.entries()? {
                        converted.insert(name.to_owned(), convert_inner(spec, &child, stack)?);
                    }
                    out.insert(key.to_owned(), Value::Object(converted));
                }
                "allOf" | "oneOf" | "anyOf" => {
                    let list = node.get(key).ok_or_else(|| node.error("missing child"))?;
                    let mut converted = Vec::new();
                    for child in list.items()? {
                        converted.push(convert_inner(spec, &child, stack)?);
                    }
                    out.insert(key.to_owned(), Value::Array(converted));
                }
                other => {
                    return Err(node.error(format!(
                        "schema keyword `{other}` is not part of OpenAPI 3.0"
                    )));
                }
            }
        }
    }

    if let Some(format) = node.str("format") {
        if ASSERTED_FORMATS.contains(&format) {
            out.insert("format".to_owned(), json!(format));
        }
        let bounds = match format {
            "int32" => Some((i64::from(i32::MIN), i64::from(i32::MAX))),
            "int64" => Some((i64::MIN, i64::MAX)),
            _ => None,
        };
        if let Some((low, high)) = bounds {
            tighten(&mut out, "minimum", low, |new, old| new > old);
            tighten(&mut out, "maximum", high, |new, old| new < old);
        }
    }
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if node.flag(flag) {
            let Some(limit) = out.remove(bound) else {
                return Err(node.error(format!("`{flag}: true` needs `{bound}`")));
            };
            out.insert(flag.to_owned(), limit);
        }
    }

    if node.flag("nullable") {
        make_nullable(&mut out);
    }
    Ok(Value::Object(out))
}

fn tighten(out: &mut Map<String, Value>, key: &str, bound: i64, stricter: fn(i64, i64) -> bool) {
    let keep_existing = out
        .get(key)
        .and_then(Value::as_i64)
        .is_some_and(|existing| !stricter(bound, existing));
    let existing_is_float = out.get(key).is_some_and(|v| v.as_i64().is_none());
    if !keep_existing && !existing_is_float {
        out.insert(key.to_owned(), json!(bound));
    }
}

fn make_nullable(out: &mut Map<String, Value>) {
    let mut handled = false;
    if let Some(kind) = out.get_mut("type") {
        if let Value::String(name) = kind {
            *kind = json!([name.clone(), "null"]);
        }
        handled = true;
    }
    if let Some(Value::Array(values)) = out.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
        handled = true;
    }
    if !handled {
        let inner = std::mem::take(out);
        out.insert("anyOf".to_owned(), json!([inner, {"type": "null"}]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert_yaml(doc: &str, pointer: &[&str]) -> Result<Value, Error> {
        let root: Value = serde_yaml::from_str(doc).map_err(|e| Error::at("$", e.to_string()))?;
        let spec = Spec { root: &root };
        let mut node = spec.at_root();
        for key in pointer {
            node = node.get(key).ok_or_else(|| Error::at("$", "missing"))?;
        }
        convert(&spec, &node)
    }

    #[test]
    fn nullable_refs_and_formats_are_translated() {
        let doc = r##"
components:
  schemas:
    Name: {type: string, maxLength: 5, nullable: true, description: doc}
    Thing:
      type: object
      additionalProperties: false
      required: [count]
      properties:
        count: {type: integer, format: int32, minimum: 1, exclusiveMaximum: true, maximum: 10}
        name: {$ref: '#/components/schemas/Name'}
        kind: {type: string, enum: [a, b], nullable: true}
        secret: {type: string, format: password}
"##;
        let converted = convert_yaml(doc, &["components", "schemas", "Thing"]).unwrap_or_default();
        assert_eq!(
            converted,
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["count"],
                "properties": {
                    "count": {"type": "integer", "minimum": 1, "exclusiveMaximum": 10},
                    "name": {"type": ["string", "null"], "maxLength": 5},
                    "kind": {"type": ["string", "null"], "enum": ["a", "b", null]},
                    "secret": {"type": "string"}
                }
            })
        );
    }

    #[test]
    fn int64_bounds_fill_missing_limits_only() {
        let doc = "s: {type: integer, format: int32}";
        let converted = convert_yaml(doc, &["s"]).unwrap_or_default();
        assert_eq!(converted["minimum"], json!(i32::MIN));
        assert_eq!(converted["maximum"], json!(i32::MAX));
    }

    #[test]
    fn recursion_and_foreign_refs_are_reported_with_paths() {
        let doc = r##"
components:
  schemas:
    Tree: {type: object, properties: {child: {$ref: '#/components/schemas/Tree'}}}
    Far: {$ref: 'other.yaml#/Thing'}
"##;
        let err = convert_yaml(doc, &["components", "schemas", "Tree"]).err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.path == "$.components.schemas.Tree.properties.child"),
            "{err:?}"
        );
        let err = convert_yaml(doc, &["components", "schemas", "Far"]).err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.path == "$.components.schemas.Far"
                    && e.message.contains("#/components/schemas")),
            "{err:?}"
        );
    }
}
