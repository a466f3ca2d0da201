//! Reading a request body within the size limit, and a JSON one
//! validated against its schema.

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::problem::{Location, Problem, Violation};
use crate::schema::Schema;

/// Largest request body the generated extractors read when the router
/// does not set its own with [`BodyLimit`].
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The largest request body, in bytes, the generated extractors of one
/// router read. A request extension rather than a global, so that two
/// routers in one process (two servers, two tests) keep their own limits:
/// `router.layer(BodyLimit(64 * 1024).layer())`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

impl BodyLimit {
    /// The layer that gives every request of a router this limit.
    pub fn layer(self) -> axum::Extension<Self> {
        axum::Extension(self)
    }

    fn of(parts: &Parts) -> usize {
        parts
            .extensions
            .get::<Self>()
            .map_or(BODY_LIMIT, |limit| limit.0)
    }
}

/// Reads a whole request body within the router's limit: 413 past it,
/// whether `Content-Length` announces it or the body runs over.
pub(crate) async fn read_limited(parts: &Parts, body: Body) -> Result<Bytes, Problem> {
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = BodyLimit::of(parts);
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        if exceeds_length_limit(&error) {
            Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE)
        } else {
            Problem::bad_request("BODY_UNREADABLE", "The request body could not be read.")
        }
    })
}

/// Reads a JSON body: `None` when the body is empty.
async fn read_json(parts: &Parts, body: Body) -> Result<Option<Value>, Problem> {
    let bytes = read_limited(parts, body).await?;
    if bytes.is_empty() {
        return Ok(None);
    }
    if !is_json_content_type(&parts.headers) {
        return Err(Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    parse_json(&bytes).map(Some)
}

/// Parses JSON text; malformed JSON is a 400, not a violation: there is no
/// document to point into.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, Problem> {
    serde_json::from_slice(bytes).map_err(|e| {
        Problem::bad_request(
            "MALFORMED_JSON",
            format!("The request body is not valid JSON: {e}"),
        )
        .with_title("Malformed JSON")
    })
}

/// Whether a body error (at any depth) is a length limit being hit, ours or
/// the server's body-limit layer's.
fn exceeds_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = error.source();
    }
    false
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|value| is_json_media_type(crate::media_type::essence(value)))
}

/// Whether a media type (without parameters) is JSON: `application/json`
/// or an `application/*+json` type.
/// Compared without allocating: every JSON request body passes here.
pub(crate) fn is_json_media_type(essence: &str) -> bool {
    const PREFIX: &str = "application/";
    const SUFFIX: &str = "+json";
    essence.eq_ignore_ascii_case("application/json")
        || (essence.len() > PREFIX.len() + SUFFIX.len()
            && essence.is_char_boundary(PREFIX.len())
            && essence.is_char_boundary(essence.len() - SUFFIX.len())
            && essence[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
            && essence[essence.len() - SUFFIX.len()..].eq_ignore_ascii_case(SUFFIX))
}

fn parse_body<T: DeserializeOwned>(
    value: Value,
    schema: &Schema,
    violations: &mut Vec<Violation>,
) -> Result<Option<T>, Problem> {
    let before = violations.len();
    schema.validate(&value, Location::Body, violations)?;
    if violations.len() > before {
        return Ok(None);
    }
    Ok(from_json(value, violations))
}

/// The typed value of a checked document. What the schema cannot say (a
/// number too large for its Rust type) is still a violation, not a 500.
pub(crate) fn from_json<T: DeserializeOwned>(
    value: Value,
    violations: &mut Vec<Violation>,
) -> Option<T> {
    match serde_json::from_value(value) {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            violations.push(Violation::new(Location::Body, "#", e.to_string()));
            None
        }
    }
}

/// Reads, validates and parses a required JSON body. Malformed JSON, a wrong
/// content type or an oversize body end the request; constraint violations
/// are collected with the parameters' ones.
pub async fn json_body<T: DeserializeOwned>(
    parts: &Parts,
    body: Body,
    schema: &Schema,
    violations: &mut Vec<Violation>,
) -> Result<Option<T>, Problem> {
    match read_json(parts, body).await? {
        Some(value) => parse_body(value, schema, violations),
        None => {
            violations.push(Violation::new(
                Location::Body,
                "#",
                "a JSON request body is required",
            ));
            Ok(None)
        }
    }
}

/// Like [`json_body`] for an optional body: an empty body is `Some(None)`.
pub async fn optional_json_body<T: DeserializeOwned>(
    parts: &Parts,
    body: Body,
    schema: &Schema,
    violations: &mut Vec<Violation>,
) -> Result<Option<Option<T>>, Problem> {
    match read_json(parts, body).await? {
        Some(value) => parse_body(value, schema, violations).map(|parsed| parsed.map(Some)),
        None => Ok(Some(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::is_json_media_type;

    #[test]
    fn json_media_types_are_recognised_in_any_case() {
        let json = [
            "application/json",
            "Application/JSON",
            "application/merge-patch+json",
            "APPLICATION/VND.A+JSON",
        ];
        for essence in json {
            assert!(is_json_media_type(essence), "{essence}");
        }
        let other = [
            "application/+json",
            "text/json",
            "application/jsonx",
            "application/x+jsonp",
            "é/+json",
        ];
        for essence in other {
            assert!(!is_json_media_type(essence), "{essence}");
        }
    }
}
