//! One raw request per operation of a generated operation table, built from
//! the spec: path parameters filled with valid values of their type, required
//! query and header parameters and the JSON body (where the operation takes
//! one) made of the spec's examples. For properties that must hold for every
//! operation, such as refusing a caller without credentials.

use std::collections::BTreeSet;

use charter::runtime::OperationInfo;
use serde_json::{Map, Value};

use super::TestServer;

/// A request for one operation, valid for the spec but for its credentials.
pub struct Probe {
    pub operation: &'static OperationInfo,
    /// The request path, its parameters filled in.
    pub path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

/// Whether `operation` admits no caller without credentials: it declares
/// security, and none of its alternatives is the empty one ("anonymous
/// allowed").
pub fn requires_credentials(operation: &OperationInfo) -> bool {
    !operation.security.is_empty() && operation.security.iter().all(|schemes| !schemes.is_empty())
}

/// Whether `operation` is served over WebSocket (`x-dropshot-websocket`).
pub fn is_websocket(operation: &OperationInfo) -> bool {
    operation
        .extensions
        .iter()
        .any(|(name, _)| *name == "x-dropshot-websocket")
}

/// A probe for every operation of `table`, in table order; `spec` is the
/// YAML document the table was generated from.
pub fn probes(spec: &str, table: &'static [OperationInfo]) -> Vec<Probe> {
    let spec: Value = serde_yaml::from_str(spec).expect("the spec parses");
    table.iter().map(|op| probe(&spec, op)).collect()
}

fn probe(spec: &Value, operation: &'static OperationInfo) -> Probe {
    let item = &spec["paths"][operation.route];
    let declared = &item[operation.method.to_ascii_lowercase()];
    assert!(
        declared.is_object(),
        "{} {} ({}) is not in the spec",
        operation.method,
        operation.route,
        operation.operation_id
    );
    let mut probe = Probe {
        operation,
        path: operation.route.to_owned(),
        query: Vec::new(),
        headers: Vec::new(),
        body: None,
    };
    let parameters = [&item["parameters"], &declared["parameters"]];
    for parameter in parameters.into_iter().filter_map(Value::as_array).flatten() {
        let parameter = resolve(spec, parameter);
        let name = parameter["name"].as_str().expect("parameter name");
        let location = parameter["in"].as_str().expect("parameter location");
        if location == "path" {
            probe.path = probe
                .path
                .replace(&format!("{{{name}}}"), &parameter_value(spec, parameter));
        } else if parameter["required"] == true {
            let value = parameter_value(spec, parameter);
            match location {
                "query" => probe.query.push((name.to_owned(), value)),
                "header" => probe.headers.push((name.to_owned(), value)),
                other => panic!("{}: a required {other} parameter", operation.operation_id),
            }
        }
    }
    assert!(
        !probe.path.contains('{'),
        "{}: unfilled path parameters in {}",
        operation.operation_id,
        probe.path
    );
    if declared.get("requestBody").is_some() {
        let body = resolve(spec, &declared["requestBody"]);
        let schema = &body["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{}: a request body that is not JSON",
            operation.operation_id
        );
        probe.body = Some(instance(spec, schema));
    }
    probe
}

/// `value`, or what its `$ref` points at.
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local $ref");
            resolve(
                spec,
                spec.pointer(pointer)
                    .unwrap_or_else(|| panic!("{reference} is not in the spec")),
            )
        }
        None => value,
    }
}

/// A valid value for a parameter: a fresh UUID for a UUID, else its example.
fn parameter_value(spec: &Value, parameter: &Value) -> String {
    let schema = resolve(spec, &parameter["schema"]);
    if schema["format"] == "uuid" {
        return uuid::Uuid::new_v4().to_string();
    }
    match parameter.get("example").or_else(|| schema.get("example")) {
        Some(Value::String(text)) => text.clone(),
        Some(example) => example.to_string(),
        None => match instance(spec, schema) {
            Value::String(text) => text,
            other => other.to_string(),
        },
    }
}

/// A small valid instance of `schema`: its example, else its first allowed
/// value, else an object of its required properties (or of its first
/// property when it requires none but some).
fn instance(spec: &Value, schema: &Value) -> Value {
    let schema = resolve(spec, schema);
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|values| values.first()) {
        return first.clone();
    }
    let at_least = |key: &str, floor: u64| schema[key].as_u64().unwrap_or(0).max(floor);
    match schema["type"].as_str() {
        Some("object") => {
            let properties = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let mut names: Vec<&String> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|name| {
                    let name = name.as_str().expect("a property name");
                    properties
                        .get_key_value(name)
                        .expect("a declared property")
                        .0
                })
                .collect();
            if names.is_empty() && at_least("minProperties", 0) > 0 {
                names.extend(properties.keys().next());
            }
            let object: Map<String, Value> = names
                .into_iter()
                .map(|name| (name.clone(), instance(spec, &properties[name])))
                .collect();
            Value::Object(object)
        }
        Some("array") => Value::Array(vec![
            instance(spec, &schema["items"]);
            usize::try_from(at_least("minItems", 0))
                .expect("an item count")
        ]),
        Some("string") => {
            Value::String("x".repeat(usize::try_from(at_least("minLength", 1)).expect("a length")))
        }
        Some("integer" | "number") => schema
            .get("minimum")
            .cloned()
            .unwrap_or_else(|| Value::from(1)),
        Some("boolean") => Value::Bool(false),
        _ => panic!("no instance for the schema {schema}"),
    }
}

impl Probe {
    /// The request, with `bearer` as its only credential when given.
    pub fn request(&self, server: &TestServer, bearer: Option<&str>) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(self.operation.method.as_bytes()).expect("method");
        let mut request = server
            .raw()
            .request(method, server.url(&self.path))
            .query(&self.query);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if is_websocket(self.operation) {
            request = request
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                .header("sec-websocket-protocol", "charter.v2");
        }
        if let Some(body) = &self.body {
            request = request.json(body);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request
    }
}

/// Sends every operation of `table` that requires credentials without any,
/// and returns each operation with its response, for the version's own
/// checks of the refusal.
///
/// On the way it makes sure the walk cannot pass by itself: the table is not
/// empty; of the operations named, those in `open` are not refused and those
/// in `secured` are; operations that admit anonymous callers are sent
/// anonymously too and are not refused; and every refused request is well
/// formed: sent with the access token of a new user (v1 and v2 accept the
/// same tokens), the same request gets past authentication and validation
/// (neither 401 nor 400, 415, 422, nor a server error).
/// Operations without security are not sent (login and refresh refuse
/// unknown credentials with 401 of their own).
pub async fn refusals_of_anonymous_calls(
    server: &TestServer,
    spec: &str,
    table: &'static [OperationInfo],
    open: &[&str],
    secured: &[&str],
) -> Vec<(Probe, reqwest::Response)> {
    assert!(!table.is_empty(), "the operation table is empty");
    let bearer = server.user("Prober").await.access_token;
    let mut refused = Vec::new();
    for probe in probes(spec, table) {
        let op = probe.operation;
        let what = format!("{} {} ({})", op.method, probe.path, op.operation_id);
        if op.security.is_empty() {
            continue;
        }
        let anonymous = probe
            .request(server, None)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        if !requires_credentials(op) {
            assert_ne!(
                anonymous.status().as_u16(),
                401,
                "{what} admits anonymous callers"
            );
            if is_websocket(op) {
                assert_eq!(anonymous.status().as_u16(), 101, "{what}: {anonymous:?}");
            }
            continue;
        }
        let authenticated = probe
            .request(server, Some(&bearer))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = authenticated.status().as_u16();
        if matches!(status, 400 | 401 | 415 | 422) || status >= 500 {
            // Read only a refusal: a success may be an endless stream.
            let body = authenticated.text().await.unwrap_or_default();
            panic!(
                "{what} with a bearer token got {status}, so the anonymous request is not \
                 otherwise valid: {body}"
            );
        }
        refused.push((probe, anonymous));
    }
    let ids: BTreeSet<&str> = refused
        .iter()
        .map(|(probe, _)| probe.operation.operation_id)
        .collect();
    for id in open {
        assert!(!ids.contains(id), "{id} was refused: {ids:?}");
    }
    for id in secured {
        assert!(ids.contains(id), "{id} was not refused: {ids:?}");
    }
    refused
}
