//! What a parameter the rules cannot honour is refused with: an error at
//! the JSON path of the field at fault.

use charter_codegen::{Settings, generate};

/// A spec whose one operation, `GET /a/{id}`, has `parameters`.
fn spec(parameters: &str) -> String {
    format!(
        "openapi: 3.0.3
info: {{title: T, version: '1'}}
paths:
  /a/{{id}}:
    get:
      operationId: a
      parameters:
        - {{name: id, in: path, required: true, schema: {{type: string}}}}
{parameters}
      responses: {{'204': {{description: ok}}}}
"
    )
}

#[track_caller]
fn fails_at(parameters: &str, path: &str, message: &str) {
    let settings = Settings::new("crate::runtime", "test.yaml");
    match generate(&spec(parameters), &settings) {
        Ok(_) => panic!("expected an error at {path}"),
        Err(error) => {
            assert_eq!(error.path, path, "{error}");
            assert!(error.message.contains(message), "{error}");
        }
    }
}

#[track_caller]
fn generates(parameters: &str) -> String {
    let settings = Settings::new("crate::runtime", "test.yaml");
    generate(&spec(parameters), &settings).unwrap_or_else(|e| panic!("{e}"))
}

const AT: &str = "$.paths['/a/{id}'].get.parameters[1]";

#[test]
fn arrays_objects_and_json_parameters_generate() {
    let code = generates(
        "        - {name: tags, in: query, schema: {type: array, items: {type: string}}}
        - name: filter
          in: query
          style: deepObject
          schema: {type: object, properties: {status: {type: string}}}
        - name: where
          in: header
          content: {application/json: {schema: {type: object}}}",
    );
    assert!(code.contains("pub tags: Option<Vec<String>>"), "{code}");
    assert!(code.contains("pub filter: Option<AFilter>"), "{code}");
    assert!(code.contains("\"filter[status]\""), "{code}");
    assert!(
        code.contains("pub r#where: Option<serde_json::Map<String, serde_json::Value>>"),
        "{code}"
    );
}

#[test]
fn styles_are_checked_against_location_and_shape() {
    fails_at(
        "        - {name: q, in: query, style: deepObject, schema: {type: array, items: {type: string}}}",
        &format!("{AT}.style"),
        "lays out objects, not arrays",
    );
    fails_at(
        "        - {name: q, in: query, style: pipeDelimited, explode: true, schema: {type: array, items: {type: string}}}",
        &format!("{AT}.style"),
        "without `explode`",
    );
    fails_at(
        "        - {name: q, in: query, style: spaceDelimited, schema: {type: object, properties: {a: {type: string}}}}",
        &format!("{AT}.style"),
        "lays out arrays",
    );
    fails_at(
        "        - {name: q, in: query, style: deepObject, explode: false, schema: {type: object, properties: {a: {type: string}}}}",
        &format!("{AT}.style"),
        "`explode: true` only",
    );
    fails_at(
        "        - {name: q, in: query, style: pipeDelimited, schema: {type: integer}}",
        &format!("{AT}.style"),
        "not single values",
    );
    fails_at(
        "        - {name: h, in: header, allowReserved: true, schema: {type: string}}",
        AT,
        "query parameters only",
    );
}

#[test]
fn shapes_no_style_can_carry_are_refused() {
    fails_at(
        "        - {name: q, in: query, schema: {type: array, items: {type: array, items: {type: string}}}}",
        &format!("{AT}.schema.items"),
        "content: application/json",
    );
    fails_at(
        "        - {name: q, in: query, schema: {type: object, properties: {a: {type: object}}}}",
        &format!("{AT}.schema.properties.a"),
        "content: application/json",
    );
    // A map is a `deepObject`, or packed into one value; never spread as
    // `form`, which would claim every other query key.
    fails_at(
        "        - {name: q, in: query, schema: {type: object, additionalProperties: {type: string}}}",
        &format!("{AT}.schema"),
        "use `style: deepObject`",
    );
    fails_at(
        "        - {name: q, in: query, style: deepObject, schema: {type: object, properties: {a: {type: string}}, additionalProperties: {type: string}}}",
        &format!("{AT}.schema"),
        "either a map or lists its `properties`",
    );
    fails_at(
        "        - {name: q, in: query, style: deepObject, schema: {type: object, additionalProperties: {type: object}}}",
        &format!("{AT}.schema.additionalProperties"),
        "content: application/json",
    );
    fails_at(
        "        - {name: q, in: query, style: deepObject, schema: {type: object, required: [a], additionalProperties: {type: string}}}",
        &format!("{AT}.schema"),
        "names no `required` keys",
    );
    fails_at(
        "        - {name: q, in: query, style: deepObject, schema: {type: object, maxProperties: 3, additionalProperties: {type: string}}}",
        &format!("{AT}.schema.maxProperties"),
        "cannot be checked",
    );
    fails_at(
        "        - {name: q, in: query, schema: {type: object, additionalProperties: false, properties: {a: {type: string}}}}",
        &format!("{AT}.schema"),
        "use `deepObject`",
    );
    fails_at(
        "        - {name: q, in: query, schema: {type: object, properties: {a: {type: string}}, required: [b]}}",
        &format!("{AT}.schema.required[0]"),
        "names properties",
    );
}

#[test]
fn constraints_a_rule_cannot_check_are_refused_not_dropped() {
    fails_at(
        "        - {name: q, in: query, schema: {type: integer, multipleOf: 5}}",
        &format!("{AT}.schema.multipleOf"),
        "cannot be checked",
    );
    fails_at(
        "        - {name: q, in: query, schema: {type: array, items: {type: integer, multipleOf: 5}}}",
        &format!("{AT}.schema.items.multipleOf"),
        "cannot be checked",
    );
    fails_at(
        "        - {name: q, in: query, schema: {type: object, maxProperties: 2, properties: {a: {type: string}}}}",
        &format!("{AT}.schema.maxProperties"),
        "cannot be checked",
    );
    fails_at(
        "        - {name: q, in: query, schema: {type: array, items: {type: string, nullable: true}}}",
        &format!("{AT}.schema.items"),
        "cannot be nullable",
    );
}

#[test]
fn content_parameters_have_one_json_media_type_and_no_style() {
    fails_at(
        "        - {name: q, in: query, content: {text/plain: {schema: {type: string}}}}",
        &format!("{AT}.content['text/plain']"),
        "application/json",
    );
    fails_at(
        "        - {name: q, in: query, content: {application/json: {schema: {type: object}}, application/xml: {schema: {type: object}}}}",
        &format!("{AT}.content"),
        "exactly one media type",
    );
    fails_at(
        "        - {name: q, in: query, style: form, content: {application/json: {schema: {type: object}}}}",
        &format!("{AT}.style"),
        "sent as its media type",
    );
    fails_at(
        "        - {name: q, in: query, schema: {type: object}, content: {application/json: {schema: {type: object}}}}",
        &format!("{AT}.content"),
        "not both",
    );
}

#[test]
fn two_parameters_reading_one_query_key_are_refused() {
    fails_at(
        "        - {name: page, in: query, schema: {type: object, properties: {limit: {type: integer}}}}
        - {name: limit, in: query, schema: {type: integer}}",
        "$.paths['/a/{id}'].get",
        "both read the key `limit`",
    );
    // Not exploded, the object is one value under its own name.
    generates(
        "        - {name: page, in: query, explode: false, schema: {type: object, properties: {limit: {type: integer}}}}
        - {name: limit, in: query, schema: {type: integer}}",
    );
}

#[test]
fn defaults_the_generated_code_cannot_spell_are_refused() {
    fails_at(
        "        - {name: q, in: query, schema: {type: string, format: uuid, default: 6f1e3a4c-8d2b-4e6f-9a1c-2b3d4e5f6a7b}}",
        &format!("{AT}.schema.default"),
        "not supported",
    );
    fails_at(
        "        - {name: q, in: query, schema: {type: object, properties: {a: {type: string}}, default: {a: x}}}",
        &format!("{AT}.schema.default"),
        "not supported",
    );
    let code = generates(
        "        - {name: r, in: query, schema: {type: number, default: 1}}
        - {name: s, in: query, schema: {type: array, items: {type: integer}, default: [1, 2]}}",
    );
    assert!(code.contains("r?.unwrap_or_else(|| 1.0)"), "{code}");
    assert!(code.contains("s?.unwrap_or_else(|| vec![1, 2])"), "{code}");
}
