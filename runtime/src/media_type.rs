//! Media types as `Content-Type` carries them: the type without its
//! parameters, and whether it falls in a range (`text/*`, `*/*`).

/// Whether a media type (lower-case, no parameters) is in a declared one
/// or range.
pub(crate) fn within(range: &str, media_type: &str) -> bool {
    match range.strip_suffix("/*") {
        Some("*") => true,
        Some(kind) => media_type
            .split_once('/')
            .is_some_and(|(sent, _)| sent.eq_ignore_ascii_case(kind)),
        None => range.eq_ignore_ascii_case(media_type),
    }
}

/// The media type of a `Content-Type` value, without its parameters.
pub(crate) fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}
