//! The operation table: what the spec states about each operation, and
//! finding the operation a routed request belongs to.

/// Static description of one operation, as the spec states it.
#[derive(Debug)]
pub struct OperationInfo {
    pub operation_id: &'static str,
    pub method: &'static str,
    /// Route template, e.g. `/api/v2/users/{user_id}`.
    pub route: &'static str,
    pub summary: &'static str,
    pub tags: &'static [&'static str],
    pub deprecated: bool,
    /// Alternatives of security scheme names; an empty alternative means
    /// "anonymous allowed", an empty list means a public operation.
    pub security: &'static [&'static [&'static str]],
    /// The security schemes of its version, which `security` names.
    pub schemes: &'static [crate::scheme::SecurityScheme],
    /// The rate-limit class (`x-rate-limit`; `default` when the spec names none).
    pub rate_limit: &'static str,
    /// Media types of its success responses (`application/json`,
    /// `text/event-stream`), for content negotiation.
    pub produces: &'static [&'static str],
    /// The operation's `x-` extensions, values as JSON text.
    pub extensions: &'static [(&'static str, &'static str)],
}

/// The operation a routed request belongs to, found from its method and the
/// route template axum matched (`MatchedPath`); for middleware that labels
/// spans and metrics by `operationId`.
pub fn find_operation(
    tables: &[&'static [OperationInfo]],
    method: &axum::http::Method,
    route: &str,
) -> Option<&'static OperationInfo> {
    tables
        .iter()
        .flat_map(|table| table.iter())
        .find(|op| op.route == route && op.method == method.as_str())
}
