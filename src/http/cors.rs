//! CORS for the configured origins, with the methods and headers the specs
//! declare: a header parameter, security scheme or response header added to
//! the contract is allowed or exposed to browsers without a second list to
//! keep in step.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use serde_json::Value;
use tower_http::cors::{AllowOrigin, CorsLayer};

use charter_runtime as runtime;

/// What browsers may send and read, as the specs declare it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Declared {
    pub methods: BTreeSet<String>,
    /// Request headers: header parameters, credentials of the security
    /// schemes, `Content-Type` where a request has a body, and the request
    /// id every operation takes.
    pub request_headers: BTreeSet<String>,
    /// Response headers, and the request id every answer carries.
    pub response_headers: BTreeSet<String>,
}

/// Reads `specs` (OpenAPI documents as JSON).
pub fn declared(specs: &[&str]) -> Declared {
    let mut found = Declared::default();
    for text in specs {
        let Ok(spec) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        read_spec(&spec, &mut found);
    }
    found
        .request_headers
        .insert(runtime::REQUEST_ID.as_str().to_owned());
    found
        .response_headers
        .insert(runtime::REQUEST_ID.as_str().to_owned());
    // Chosen by the browser itself; listing them would change nothing.
    found
        .request_headers
        .retain(|name| !name.starts_with("sec-"));
    found
}

fn read_spec(spec: &Value, found: &mut Declared) {
    let resolve = |node: &'_ Value| -> Value {
        let Some(reference) = node.get("$ref").and_then(Value::as_str) else {
            return node.clone();
        };
        let pointer = reference.trim_start_matches('#');
        spec.pointer(pointer).cloned().unwrap_or(Value::Null)
    };
    let lower = |name: &str| name.to_ascii_lowercase();
    let paths = spec.get("paths").and_then(Value::as_object);
    for item in paths.into_iter().flat_map(|paths| paths.values()) {
        let shared = item.get("parameters").and_then(Value::as_array);
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, operation) in item {
            if !matches!(
                method.as_str(),
                "get" | "put" | "post" | "delete" | "patch" | "head" | "options"
            ) {
                continue;
            }
            found.methods.insert(method.to_ascii_uppercase());
            let own = operation.get("parameters").and_then(Value::as_array);
            for parameter in own.into_iter().chain(shared).flatten() {
                let parameter = resolve(parameter);
                if parameter.get("in").and_then(Value::as_str) == Some("header")
                    && let Some(name) = parameter.get("name").and_then(Value::as_str)
                {
                    found.request_headers.insert(lower(name));
                }
            }
            if operation.get("requestBody").is_some() {
                found
                    .request_headers
                    .insert(header::CONTENT_TYPE.as_str().to_owned());
            }
            let responses = operation.get("responses").and_then(Value::as_object);
            for response in responses.into_iter().flat_map(|r| r.values()) {
                let response = resolve(response);
                let headers = response.get("headers").and_then(Value::as_object);
                for name in headers.into_iter().flat_map(|h| h.keys()) {
                    found.response_headers.insert(lower(name));
                }
            }
        }
    }
    let schemes = spec
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object);
    for scheme in schemes.into_iter().flat_map(|s| s.values()) {
        let scheme = resolve(scheme);
        match scheme.get("type").and_then(Value::as_str) {
            Some("http") => {
                found
                    .request_headers
                    .insert(header::AUTHORIZATION.as_str().to_owned());
            }
            Some("apiKey") if scheme.get("in").and_then(Value::as_str) == Some("header") => {
                if let Some(name) = scheme.get("name").and_then(Value::as_str) {
                    found.request_headers.insert(lower(name));
                }
            }
            _ => {}
        }
    }
}

/// CORS for the configured origins only; without any, browsers get no
/// cross-origin access at all.
pub fn layer(origins: &[String], specs: &[&str]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let declared = declared(specs);
    let names = |set: &BTreeSet<String>| -> Vec<HeaderName> {
        set.iter()
            .filter_map(|name| HeaderName::try_from(name.as_str()).ok())
            .collect()
    };
    let methods: Vec<Method> = declared
        .methods
        .iter()
        .filter_map(|method| Method::try_from(method.as_str()).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods(methods)
            .allow_headers(names(&declared.request_headers))
            .expose_headers(names(&declared.response_headers))
            .max_age(Duration::from_secs(600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_specs_declare_what_browsers_need() {
        let declared = declared(&[crate::api::V1_JSON, crate::api::V2_JSON]);
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            assert!(declared.methods.contains(method), "{method}");
        }
        for name in [
            "authorization",
            "content-type",
            "if-match",
            "if-none-match",
            "idempotency-key",
            "x-api-key",
            "last-event-id",
            "x-request-id",
        ] {
            assert!(declared.request_headers.contains(name), "{name}");
        }
        assert!(!declared.request_headers.contains("sec-websocket-protocol"));
        for name in [
            "etag",
            "location",
            "retry-after",
            "ratelimit",
            "ratelimit-policy",
            "x-request-id",
            "sunset",
        ] {
            assert!(declared.response_headers.contains(name), "{name}");
        }
    }

    #[test]
    fn a_header_added_to_a_spec_is_allowed_and_exposed() {
        let spec = serde_json::json!({
            "paths": {"/things": {
                "parameters": [{"$ref": "#/components/parameters/Trace"}],
                "get": {
                    "parameters": [{"name": "X-Tenant", "in": "header"}],
                    "responses": {"200": {"$ref": "#/components/responses/Ok"}}
                }
            }},
            "components": {
                "parameters": {"Trace": {"name": "X-Trace", "in": "header"}},
                "responses": {"Ok": {"headers": {"X-Total-Count": {}}}},
                "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}}
            }
        })
        .to_string();
        let declared = declared(&[&spec]);
        assert_eq!(declared.methods, BTreeSet::from(["GET".to_owned()]));
        for name in ["x-tenant", "x-trace", "x-key", "x-request-id"] {
            assert!(declared.request_headers.contains(name), "{name}");
        }
        assert!(!declared.request_headers.contains("content-type"));
        assert!(declared.response_headers.contains("x-total-count"));
    }
}
