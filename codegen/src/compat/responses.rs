//! An operation's responses: success statuses, headers and bodies.

use serde_json::Value;

use super::constraints::flag;
use super::document::Document;
use super::operations::Pair;
use super::schema::{Direction, Site, Subject};
use super::{Diff, Severity};
use crate::spec::OwnedPath;

impl Diff<'_> {
    pub(super) fn responses(&mut self, pair: &Pair<'_>) {
        let (old_document, new_document) = (self.old, self.new);
        let empty = serde_json::Map::new();
        let before = pair
            .old_operation
            .get("responses")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let after = pair
            .new_operation
            .get("responses")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let path = pair.path.key("responses");
        let success = |code: &str| code.starts_with(['1', '2', '3']);
        let removed: Vec<&str> = before
            .keys()
            .map(String::as_str)
            .filter(|c| !after.contains_key(*c))
            .collect();
        let added: Vec<&str> = after
            .keys()
            .map(String::as_str)
            .filter(|c| !before.contains_key(*c))
            .collect();
        let mut added_success: Vec<&str> = added.iter().copied().filter(|c| success(c)).collect();
        for code in &removed {
            if !success(code) {
                let message = format!("Error response {code} no longer documented.");
                self.report(
                    "response-error-status-removed",
                    Severity::Info,
                    &pair.old_path.key("responses").key(code),
                    message,
                );
                continue;
            }
            if added_success.is_empty() {
                let message = format!(
                    "Success status {code} removed; clients that expect it get another answer."
                );
                self.report(
                    "response-status-removed",
                    Severity::Breaking,
                    &pair.old_path.key("responses").key(code),
                    message,
                );
            } else {
                let replacement = added_success.remove(0);
                let message = format!(
                    "Success status changed from {code} to {replacement}; clients that check for {code} see an unexpected status."
                );
                self.report(
                    "response-status-changed",
                    Severity::Breaking,
                    &path.key(replacement),
                    message,
                );
            }
        }
        for code in added {
            let (rule, severity, message) = if !success(code) {
                (
                    "response-error-status-added",
                    Severity::Info,
                    format!("Error response {code} documented."),
                )
            } else if added_success.contains(&code) {
                (
                    "response-status-added",
                    Severity::NonBreaking,
                    format!("Success status {code} added."),
                )
            } else {
                continue;
            };
            self.report(rule, severity, &path.key(code), message);
        }
        for (code, old_response) in before {
            let Some(new_response) = after.get(code) else {
                continue;
            };
            let old_response = old_document.resolve(old_response).0;
            let new_response = new_document.resolve(new_response).0;
            let response_path = path.key(code);
            self.headers(code, old_response, new_response, &response_path);
            let subject = format!("the {code} response body");
            self.content(
                old_response,
                new_response,
                &response_path,
                Direction::Response,
                &subject,
            );
        }
    }

    fn headers(&mut self, code: &str, before: &Value, after: &Value, path: &OwnedPath) {
        let (old_document, new_document) = (self.old, self.new);
        let collect = |document: &Document<'_>, response: &Value| -> Vec<(String, String, Value)> {
            response
                .get("headers")
                .and_then(Value::as_object)
                .map(|headers| {
                    headers
                        .iter()
                        .map(|(name, header)| {
                            (
                                name.to_ascii_lowercase(),
                                name.clone(),
                                document.resolve(header).0.clone(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let old_headers = collect(&old_document, before);
        let new_headers = collect(&new_document, after);
        let headers_path = path.key("headers");
        for (key, name, old_header) in &old_headers {
            let Some((_, new_name, new_header)) = new_headers.iter().find(|(k, _, _)| k == key)
            else {
                let message = format!(
                    "Response header `{name}` removed from {code}; clients that read it find it missing."
                );
                self.report(
                    "response-header-removed",
                    Severity::Breaking,
                    &headers_path.key(name),
                    message,
                );
                continue;
            };
            let header_path = headers_path.key(new_name);
            match (flag(old_header, "required"), flag(new_header, "required")) {
                (true, false) => {
                    let message = format!(
                        "Response header `{name}` of {code} made optional; clients that expect it may not find it."
                    );
                    self.report(
                        "response-header-made-optional",
                        Severity::Breaking,
                        &header_path.key("required"),
                        message,
                    );
                }
                (false, true) => {
                    let message = format!("Response header `{name}` of {code} now always sent.");
                    self.report(
                        "response-header-made-required",
                        Severity::NonBreaking,
                        &header_path.key("required"),
                        message,
                    );
                }
                _ => {}
            }
            if key != "sunset"
                && old_header.get("x-charter-value") != new_header.get("x-charter-value")
            {
                let message = format!("Response header `{name}` of {code} has a new fixed value.");
                self.report(
                    "response-header-value-changed",
                    Severity::Info,
                    &header_path.key("x-charter-value"),
                    message,
                );
            }
            if let (Some(old_schema), Some(new_schema)) =
                (old_header.get("schema"), new_header.get("schema"))
            {
                let subject = Subject::new(format!("response header `{name}` of {code}"));
                self.schema(
                    old_schema,
                    new_schema,
                    &Site::new(Direction::Response, header_path.key("schema"), subject),
                );
            }
        }
        for (key, name, _) in &new_headers {
            if old_headers.iter().any(|(k, _, _)| k == key) {
                continue;
            }
            let message = format!("Response header `{name}` added to {code}.");
            self.report(
                "response-header-added",
                Severity::NonBreaking,
                &headers_path.key(name),
                message,
            );
        }
    }
}
