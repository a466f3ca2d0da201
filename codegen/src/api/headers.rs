//! Checks on the header names a document declares.

use crate::error::Error;
use crate::spec::At;

/// Header names must be RFC 9110 tokens (the runtime builds them as such).
pub(super) fn check_header_name(name: &str, node: &At<'_>) -> Result<(), Error> {
    if is_token(name) {
        Ok(())
    } else {
        Err(node.error(format!("`{name}` is not a valid HTTP header name")))
    }
}

/// An RFC 9110 token: a header name, a media type's type or subtype.
pub(super) fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
