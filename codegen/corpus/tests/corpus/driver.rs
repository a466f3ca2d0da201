//! Makes up one request per operation of a document, sends it to the
//! generated router and judges the answer (see `tests/corpus.rs`): a JSON
//! body is checked against the document's schema for it.

use axum::body::Body;
use axum::http::{Request, header};
use charter_codegen::sample_value;
use charter_runtime::{Authenticator, Credential, Problem, RequestContext};
use http_body_util::BodyExt;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use tower::ServiceExt;

/// Accepts every credential: what is checked here is the router.
#[derive(Clone)]
pub struct Anyone;

impl Authenticator for Anyone {
    type Principal = ();

    async fn authenticate(&self, _: &RequestContext, _: Credential<'_>) -> Result<(), Problem> {
        Ok(())
    }
}

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Sends a request per operation of the document at `path` to `router`;
/// fails with every operation answered otherwise than expected.
pub async fn drive(path: &str, warnings: &str, router: axum::Router) {
    let source = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let document = charter_codegen::load(&source).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut answered = 0;
    let mut unchecked = 0;
    let mut checked = 0;
    let mut refused = Vec::new();
    let mut failures = Vec::new();
    let paths = document["paths"].as_object().expect("paths");
    for (route, item) in paths {
        for method in METHODS {
            let Some(operation) = item.get(*method) else {
                continue;
            };
            let request = Request::builder().method(method.to_ascii_uppercase().as_str());
            let shared = item.get("parameters");
            let made = Made::new(&document, route, shared, operation);
            let request = made.request(request);
            let expected = expected_status(operation);
            let response = router.clone().oneshot(request).await.expect("infallible");
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let text = String::from_utf8_lossy(&body);
            let what = format!("{} {route}", method.to_ascii_uppercase());
            if status == expected {
                let json =
                    content_type.starts_with("application/json") || content_type.contains("+json");
                let pointer = format!("/paths/{}/{method}", escape(route));
                match (json, serde_json::from_slice::<Value>(&body)) {
                    (false, _) => answered += 1,
                    (true, Err(_)) => {
                        failures.push(format!(
                            "{what}: {status} with a body that is not JSON: {text}"
                        ));
                    }
                    (true, Ok(value)) => {
                        match conforms(&document, &pointer, status, &content_type, &value) {
                            Some(Err(why)) => {
                                failures.push(format!("{what}: {status}: {why}: {text}"))
                            }
                            Some(Ok(())) => {
                                checked += 1;
                                answered += 1;
                            }
                            None => {
                                unchecked += 1;
                                answered += 1;
                            }
                        }
                    }
                }
            } else if status == 422
                && content_type == "application/problem+json"
                && text.contains("\"VALIDATION_FAILED\"")
                && made.has_pattern
            {
                refused.push(format!("{what}: {status} {text}"));
            } else {
                failures.push(format!(
                    "{what}: {status} where {expected} was expected: {text}\n  request: {}",
                    made.describe()
                ));
            }
        }
    }
    eprintln!(
        "{path}: {answered} operations answered as documented ({checked} JSON bodies valid \
         against their schemas, {unchecked} with a \
         body the document gives no checkable schema: a problem for an operation that \
         documents only errors, or a recursive schema), {} refused as invalid \
         (a `pattern` the made-up value misses), {} warnings",
        refused.len(),
        warnings.lines().count()
    );
    for line in &refused {
        eprintln!("  refused: {line}");
    }
    assert!(
        failures.is_empty(),
        "{path}: {} of {} operations answered otherwise:\n{}",
        failures.len(),
        answered + refused.len() + failures.len(),
        failures.join("\n")
    );
    assert!(answered > 0, "{path}: no operation answered as documented");
}

/// Whether `body`, answered with `status` and `content_type` by the
/// operation at `pointer`, is valid against the schema the document gives
/// it; `None` when it gives none, or one that cannot be checked (recursive).
fn conforms(
    document: &Value,
    pointer: &str,
    status: u16,
    content_type: &str,
    body: &Value,
) -> Option<Result<(), String>> {
    let responses = document.pointer(&format!("{pointer}/responses"))?;
    let code = status.to_string();
    let mut at = match responses.get(&code) {
        Some(_) => format!("{pointer}/responses/{code}"),
        None => format!("{pointer}/responses/default"),
    };
    if let Some(target) = document
        .pointer(&at)
        .and_then(|r| r.get("$ref"))
        .and_then(Value::as_str)
    {
        at = target.trim_start_matches('#').to_owned();
    }
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let schema_at = format!("{at}/content/{}/schema", escape(essence));
    document.pointer(&schema_at)?;
    let schema = match charter_codegen::json_schema_at(document, &schema_at) {
        Ok(schema) => schema,
        // Request validation refuses recursive schemas too.
        Err(error) if error.message.contains("recursive") => return None,
        Err(error) => return Some(Err(format!("the schema does not convert: {error}"))),
    };
    let validator = match jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
    {
        Ok(validator) => validator,
        Err(error) => return Some(Err(format!("the schema does not compile: {error}"))),
    };
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    Some(if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the body does not match its schema: {}",
            errors.join("; ")
        ))
    })
}

/// A JSON pointer token (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The status the mock answers `operation` with: its first 2xx, else its
/// first 1xx or 3xx, else 200 for a `default` response, else its first
/// documented error.
fn expected_status(operation: &Value) -> u16 {
    let codes: Vec<&String> = operation["responses"]
        .as_object()
        .map(|r| r.keys().collect())
        .unwrap_or_default();
    let numeric: Vec<u16> = codes.iter().filter_map(|c| c.parse().ok()).collect();
    numeric
        .iter()
        .find(|s| (200..300).contains(*s))
        .or_else(|| numeric.iter().find(|s| **s < 400))
        .copied()
        .or_else(|| codes.iter().any(|c| *c == "default").then_some(200))
        .or_else(|| numeric.first().copied())
        .unwrap_or(501)
}

/// A request made up from one operation.
struct Made {
    uri: String,
    headers: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
    /// Some input it sends is constrained by a `pattern`.
    has_pattern: bool,
}

impl Made {
    fn new(document: &Value, route: &str, shared: Option<&Value>, operation: &Value) -> Made {
        let mut made = Made {
            uri: route.to_owned(),
            headers: Vec::new(),
            body: None,
            has_pattern: false,
        };
        let mut query = Vec::new();
        for parameter in parameters(document, shared, operation) {
            let name = parameter["name"].as_str().unwrap_or_default();
            let location = parameter["in"].as_str().unwrap_or_default();
            let required = parameter["required"].as_bool() == Some(true);
            if location != "path" && !required {
                continue;
            }
            let (value, encoded_json) = match parameter.get("schema") {
                Some(schema) => {
                    made.has_pattern |= mentions_pattern(document, schema, 0);
                    (sample_value(document, schema), false)
                }
                None => {
                    let schema = parameter
                        .get("content")
                        .and_then(Value::as_object)
                        .and_then(|c| c.values().next())
                        .and_then(|m| m.get("schema"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    made.has_pattern |= mentions_pattern(document, &schema, 0);
                    (sample_value(document, &schema), true)
                }
            };
            let style = parameter["style"].as_str();
            let explode = parameter["explode"].as_bool().unwrap_or(
                matches!(style, None | Some("form")) && location != "path" && location != "header",
            );
            match location {
                "path" => {
                    let text = if encoded_json {
                        value.to_string()
                    } else {
                        render(&value, ",")
                    };
                    let text = utf8_percent_encode(&text, NON_ALPHANUMERIC).to_string();
                    made.uri = made.uri.replace(&format!("{{{name}}}"), &text);
                }
                "query" => query.extend(query_pairs(name, &value, style, explode, encoded_json)),
                "header" => {
                    let text = if encoded_json {
                        value.to_string()
                    } else {
                        render(&value, ",")
                    };
                    made.headers.push((name.to_owned(), text));
                }
                _ => {}
            }
        }
        if !query.is_empty() {
            let pairs: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        utf8_percent_encode(k, NON_ALPHANUMERIC),
                        utf8_percent_encode(v, NON_ALPHANUMERIC)
                    )
                })
                .collect();
            made.uri = format!("{}?{}", made.uri, pairs.join("&"));
        }
        made.headers.extend(credentials(document, operation));
        if let Some(body) = operation.get("requestBody") {
            let body = resolve(document, body);
            if let Some((essence, media)) = body
                .get("content")
                .and_then(Value::as_object)
                .and_then(|c| c.iter().next())
            {
                let schema = media.get("schema").cloned().unwrap_or(Value::Null);
                made.has_pattern |= mentions_pattern(document, &schema, 0);
                let value = sample_value(document, &schema);
                made.body = Some(body_of(essence, &value));
            }
        }
        made
    }

    fn request(&self, mut builder: axum::http::request::Builder) -> Request<Body> {
        builder = builder.uri(&self.uri);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let body = match &self.body {
            Some((content_type, bytes)) => {
                builder = builder.header(header::CONTENT_TYPE, content_type.as_str());
                Body::from(bytes.clone())
            }
            None => Body::empty(),
        };
        builder
            .body(body)
            .expect("a request made up from the document")
    }

    fn describe(&self) -> String {
        let body = self.body.as_ref().map(|(content_type, bytes)| {
            format!(" {content_type} {}", String::from_utf8_lossy(bytes))
        });
        format!(
            "{} {:?}{}",
            self.uri,
            self.headers,
            body.unwrap_or_default()
        )
    }
}

/// The operation's parameters with the path item's it does not override.
fn parameters(document: &Value, shared: Option<&Value>, operation: &Value) -> Vec<Value> {
    let own: Vec<Value> = list(operation.get("parameters"))
        .map(|p| resolve(document, p).clone())
        .collect();
    let mut all = own.clone();
    for parameter in list(shared).map(|p| resolve(document, p)) {
        let overridden = own
            .iter()
            .any(|o| o["name"] == parameter["name"] && o["in"] == parameter["in"]);
        if !overridden {
            all.push(parameter.clone());
        }
    }
    all
}

fn list(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_array).into_iter().flatten()
}

fn resolve<'a>(document: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match node.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                node = document
                    .pointer(reference.trim_start_matches('#'))
                    .unwrap_or(&Value::Null);
            }
            None => break,
        }
    }
    node
}

/// Whether a `pattern` constrains the schema anywhere.
fn mentions_pattern(document: &Value, schema: &Value, depth: usize) -> bool {
    if depth > 24 {
        return false;
    }
    match resolve(document, schema) {
        Value::Object(fields) => fields.iter().any(|(key, value)| {
            key == "pattern" && value.is_string() || mentions_pattern(document, value, depth + 1)
        }),
        Value::Array(items) => items
            .iter()
            .any(|item| mentions_pattern(document, item, depth + 1)),
        _ => false,
    }
}

/// A scalar as text; an array's items joined by `delimiter`.
fn render(value: &Value, delimiter: &str) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| render(item, delimiter))
            .collect::<Vec<_>>()
            .join(delimiter),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The query pairs of one parameter, as its style writes them.
fn query_pairs(
    name: &str,
    value: &Value,
    style: Option<&str>,
    explode: bool,
    encoded_json: bool,
) -> Vec<(String, String)> {
    if encoded_json {
        return vec![(name.to_owned(), value.to_string())];
    }
    match (value, style) {
        (Value::Array(items), _) if explode => items
            .iter()
            .map(|item| (name.to_owned(), render(item, ",")))
            .collect(),
        (Value::Array(_), Some("spaceDelimited")) => vec![(name.to_owned(), render(value, " "))],
        (Value::Array(_), Some("pipeDelimited")) => vec![(name.to_owned(), render(value, "|"))],
        (Value::Object(fields), Some("deepObject")) => fields
            .iter()
            .map(|(key, field)| (format!("{name}[{key}]"), render(field, ",")))
            .collect(),
        (Value::Object(fields), _) if explode => fields
            .iter()
            .map(|(key, field)| (key.clone(), render(field, ",")))
            .collect(),
        (Value::Object(fields), _) => {
            let flat: Vec<String> = fields
                .iter()
                .flat_map(|(key, field)| [key.clone(), render(field, ",")])
                .collect();
            vec![(name.to_owned(), flat.join(","))]
        }
        _ => vec![(name.to_owned(), render(value, ","))],
    }
}

/// Headers presenting a credential for the operation's first security
/// alternative (none when anonymous access is one).
fn credentials(document: &Value, operation: &Value) -> Vec<(String, String)> {
    let security = operation
        .get("security")
        .or_else(|| document.get("security"))
        .and_then(Value::as_array);
    let Some(alternatives) = security else {
        return Vec::new();
    };
    if alternatives
        .iter()
        .any(|a| a.as_object().is_some_and(|a| a.is_empty()))
    {
        return Vec::new();
    }
    let Some(first) = alternatives.first().and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut headers = Vec::new();
    for name in first.keys() {
        let scheme = &document["components"]["securitySchemes"][name];
        let scheme = resolve(document, scheme);
        match (scheme["type"].as_str(), scheme["scheme"].as_str()) {
            (Some("http"), Some(kind)) if kind.eq_ignore_ascii_case("basic") => {
                headers.push(("authorization".into(), "Basic dXNlcjpwYXNzd29yZA==".into()));
            }
            (Some("apiKey"), _) if scheme["in"] == "header" => {
                let header = scheme["name"].as_str().unwrap_or("x-api-key");
                headers.push((header.to_owned(), "key".into()));
            }
            _ => headers.push(("authorization".into(), "Bearer token".into())),
        }
    }
    headers
}

/// The content type and bytes of a body of media type `essence` holding
/// `value`.
fn body_of(essence: &str, value: &Value) -> (String, Vec<u8>) {
    let json = essence == "application/json" || essence.ends_with("+json");
    if json {
        return (essence.to_owned(), value.to_string().into_bytes());
    }
    match essence {
        "application/x-www-form-urlencoded" => {
            let mut pairs = Vec::new();
            for (key, field) in value.as_object().into_iter().flatten() {
                for item in items_of(field) {
                    pairs.push(format!(
                        "{}={}",
                        utf8_percent_encode(key, NON_ALPHANUMERIC),
                        utf8_percent_encode(&render(item, ","), NON_ALPHANUMERIC)
                    ));
                }
            }
            (essence.to_owned(), pairs.join("&").into_bytes())
        }
        "multipart/form-data" => {
            const BOUNDARY: &str = "corpus-boundary";
            let mut body = String::new();
            for (key, field) in value.as_object().into_iter().flatten() {
                for item in items_of(field) {
                    body.push_str(&format!(
                        "--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"{key}\"\r\n\r\n{}\r\n",
                        render(item, ",")
                    ));
                }
            }
            body.push_str(&format!("--{BOUNDARY}--\r\n"));
            (
                format!("multipart/form-data; boundary={BOUNDARY}"),
                body.into_bytes(),
            )
        }
        _ if essence.starts_with("text/") => {
            let text = value.as_str().unwrap_or("sample");
            let essence = if essence == "text/*" {
                "text/plain"
            } else {
                essence
            };
            (essence.to_owned(), text.as_bytes().to_vec())
        }
        _ if essence.ends_with("/xml") => (essence.to_owned(), b"<sample/>".to_vec()),
        "*/*" => ("application/octet-stream".to_owned(), b"sample".to_vec()),
        _ => {
            let essence = essence.replace("/*", "/octet-stream");
            (essence, b"sample".to_vec())
        }
    }
}

/// A form field's values: an array's items, or the value itself.
fn items_of(field: &Value) -> Vec<&Value> {
    match field {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}
