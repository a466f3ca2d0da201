//! Schema and property names that are not Rust identifiers (README, "Names"):
//! the mapping, how collisions are settled, and that the client generator
//! (progenitor, whose models typify names) names the same document alike.

use std::collections::BTreeMap;

use charter_codegen::{Settings, generate};
use quote::ToTokens;
use serde_json::{Value, json};

/// Each wire name with the type a schema of that name becomes and the field
/// a property of that name becomes.
const TABLE: &[(&str, &str, &str)] = &[
    ("dataSetList", "DataSetList", "data_set_list"),
    ("user", "User", "user"),
    ("user-profile", "UserProfile", "user_profile"),
    ("2fa_config", "X2faConfig", "x2fa_config"),
    ("type", "Type", "r#type"),
    ("match", "Match", "r#match"),
    ("self", "Self_", "self_"),
    ("$ref-like", "RefLike", "ref_like"),
    ("café", "Café", "café"),
    ("HTTPServer", "HttpServer", "http_server"),
    ("won't", "Wont", "wont"),
    ("a.b.c", "ABC", "a_b_c"),
    ("Foo Bar", "FooBar", "foo_bar"),
    ("_private", "Private", "private"),
    ("@timestamp", "Timestamp", "timestamp"),
    ("+1", "plus1", "plus1"),
];

fn settings() -> Settings {
    Settings::new("crate::runtime", "test.yaml")
}

/// A document with a schema per name in `TABLE`, and `Fields`, an object
/// with a property per name. JSON, so that any name is written as it is.
fn table_spec() -> String {
    let mut schemas = serde_json::Map::new();
    let mut properties = serde_json::Map::new();
    for (wire, _, _) in TABLE {
        schemas.insert(
            (*wire).to_owned(),
            json!({"type": "object", "properties": {"n": {"type": "string"}}}),
        );
        properties.insert((*wire).to_owned(), json!({"type": "string"}));
    }
    schemas.insert(
        "Fields".to_owned(),
        json!({"type": "object", "properties": properties}),
    );
    document(json!({}), json!(schemas))
}

fn document(paths: Value, schemas: Value) -> String {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
    .to_string()
}

/// Every struct in `items` (not in modules), with its fields as
/// (identifier, wire name) pairs.
fn structs(items: &[syn::Item]) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out = BTreeMap::new();
    for item in items {
        let syn::Item::Struct(item) = item else {
            continue;
        };
        let fields = item
            .fields
            .iter()
            .filter_map(|field| {
                let ident = field.ident.as_ref()?.to_string();
                let wire = field
                    .attrs
                    .iter()
                    .find_map(|attr| renamed(&attr.to_token_stream().to_string()))
                    .unwrap_or_else(|| ident.trim_start_matches("r#").to_owned());
                Some((ident, wire))
            })
            .collect();
        out.insert(item.ident.to_string(), fields);
    }
    out
}

/// The wire name in a `#[serde(rename = "...")]` attribute, as tokens print.
fn renamed(attr: &str) -> Option<String> {
    let start = attr.find("rename = \"")? + "rename = \"".len();
    let end = attr[start..].find('"')? + start;
    Some(attr[start..end].to_owned())
}

fn server_structs(source: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let code = generate(source, &settings()).unwrap_or_else(|e| panic!("{e}"));
    structs(
        &syn::parse_file(&code)
            .unwrap_or_else(|e| panic!("{e}"))
            .items,
    )
}

fn client_structs(source: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let document: openapiv3::OpenAPI = serde_yaml::from_str(source).expect("document");
    let tokens = progenitor::Generator::new(&progenitor::GenerationSettings::default())
        .generate_tokens(&document)
        .expect("progenitor generates");
    let file: syn::File = syn::parse2(tokens).expect("progenitor's code parses");
    let types = file
        .items
        .into_iter()
        .find_map(|item| match item {
            syn::Item::Mod(module) if module.ident == "types" => module.content,
            _ => None,
        })
        .expect("progenitor's `types` module");
    structs(&types.1)
}

fn field<'a>(fields: &'a [(String, String)], wire: &str) -> &'a str {
    fields
        .iter()
        .find(|(_, w)| w == wire)
        .map(|(ident, _)| ident.as_str())
        .unwrap_or_else(|| panic!("no field for `{wire}` in {fields:?}"))
}

#[test]
fn names_map_by_the_table() {
    let server = server_structs(&table_spec());
    let fields = &server["Fields"];
    for (wire, type_name, field_name) in TABLE {
        assert!(
            server.contains_key(*type_name),
            "`{wire}` -> `{type_name}`: {:?}",
            server.keys()
        );
        assert_eq!(field(fields, wire), *field_name, "field for `{wire}`");
    }
}

/// The client writes a keyword field `type_` where the server writes
/// `r#type`; every other type and field name is the same on both sides.
#[test]
fn the_client_generator_names_them_alike() {
    let source = table_spec();
    let server = server_structs(&source);
    let client = client_structs(&source);
    assert_eq!(
        server.keys().collect::<Vec<_>>(),
        client.keys().collect::<Vec<_>>(),
        "type names"
    );
    for (name, server_fields) in &server {
        for (ident, wire) in server_fields {
            let theirs = field(&client[name], wire);
            let keyword = ident.strip_prefix("r#");
            assert!(
                theirs == ident || keyword.is_some_and(|k| theirs == format!("{k}_")),
                "{name}.{wire}: server `{ident}`, client `{theirs}`"
            );
        }
    }
}

/// Collisions are settled on the server side by the README's rule (the
/// client generator leaves them to the compiler): a name that is its own
/// Rust name keeps it; the others, in document order, take a suffix.
#[test]
fn colliding_names_take_suffixes_in_document_order() {
    let source = r#"openapi: 3.0.3
info: {title: T, version: '1'}
paths: {}
components:
  schemas:
    user: {type: object, properties: {n: {type: string}}}
    USER: {type: object, properties: {n: {type: string}}}
    User: {type: object, properties: {n: {type: string}}}
    Result: {type: object, properties: {n: {type: string}}}
    Thing:
      type: object
      properties:
        fooBar: {type: string}
        foo-bar: {type: string}
        foo_bar: {type: string}
        self: {type: string}
        Self: {type: string}
        self_: {type: string}
"#;
    let server = server_structs(source);
    let names: Vec<&String> = server.keys().collect();
    assert_eq!(names, ["Result2", "Thing", "User", "User2", "User3"]);
    let thing = &server["Thing"];
    for (wire, ident) in [
        ("foo_bar", "foo_bar"),
        ("fooBar", "foo_bar_2"),
        ("foo-bar", "foo_bar_3"),
        ("self_", "self_"),
        ("self", "self_2"),
        ("Self", "self_3"),
    ] {
        assert_eq!(field(thing, wire), ident, "field for `{wire}`");
    }
    let code = generate(source, &settings()).expect("generates");
    // `User` (its own name) keeps it; `user` and `USER` follow in order.
    assert!(code.contains("pub struct User2 {"), "{code}");
}

/// Names generated for inline schemas and for operations never take a
/// schema's name: they take a suffix instead.
#[test]
fn generated_names_yield_to_schema_names() {
    let source = r#"openapi: 3.0.3
info: {title: T, version: '1'}
paths:
  /pets:
    get:
      operationId: listPets
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/ListPetsResponse'}
components:
  schemas:
    ListPetsResponse: {type: object, properties: {n: {type: string}}}
    CircleKind: {type: object, properties: {n: {type: string}}}
    Circle:
      type: object
      properties:
        kind: {type: string, enum: [circle]}
"#;
    let code = generate(source, &settings()).expect("generates");
    assert!(code.contains("pub struct ListPetsResponse {"), "{code}");
    assert!(code.contains("pub enum ListPets2Response {"), "{code}");
    assert!(code.contains("fn list_pets("), "{code}");
    assert!(code.contains("pub kind: Option<CircleKind2>"), "{code}");
}

/// Whatever the names, the generator writes code that parses (it checks)
/// and does not panic.
#[test]
fn any_name_generates() {
    let names = [
        "",
        "_",
        "__",
        "0",
        "9lives",
        "r#type",
        "😀",
        "a😀b",
        "e\u{301}",
        "\u{200d}",
        "ǅemal",
        "ß",
        "İstanbul",
        "日本語",
        "مرحبا",
        "x-",
        "--",
        "Self",
        "super",
        "crate",
        "_self",
        "'",
        "\"quoted\"",
        "back\\slash",
        "tab\there",
        "new\nline",
        "a/b",
        "~0~1",
        "%20",
        "℘",
        "\u{309b}x",
        "Ⅻ",
    ];
    for name in names {
        let pointer = name.replace('~', "~0").replace('/', "~1");
        let paths = json!({"/a": {"post": {
            "operationId": name,
            "requestBody": {"required": true, "content": {"application/json": {
                "schema": {"$ref": format!("#/components/schemas/{pointer}")}
            }}},
            "responses": {"204": {"description": "ok"}},
        }}});
        let schemas = json!({name: {"type": "object", "properties": {
            name: {"type": "string", "enum": [name]},
            format!("{name}x"): {"type": "integer", "default": 1},
        }}});
        if let Err(error) = generate(&document(paths, schemas), &settings()) {
            panic!("{name:?}: {error}");
        }
    }
}
