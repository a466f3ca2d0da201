//! Bodies the generator cannot honour are errors at the JSON path of the
//! media type, schema or field at fault; none is left out silently.

use charter_codegen::{Settings, generate};

/// A document whose one operation, `POST /a`, has `request` as its
/// `requestBody.content` and `response` as its 200's `content`.
fn document(request: &str, response: &str) -> String {
    format!(
        "openapi: 3.0.3\n\
         info: {{title: Bodies, version: '1'}}\n\
         paths:\n  /a:\n    post:\n      operationId: a\n\
         \x20     requestBody: {{content: {request}}}\n\
         \x20     responses: {{'200': {{description: ok, content: {response}}}}}\n\
         components:\n  schemas:\n    ABody: {{type: object}}\n"
    )
}

const REQUEST: &str = "$.paths['/a'].post.requestBody.content";
const RESPONSE: &str = "$.paths['/a'].post.responses.200.content";
const RAW: &str = "{application/octet-stream: {}}";

/// A refused case: request content, response content, the JSON path of
/// the error and a piece of its message.
type Case = (String, &'static str, String, &'static str);

#[track_caller]
fn refused(cases: &[Case]) {
    let settings = Settings::new("crate::runtime", "bodies.yaml");
    for (request, response, path, message) in cases {
        match generate(&document(request, response), &settings) {
            Ok(_) => panic!("expected an error at {path}"),
            Err(error) => {
                assert_eq!(&error.path, path, "{error}");
                assert!(error.message.contains(message), "{error}");
            }
        }
    }
}

/// A case whose request content is `request`, with a raw response.
fn request(request: &str, path: String, message: &'static str) -> Case {
    (request.to_owned(), RAW, path, message)
}

#[test]
fn raw_bodies_refuse_schemas_they_cannot_check() {
    refused(&[
        request(
            "{text/plain: {schema: {type: integer}}}",
            format!("{REQUEST}['text/plain'].schema"),
            "string one, not `integer`",
        ),
        request(
            "{text/plain: {schema: {items: {type: string}}}}",
            format!("{REQUEST}['text/plain'].schema"),
            "not `items`",
        ),
        request(
            "{application/octet-stream: {schema: {type: string, format: binary, maxLength: 9}}}",
            format!("{REQUEST}['application/octet-stream'].schema"),
            "not checked",
        ),
        request(
            "{text/event-stream: {}}",
            format!("{REQUEST}['text/event-stream']"),
            "event stream",
        ),
    ]);
}

#[test]
fn form_fields_are_scalars_or_lists_of_them() {
    let form = |properties: &str| {
        format!(
            "{{application/x-www-form-urlencoded: {{schema: {{type: object, properties: {properties}}}}}}}"
        )
    };
    let at = format!("{REQUEST}['application/x-www-form-urlencoded'].schema");
    refused(&[
        request(
            &form("{address: {type: object, properties: {city: {type: string}}}}"),
            format!("{at}.properties.address"),
            "a form field holds text",
        ),
        request(
            &form("{grid: {type: array, items: {type: array, items: {type: integer}}}}"),
            format!("{at}.properties.grid.items"),
            "a form field holds text",
        ),
        request(
            &form("{photo: {type: string, format: binary}}"),
            format!("{at}.properties.photo"),
            "multipart/form-data",
        ),
        request(
            "{application/x-www-form-urlencoded: {schema: {oneOf: [{type: object}, {type: object}]}}}",
            format!("{at}.oneOf"),
            "alternatives",
        ),
        request(
            "{application/x-www-form-urlencoded: {schema: {type: string}}}",
            at.clone(),
            "not `string`",
        ),
        request(
            "{multipart/form-data: {schema: {type: object, properties: {f: {type: string, format: binary, maxLength: 5}}}}}",
            format!("{REQUEST}['multipart/form-data'].schema.properties.f"),
            "not checked on files",
        ),
    ]);
}

#[test]
fn encodings_other_than_the_default_are_refused() {
    let urlencoded = |encoding: &str| {
        format!(
            "{{application/x-www-form-urlencoded: {{schema: {{type: object, properties: {{tags: {{type: array, items: {{type: string}}}}}}}}, encoding: {encoding}}}}}"
        )
    };
    let at = format!("{REQUEST}['application/x-www-form-urlencoded'].encoding");
    refused(&[
        request(
            &urlencoded("{tags: {style: deepObject}}"),
            format!("{at}.tags.style"),
            "only `style: \"form\"`",
        ),
        request(
            &urlencoded("{tags: {explode: false}}"),
            format!("{at}.tags.explode"),
            "only `explode: true`",
        ),
        request(
            &urlencoded("{nope: {style: form}}"),
            format!("{at}.nope"),
            "not a property",
        ),
        request(
            &urlencoded("{tags: {contentType: text/plain}}"),
            format!("{at}.tags.contentType"),
            "not supported",
        ),
        request(
            "{multipart/form-data: {schema: {type: object, properties: {f: {type: string}}}, encoding: {f: {headers: {X-A: {schema: {type: string}}}}}}}",
            format!("{REQUEST}['multipart/form-data'].encoding.f.headers"),
            "not supported",
        ),
        request(
            "{multipart/form-data: {encoding: {f: {contentType: text/plain}}}}",
            format!("{REQUEST}['multipart/form-data'].encoding"),
            "only a schema declares",
        ),
        request(
            "{application/json: {schema: {type: object}, encoding: {}}}",
            format!("{REQUEST}['application/json'].encoding"),
            "form and multipart bodies only",
        ),
    ]);
}

#[test]
fn media_types_are_named_once_and_well() {
    refused(&[
        request(
            "{nonsense: {}}",
            format!("{REQUEST}.nonsense"),
            "not a media type",
        ),
        request(
            "{'text/plain; charset=iso-8859-1': {}}",
            format!("{REQUEST}['text/plain; charset=iso-8859-1']"),
            "only `charset=utf-8`",
        ),
        request(
            "{text/csv: {}, application/csv: {}}",
            format!("{REQUEST}['application/csv']"),
            "cannot be told apart",
        ),
        request(
            "{application/json: {}, text/plain: {}}",
            REQUEST.to_owned(),
            "a name a schema already has",
        ),
        request("{}", REQUEST.to_owned(), "at least one media type"),
        (
            RAW.to_owned(),
            "{application/json: {}, text/event-stream: {}}",
            format!("{RESPONSE}['text/event-stream']"),
            "only media type",
        ),
    ]);
}

#[test]
fn documents_of_several_media_types_generate() {
    // As a pet store spec has them: JSON, XML and a form in; JSON and XML out.
    let source = document(
        "{application/json: {schema: {$ref: '#/components/schemas/ABody'}}, \
         application/xml: {}, \
         application/x-www-form-urlencoded: {schema: {type: object, properties: {name: {type: string}}}}}",
        "{application/json: {schema: {$ref: '#/components/schemas/ABody'}}, \
         application/xml: {schema: {$ref: '#/components/schemas/ABody'}}}",
    )
    .replace("ABody: {type: object}", "ABody2: {type: object}")
    .replace("schemas/ABody'", "schemas/ABody2'");
    let code = generate(&source, &Settings::new("crate::runtime", "bodies.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    for expected in [
        "pub enum ABody {",
        "Xml(crate::runtime::Bytes)",
        "Form(AFormBody)",
        "pub enum AOkBody {",
    ] {
        assert!(code.contains(expected), "{expected} missing from\n{code}");
    }
}

#[test]
fn a_document_body_of_bytes_leaves_its_schema_to_the_handler_with_a_warning() {
    let source = document(
        "{application/xml: {schema: {type: object, properties: {a: {type: string}}}}}",
        RAW,
    );
    let settings = Settings::new("crate::runtime", "bodies.yaml");
    let (code, warnings) = charter_codegen::generate_with_warnings(&source, &settings)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(code.contains("::charter_runtime::Bytes") || code.contains("crate::runtime::Bytes"));
    let [warning] = warnings.as_slice() else {
        panic!("expected one warning, got {warnings:?}");
    };
    assert_eq!(warning.path, format!("{REQUEST}['application/xml'].schema"));
    assert!(warning.message.contains("is not checked"), "{warning:?}");
    // A strict document keeps it an error.
    let strict = source.replacen(
        "openapi: 3.0.3\n",
        "openapi: 3.0.3\nx-charter-strict: true\n",
        1,
    );
    assert!(generate(&strict, &settings).is_err());
}
