//! `multipart/form-data` request bodies, parsed by axum's multipart
//! extractor from a body already read within the router's limit, so the
//! operation gets every part at once, by name, with a file part's name
//! and type beside its bytes.

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::header;
use serde_json::Value;
use tower::{Layer, ServiceExt};

use crate::form::{FieldKind, Fields, FormField, pointer, read};
use crate::media_type::{essence, within};
use crate::problem::{Location, Problem, Violation};

/// The parts of a `multipart/form-data` body, in the order they were sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Multipart {
    parts: Vec<Part>,
}

/// One part: a text field or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The `name` of its `Content-Disposition`.
    pub name: String,
    /// The `filename` of its `Content-Disposition`, which file parts carry.
    pub file_name: Option<String>,
    /// Its own `Content-Type`, when it names one.
    pub content_type: Option<String>,
    pub data: Bytes,
}

impl Part {
    /// The part as UTF-8 text, when it is.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }

    /// The media type its parts are read as: its own `Content-Type`, else
    /// what RFC 7578 says a part without one is.
    fn media_type(&self) -> String {
        match &self.content_type {
            Some(content_type) => essence(content_type).to_ascii_lowercase(),
            None if self.file_name.is_some() => "application/octet-stream".to_owned(),
            None => "text/plain".to_owned(),
        }
    }
}

impl Multipart {
    pub fn new(parts: Vec<Part>) -> Self {
        Multipart { parts }
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    pub fn into_parts(self) -> Vec<Part> {
        self.parts
    }

    /// The first part named `name`.
    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|part| part.name == name)
    }

    /// Every part named `name` (a repeated field, several files), in order.
    pub fn parts_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Part> + 'a {
        self.parts.iter().filter(move |part| part.name == name)
    }

    /// The first part named `name` as text.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.part(name).and_then(Part::text)
    }
}

fn malformed(detail: String) -> Problem {
    Problem::bad_request("MALFORMED_MULTIPART", detail).with_title("Malformed multipart body")
}

/// Splits a whole body into its parts; a body that is not multipart (no
/// boundary, broken framing, a part without a name) is a 400.
pub(crate) async fn parse(content_type: &str, bytes: Bytes) -> Result<Multipart, Problem> {
    let request = Request::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(bytes))
        .map_err(|e| malformed(e.to_string()))?;
    // The body is held already, within the router's `BodyLimit`; axum's own
    // 2 MB default would otherwise cut larger limits short.
    let extract = DefaultBodyLimit::disable().layer(tower::service_fn(collect));
    extract.oneshot(request).await
}

async fn collect(request: Request) -> Result<Multipart, Problem> {
    let mut multipart = axum::extract::Multipart::from_request(request, &())
        .await
        .map_err(|rejection| malformed(rejection.body_text()))?;
    let mut parts = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| malformed(e.body_text()))?
    {
        let Some(name) = field.name().map(str::to_owned) else {
            return Err(malformed("A part has no name.".to_owned()));
        };
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let data = field.bytes().await.map_err(|e| malformed(e.body_text()))?;
        parts.push(Part {
            name,
            file_name,
            content_type,
            data,
        });
    }
    Ok(Multipart { parts })
}

/// The JSON object the schema checks: text parts read by kind, file parts
/// as empty strings (the schema of a file says only that it is there), and
/// a violation for each part whose type `encoding` does not allow or whose
/// text field is not UTF-8.
pub(crate) fn to_json(
    multipart: &Multipart,
    fields: &[FormField],
    violations: &mut Vec<Violation>,
) -> Value {
    let mut object = Fields::new(fields);
    for part in &multipart.parts {
        let accepted = object
            .field(&part.name)
            .map_or(&[][..], |f| f.content_types);
        let media_type = part.media_type();
        if !accepted.is_empty() && !accepted.iter().any(|range| within(range, &media_type)) {
            violations.push(Violation::new(
                Location::Body,
                pointer(&part.name),
                format!("must be of type {}", accepted.join(" or ")),
            ));
        }
        let kind = object.kind(&part.name);
        let value = match (kind, part.text()) {
            (FieldKind::File, _) => Value::String(String::new()),
            (kind, Some(text)) => read(kind, text),
            (_, None) => {
                violations.push(Violation::new(
                    Location::Body,
                    pointer(&part.name),
                    "is not UTF-8 text",
                ));
                continue;
            }
        };
        object.put(&part.name, value, violations);
    }
    object.into_json()
}
