//! Request bodies of any media type the spec declares: the request's
//! `Content-Type` picks one of the operation's media types (415 when none
//! fits), the body is decoded as that type says (400 when it cannot be)
//! and checked against its schema (422 violations, gathered with the
//! parameters' ones); the operation then receives it as a typed value.

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::body::{from_json, is_json_media_type, parse_json, read_limited};
use crate::form::{self, FormField};
use crate::media_type::essence;
use crate::multipart::{self, Multipart};
use crate::problem::{Location, Problem, Violation};
use crate::schema::Schema;

/// What a body is taken to be when the request names no `Content-Type`
/// (RFC 9110, section 8.3).
const UNNAMED: &str = "application/octet-stream";

/// How a body of one media type is decoded and checked.
#[derive(Clone, Copy)]
pub enum Decoding {
    /// JSON text, checked against the schema when there is one.
    Json(Option<&'static Schema>),
    /// UTF-8 text, checked as a JSON string when the schema constrains it.
    Text(Option<&'static Schema>),
    /// Bytes as they came.
    Bytes,
    /// `application/x-www-form-urlencoded`: with a schema, its fields read
    /// by kind into a JSON object and checked; without, name-value pairs.
    Form(Option<&'static Schema>, &'static [FormField]),
    /// `multipart/form-data`: every part; with a schema, its text parts
    /// read by kind and checked with the file parts present.
    Multipart(Option<&'static Schema>, &'static [FormField]),
}

/// One media type (`text/plain`) or range (`image/*`, `*/*`) an operation's
/// request body may have, lower-case and without parameters.
#[derive(Clone, Copy)]
pub struct BodyMedia {
    pub media_type: &'static str,
    pub decoding: Decoding,
}

impl BodyMedia {
    pub const fn new(media_type: &'static str, decoding: Decoding) -> Self {
        BodyMedia {
            media_type,
            decoding,
        }
    }
}

/// A body of a media type the spec leaves open (`image/*`, `*/*`), with
/// the `Content-Type` it was sent as or is to be sent as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content<T> {
    /// The whole header value, parameters included.
    pub content_type: String,
    pub data: T,
}

impl<T> Content<T> {
    pub fn new(content_type: impl Into<String>, data: T) -> Self {
        Content {
            content_type: content_type.into(),
            data,
        }
    }

    /// The media type without parameters (`image/png`).
    pub fn media_type(&self) -> &str {
        essence(&self.content_type)
    }
}

/// A request body after [`read_body`].
pub enum RequestBody {
    /// Nothing was sent.
    Absent,
    /// It broke its schema; the violations are recorded.
    Invalid,
    Present(Received),
}

impl RequestBody {
    /// The body of an operation that requires one; its absence is a violation.
    pub fn required(self, violations: &mut Vec<Violation>) -> Option<Received> {
        match self {
            RequestBody::Present(received) => Some(received),
            RequestBody::Invalid => None,
            RequestBody::Absent => {
                violations.push(Violation::new(
                    Location::Body,
                    "#",
                    "a request body is required",
                ));
                None
            }
        }
    }

    /// The body of an operation that may go without: `Some(None)` when none
    /// was sent, `None` when the one sent is invalid.
    pub fn optional(self) -> Option<Option<Received>> {
        match self {
            RequestBody::Present(received) => Some(Some(received)),
            RequestBody::Invalid => None,
            RequestBody::Absent => Some(None),
        }
    }
}

/// A decoded, checked request body and the media type it matched.
pub struct Received {
    media: usize,
    content_type: String,
    value: Decoded,
}

enum Decoded {
    Json(Value),
    Text(String),
    Bytes(Bytes),
    Pairs(Vec<(String, String)>),
    Multipart(Multipart),
}

impl Received {
    /// The index of the matched media type in the operation's list.
    pub fn media(&self) -> usize {
        self.media
    }

    /// The request's `Content-Type` (`application/octet-stream` when it
    /// named none).
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// A JSON body as the schema's type.
    pub fn json<T: DeserializeOwned>(self, violations: &mut Vec<Violation>) -> Option<T> {
        match self.value {
            Decoded::Json(value) => from_json(value, violations),
            other => mismatch(other, "JSON", violations),
        }
    }

    /// A form body with a schema as the schema's type.
    pub fn form<T: DeserializeOwned>(self, violations: &mut Vec<Violation>) -> Option<T> {
        self.json(violations)
    }

    /// A form body without a schema: its name-value pairs, in order.
    pub fn form_pairs(self, violations: &mut Vec<Violation>) -> Option<Vec<(String, String)>> {
        match self.value {
            Decoded::Pairs(pairs) => Some(pairs),
            other => mismatch(other, "a form", violations),
        }
    }

    pub fn text(self, violations: &mut Vec<Violation>) -> Option<String> {
        match self.value {
            Decoded::Text(text) => Some(text),
            other => mismatch(other, "text", violations),
        }
    }

    /// Text of a media type range, with the type it was sent as.
    pub fn text_content(mut self, violations: &mut Vec<Violation>) -> Option<Content<String>> {
        let content_type = std::mem::take(&mut self.content_type);
        let data = self.text(violations)?;
        Some(Content { content_type, data })
    }

    pub fn bytes(self, violations: &mut Vec<Violation>) -> Option<Bytes> {
        match self.value {
            Decoded::Bytes(bytes) => Some(bytes),
            other => mismatch(other, "bytes", violations),
        }
    }

    /// Bytes of a media type range, with the type they were sent as.
    pub fn bytes_content(mut self, violations: &mut Vec<Violation>) -> Option<Content<Bytes>> {
        let content_type = std::mem::take(&mut self.content_type);
        let data = self.bytes(violations)?;
        Some(Content { content_type, data })
    }

    pub fn multipart(self, violations: &mut Vec<Violation>) -> Option<Multipart> {
        match self.value {
            Decoded::Multipart(multipart) => Some(multipart),
            other => mismatch(other, "multipart", violations),
        }
    }
}

/// A generated handler asked for a body as other than its media type
/// decodes to. The generator pairs them, so this is a bug, reported as a
/// violation rather than a panic.
fn mismatch<T>(value: Decoded, wanted: &str, violations: &mut Vec<Violation>) -> Option<T> {
    // The kind only: a body's content has no place in logs.
    let decoded = match value {
        Decoded::Json(_) => "JSON",
        Decoded::Text(_) => "text",
        Decoded::Bytes(_) => "bytes",
        Decoded::Pairs(_) => "a form",
        Decoded::Multipart(_) => "multipart",
    };
    tracing::error!(decoded, wanted, "request body decoded as another kind");
    violations.push(Violation::new(
        Location::Body,
        "#",
        format!("cannot be read as {wanted}"),
    ));
    None
}

/// Reads the body within the router's limit, matches its `Content-Type`
/// against `media` and decodes and checks it. An empty body is absent
/// unless it names a media type other than JSON, for which it is an empty
/// value (an empty file, an empty text).
pub async fn read_body(
    parts: &Parts,
    body: Body,
    media: &'static [BodyMedia],
    violations: &mut Vec<Violation>,
) -> Result<RequestBody, Problem> {
    let bytes = read_limited(parts, body).await?;
    let named = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap_or_default().trim());
    let chosen = select(media, named.unwrap_or(UNNAMED));
    if bytes.is_empty() {
        // Nothing was sent, unless the request names a media type whose
        // empty value means something (an empty file, an empty text);
        // JSON has none.
        let empty_value = named.is_some()
            && chosen.is_some_and(|(_, m)| !matches!(m.decoding, Decoding::Json(_)));
        if !empty_value {
            return Ok(RequestBody::Absent);
        }
    }
    let Some((index, chosen)) = chosen else {
        return Err(unsupported(media));
    };
    let content_type = named.unwrap_or(UNNAMED);
    let before = violations.len();
    let value = match chosen.decoding {
        Decoding::Json(schema) => {
            let value = parse_json(&bytes)?;
            if let Some(schema) = schema {
                schema.validate(&value, Location::Body, violations)?;
            }
            Decoded::Json(value)
        }
        Decoding::Text(schema) => {
            let text = utf8_text(content_type, &bytes)?;
            if let Some(schema) = schema {
                schema.validate(&Value::String(text.clone()), Location::Body, violations)?;
            }
            Decoded::Text(text)
        }
        Decoding::Bytes => Decoded::Bytes(bytes),
        Decoding::Form(schema, fields) => {
            let pairs = form::decode(&bytes)?;
            match schema {
                Some(schema) => {
                    let value = form::to_json(&pairs, fields, violations);
                    schema.validate(&value, Location::Body, violations)?;
                    Decoded::Json(value)
                }
                None => Decoded::Pairs(pairs),
            }
        }
        Decoding::Multipart(schema, fields) => {
            let multipart = multipart::parse(content_type, bytes).await?;
            if let Some(schema) = schema {
                let value = multipart::to_json(&multipart, fields, violations);
                schema.validate(&value, Location::Body, violations)?;
            }
            Decoded::Multipart(multipart)
        }
    };
    if violations.len() > before {
        return Ok(RequestBody::Invalid);
    }
    Ok(RequestBody::Present(Received {
        media: index,
        content_type: content_type.to_owned(),
        value,
    }))
}

/// The media type a request's `Content-Type` selects: the same type, then
/// (for a JSON type) `application/json`, then its `type/*` range, then
/// `*/*`.
fn select(media: &'static [BodyMedia], content_type: &str) -> Option<(usize, BodyMedia)> {
    let sent = essence(content_type).to_ascii_lowercase();
    let (kind, _) = sent.split_once('/')?;
    let range = format!("{kind}/*");
    let json = is_json_media_type(&sent).then_some("application/json");
    [Some(sent.as_str()), json, Some(range.as_str()), Some("*/*")]
        .into_iter()
        .flatten()
        .find_map(|wanted| {
            media
                .iter()
                .enumerate()
                .find(|(_, m)| m.media_type == wanted)
        })
        .map(|(index, chosen)| (index, *chosen))
}

fn unsupported(media: &[BodyMedia]) -> Problem {
    let names: Vec<&str> = media.iter().map(|m| m.media_type).collect();
    let detail = match names.as_slice() {
        [one] => format!("The request body must be {one}."),
        _ => format!("The request body must be one of {}.", names.join(", ")),
    };
    Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE").with_detail(detail)
}

/// Text in UTF-8, the one encoding read: another `charset` is 415, bytes
/// that are not UTF-8 are 400.
fn utf8_text(content_type: &str, bytes: &Bytes) -> Result<String, Problem> {
    let charset = content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"'))
    });
    if charset
        .is_some_and(|c| !c.eq_ignore_ascii_case("utf-8") && !c.eq_ignore_ascii_case("us-ascii"))
    {
        return Err(
            Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
                .with_detail("Text request bodies must be UTF-8."),
        );
    }
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| Problem::bad_request("MALFORMED_TEXT", "The request body is not UTF-8 text."))
}
