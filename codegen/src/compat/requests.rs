//! An operation's parameters (added, removed, renamed, moved, made required,
//! restyled, their schemas) and request body.

use serde_json::Value;

use super::constraints::flag;
use super::document::{Document, same_shape};
use super::operations::Pair;
use super::schema::{Direction, Site, Subject, capitalised};
use super::{Diff, Severity};
use crate::spec::OwnedPath;

/// One parameter as a request sees it.
struct Parameter<'v> {
    /// `(in, name)`, the name lower-cased for headers and replaced by the
    /// position for path parameters.
    key: (String, String),
    name: &'v str,
    location: &'v str,
    value: &'v Value,
    path: OwnedPath,
}

impl Parameter<'_> {
    fn required(&self) -> bool {
        self.location == "path" || flag(self.value, "required")
    }

    fn describe(&self) -> String {
        format!("{} parameter `{}`", self.location, self.name)
    }
}

/// The parameters of an operation: the path item's, overridden by the
/// operation's own of the same name and location.
fn parameters<'v>(
    document: &Document<'v>,
    route: &str,
    item: &'v Value,
    item_path: &OwnedPath,
    operation: &'v Value,
    operation_path: &OwnedPath,
) -> Vec<Parameter<'v>> {
    let template: Vec<&str> = route
        .split('/')
        .filter(|s| s.starts_with('{'))
        .map(|s| s.trim_matches(|c| c == '{' || c == '}'))
        .collect();
    let mut out: Vec<Parameter<'v>> = Vec::new();
    for (list, path) in [(item, item_path), (operation, operation_path)] {
        let Some(entries) = list.get("parameters").and_then(Value::as_array) else {
            continue;
        };
        for (index, raw) in entries.iter().enumerate() {
            let (value, _) = document.resolve(raw);
            let (Some(name), Some(location)) = (
                value.get("name").and_then(Value::as_str),
                value.get("in").and_then(Value::as_str),
            ) else {
                continue;
            };
            let key_name = match location {
                "header" => name.to_ascii_lowercase(),
                "path" => template
                    .iter()
                    .position(|p| *p == name)
                    .map_or_else(|| name.to_owned(), |i| format!("#{i}")),
                _ => name.to_owned(),
            };
            let parameter = Parameter {
                key: (location.to_owned(), key_name),
                name,
                location,
                value,
                path: path.key("parameters").index(index),
            };
            match out.iter_mut().find(|p| p.key == parameter.key) {
                Some(existing) => *existing = parameter,
                None => out.push(parameter),
            }
        }
    }
    out
}

impl Diff<'_> {
    pub(super) fn parameters(&mut self, pair: &Pair<'_>) {
        let (old_document, new_document) = (self.old, self.new);
        let before = parameters(
            &old_document,
            pair.old_route,
            pair.old_item,
            &pair.old_item_path,
            pair.old_operation,
            &pair.old_path,
        );
        let after = parameters(
            &new_document,
            pair.new_route,
            pair.new_item,
            &pair.new_item_path,
            pair.new_operation,
            &pair.path,
        );
        let mut added: Vec<&Parameter<'_>> = after
            .iter()
            .filter(|p| !before.iter().any(|o| o.key == p.key))
            .collect();
        for old in &before {
            if let Some(new) = after.iter().find(|p| p.key == old.key) {
                self.parameter_pair(old, new);
                continue;
            }
            let moved = added
                .iter()
                .position(|p| p.name.eq_ignore_ascii_case(old.name) && p.location != old.location);
            if let Some(index) = moved {
                let new = added.remove(index);
                let message = format!(
                    "{} moved to the {}; the server no longer reads it where clients of the old contract send it.",
                    capitalised(&old.describe()),
                    new.location
                );
                self.report(
                    "request-parameter-moved",
                    Severity::Breaking,
                    &new.path,
                    message,
                );
                continue;
            }
            let renamed = added.iter().position(|p| {
                p.location == old.location
                    && p.required() == old.required()
                    && same_shape(
                        p.value.get("schema").unwrap_or(&Value::Null),
                        old.value.get("schema").unwrap_or(&Value::Null),
                    )
            });
            if let Some(index) = renamed {
                let new = added.remove(index);
                let message = format!(
                    "{} renamed to `{}`; clients of the old contract send `{}`.",
                    capitalised(&old.describe()),
                    new.name,
                    old.name
                );
                self.report(
                    "request-parameter-renamed",
                    Severity::Breaking,
                    &new.path,
                    message,
                );
                continue;
            }
            let message = format!(
                "{} removed; the server now ignores it.",
                capitalised(&old.describe())
            );
            self.report(
                "request-parameter-removed",
                Severity::NonBreaking,
                &old.path,
                message,
            );
        }
        for new in added {
            let described = capitalised(&new.describe());
            if new.required() {
                let message =
                    format!("{described} added as required; requests without it are refused.");
                self.report(
                    "request-parameter-added-required",
                    Severity::Breaking,
                    &new.path,
                    message,
                );
            } else {
                let message = format!("{described} added as optional.");
                self.report(
                    "request-parameter-added",
                    Severity::NonBreaking,
                    &new.path,
                    message,
                );
            }
        }
    }

    fn parameter_pair(&mut self, old: &Parameter<'_>, new: &Parameter<'_>) {
        let described = capitalised(&new.describe());
        match (old.required(), new.required()) {
            (false, true) => {
                let message =
                    format!("{described} made required; requests without it are refused.");
                self.report(
                    "request-parameter-made-required",
                    Severity::Breaking,
                    &new.path.key("required"),
                    message,
                );
            }
            (true, false) => {
                let message = format!("{described} made optional.");
                self.report(
                    "request-parameter-made-optional",
                    Severity::NonBreaking,
                    &new.path.key("required"),
                    message,
                );
            }
            _ => {}
        }
        for key in ["style", "explode"] {
            if old.value.get(key) != new.value.get(key) {
                let message = format!(
                    "{described}: `{key}` changed; clients of the old contract serialise it differently."
                );
                self.report(
                    "request-parameter-style-changed",
                    Severity::Breaking,
                    &new.path.key(key),
                    message,
                );
            }
        }
        if let (Some(before), Some(after)) = (old.value.get("schema"), new.value.get("schema")) {
            let subject = Subject::new(new.describe());
            self.schema(
                before,
                after,
                &Site::new(Direction::Request, new.path.key("schema"), subject),
            );
        }
    }

    pub(super) fn request_body(&mut self, pair: &Pair<'_>) {
        let (old_document, new_document) = (self.old, self.new);
        let before = pair
            .old_operation
            .get("requestBody")
            .map(|b| old_document.resolve(b).0);
        let after = pair
            .new_operation
            .get("requestBody")
            .map(|b| new_document.resolve(b).0);
        let path = pair.path.key("requestBody");
        let (before, after) = match (before, after) {
            (None, None) => return,
            (None, Some(after)) => {
                if flag(after, "required") {
                    let message = "A required request body added; requests without it are refused.";
                    self.report(
                        "request-body-added-required",
                        Severity::Breaking,
                        &path,
                        message,
                    );
                } else {
                    let message = "An optional request body added.";
                    self.report("request-body-added", Severity::NonBreaking, &path, message);
                }
                return;
            }
            (Some(_), None) => {
                let message = "The request body removed; the operation no longer reads what clients of the old contract send.";
                self.report(
                    "request-body-removed",
                    Severity::Breaking,
                    &pair.old_path.key("requestBody"),
                    message,
                );
                return;
            }
            (Some(before), Some(after)) => (before, after),
        };
        match (flag(before, "required"), flag(after, "required")) {
            (false, true) => self.report(
                "request-body-made-required",
                Severity::Breaking,
                &path.key("required"),
                "The request body made required; requests without it are refused.",
            ),
            (true, false) => self.report(
                "request-body-made-optional",
                Severity::NonBreaking,
                &path.key("required"),
                "The request body made optional.",
            ),
            _ => {}
        }
        self.content(before, after, &path, Direction::Request, "the request body");
    }

    /// The media types of a body and their schemas.
    pub(super) fn content(
        &mut self,
        before: &Value,
        after: &Value,
        path: &OwnedPath,
        direction: Direction,
        subject: &str,
    ) {
        let empty = serde_json::Map::new();
        let old_media = before
            .get("content")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let new_media = after
            .get("content")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let content_path = path.key("content");
        for (media, old_entry) in old_media {
            let Some(new_entry) = new_media.get(media) else {
                let (rule, consequence) = match direction {
                    Direction::Request => (
                        "request-media-type-removed",
                        "the server refuses bodies of that type",
                    ),
                    Direction::Response => (
                        "response-media-type-removed",
                        "clients that ask for it get something else",
                    ),
                };
                let message = format!(
                    "{}: media type `{media}` removed; {consequence}.",
                    capitalised(subject)
                );
                self.report(rule, Severity::Breaking, &content_path.key(media), message);
                continue;
            };
            let described = if old_media.len() > 1 {
                format!("{subject} ({media})")
            } else {
                subject.to_owned()
            };
            match (media_schema(old_entry), media_schema(new_entry)) {
                (Some((old_schema, _)), Some((new_schema, key))) => self.schema(
                    old_schema,
                    new_schema,
                    &Site::new(
                        direction,
                        content_path.key(media).key(key),
                        Subject::new(described),
                    ),
                ),
                (Some(_), None) => {
                    let (rule, severity, consequence) = match direction {
                        // Anything is accepted now.
                        Direction::Request => (
                            "request-schema-removed",
                            Severity::NonBreaking,
                            "the server accepts any body",
                        ),
                        Direction::Response => (
                            "response-schema-removed",
                            Severity::Breaking,
                            "clients can no longer rely on its shape",
                        ),
                    };
                    let message = format!(
                        "{}: schema removed; {consequence}.",
                        capitalised(&described)
                    );
                    self.report(rule, severity, &content_path.key(media), message);
                }
                (None, Some((_, key))) => {
                    let (rule, severity, consequence) = match direction {
                        Direction::Request => (
                            "request-schema-added",
                            Severity::Breaking,
                            "bodies that do not match it are refused",
                        ),
                        Direction::Response => (
                            "response-schema-added",
                            Severity::NonBreaking,
                            "its shape is now promised",
                        ),
                    };
                    let message =
                        format!("{}: schema added; {consequence}.", capitalised(&described));
                    self.report(rule, severity, &content_path.key(media).key(key), message);
                }
                (None, None) => {}
            }
        }
        for media in new_media.keys() {
            if old_media.contains_key(media) {
                continue;
            }
            let rule = match direction {
                Direction::Request => "request-media-type-added",
                Direction::Response => "response-media-type-added",
            };
            let message = format!("{}: media type `{media}` added.", capitalised(subject));
            self.report(
                rule,
                Severity::NonBreaking,
                &content_path.key(media),
                message,
            );
        }
    }
}

/// What a media type promises of a body: its `schema` or, for a stream
/// that is not one document (server-sent events), the schema of each
/// event's data in `x-charter-event-data`. Either may stand for the other,
/// so a schema moved from one to the other is compared, not lost.
fn media_schema(entry: &Value) -> Option<(&Value, &'static str)> {
    entry
        .get("schema")
        .map(|schema| (schema, "schema"))
        .or_else(|| entry.get(EVENT_DATA).map(|schema| (schema, EVENT_DATA)))
}

/// The extension that holds the schema of each server-sent event's data.
pub const EVENT_DATA: &str = "x-charter-event-data";
