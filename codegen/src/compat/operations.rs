//! Matching the operations of two documents and comparing each pair:
//! `requests.rs` compares parameters and request bodies, `responses.rs`
//! responses, `security.rs` security and deprecation. Paths are matched
//! with their parameter names ignored, as a client's URL does not carry
//! them.

use serde_json::Value;

use super::{Diff, Severity};
use crate::spec::OwnedPath;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `/users/{id}` and `/users/{user_id}` are one path.
fn normalised(route: &str) -> String {
    let mut out = String::with_capacity(route.len());
    let mut in_param = false;
    for c in route.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// `GET /users/{id} (getUser)`.
pub(super) fn label(route: &str, method: &str, operation: &Value) -> String {
    match operation.get("operationId").and_then(Value::as_str) {
        Some(id) => format!("{} {route} ({id})", method.to_ascii_uppercase()),
        None => format!("{} {route}", method.to_ascii_uppercase()),
    }
}

fn paths(root: &Value) -> Vec<(&str, &Value)> {
    root.get("paths")
        .and_then(Value::as_object)
        .map(|paths| paths.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default()
}

/// An operation matched in both documents, with where each part lives.
pub(super) struct Pair<'v> {
    pub old_route: &'v str,
    pub new_route: &'v str,
    pub old_item: &'v Value,
    pub new_item: &'v Value,
    pub old_operation: &'v Value,
    pub new_operation: &'v Value,
    pub old_item_path: OwnedPath,
    pub new_item_path: OwnedPath,
    pub old_path: OwnedPath,
    pub path: OwnedPath,
}

impl Diff<'_> {
    pub(super) fn operations(&mut self) {
        let (old_document, new_document) = (self.old, self.new);
        let old_paths = paths(old_document.root);
        let new_paths = paths(new_document.root);
        for (old_route, old_item) in &old_paths {
            let old_item = old_document.resolve(old_item).0;
            let old_path = OwnedPath::root().key("paths").key(old_route);
            let found = new_paths
                .iter()
                .find(|(route, _)| normalised(route) == normalised(old_route));
            for method in METHODS {
                let Some(old_operation) = old_item.get(*method) else {
                    continue;
                };
                self.operation = Some(label(old_route, method, old_operation));
                let new_operation =
                    found.and_then(|(_, item)| new_document.resolve(item).0.get(*method));
                let Some(new_operation) = new_operation else {
                    let (rule, what) = if found.is_some() {
                        ("operation-removed", "removed")
                    } else {
                        ("path-removed", "removed with its path")
                    };
                    let message = format!(
                        "{} {old_route} {what}; calls to it fail.",
                        method.to_ascii_uppercase()
                    );
                    self.report(rule, Severity::Breaking, &old_path.key(method), message);
                    continue;
                };
                let Some((new_route, new_item)) = found else {
                    continue;
                };
                let new_item = new_document.resolve(new_item).0;
                self.operation = Some(label(new_route, method, new_operation));
                let new_path = OwnedPath::root().key("paths").key(new_route);
                let pair = Pair {
                    old_route,
                    new_route,
                    old_item,
                    new_item,
                    old_operation,
                    new_operation,
                    old_item_path: old_path.clone(),
                    new_item_path: new_path.clone(),
                    old_path: old_path.key(method),
                    path: new_path.key(method),
                };
                self.operation_pair(&pair);
            }
        }
        for (new_route, new_item) in &new_paths {
            let new_item = new_document.resolve(new_item).0;
            let old_item = old_paths
                .iter()
                .find(|(route, _)| normalised(route) == normalised(new_route))
                .map(|(_, item)| old_document.resolve(item).0);
            for method in METHODS {
                let Some(new_operation) = new_item.get(*method) else {
                    continue;
                };
                if old_item.is_some_and(|item| item.get(*method).is_some()) {
                    continue;
                }
                self.operation = Some(label(new_route, method, new_operation));
                let path = OwnedPath::root().key("paths").key(new_route).key(method);
                let message = format!("{} {new_route} added.", method.to_ascii_uppercase());
                self.report("operation-added", Severity::NonBreaking, &path, message);
            }
        }
        self.operation = None;
    }

    fn operation_pair(&mut self, pair: &Pair<'_>) {
        let (old_id, new_id) = (
            pair.old_operation
                .get("operationId")
                .and_then(Value::as_str),
            pair.new_operation
                .get("operationId")
                .and_then(Value::as_str),
        );
        if old_id != new_id {
            let message = format!(
                "operationId changed from {} to {}; it names the method of generated clients.",
                old_id.map_or("none".to_owned(), |id| format!("`{id}`")),
                new_id.map_or("none".to_owned(), |id| format!("`{id}`")),
            );
            let path = pair.path.key("operationId");
            self.report("operation-id-changed", Severity::Breaking, &path, message);
        }
        if pair.old_route != pair.new_route {
            let message = format!(
                "Path parameters renamed (`{}` is now `{}`); URLs are unchanged, generated clients' argument names change.",
                pair.old_route, pair.new_route
            );
            let path = OwnedPath::root().key("paths").key(pair.new_route);
            self.report("path-parameter-renamed", Severity::Info, &path, message);
        }
        self.parameters(pair);
        self.request_body(pair);
        self.responses(pair);
        self.security(pair);
        self.deprecation(pair);
    }
}
