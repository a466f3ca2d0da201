//! Compatibility of two OpenAPI 3.0 documents: every change from the old
//! one to the new, with its JSON path, its severity for clients written
//! against the old one, and a sentence a client author understands.
//!
//! Requests and responses are judged in opposite directions: a request may
//! accept more than before and a response may promise more, never the
//! reverse (`schema.rs`, with `constraints.rs` and `objects.rs`).
//! `operations.rs` matches paths and operations, and `requests.rs`,
//! `responses.rs` and `security.rs` compare their parts; `text.rs` finds
//! the changes in descriptions and examples; `gate.rs` is the release gate
//! (frozen versions, breaking changes, `info.version`); `render.rs` writes
//! reports and changelogs.

mod constraints;
mod document;
mod gate;
mod objects;
mod operations;
mod render;
mod requests;
mod responses;
mod schema;
mod security;
mod text;

use serde::Serialize;
use serde_json::Value;

pub use gate::{Accepted, AcceptedChange, GateReport, gate};
pub use render::{Format, changelog, render};

use crate::spec::OwnedPath;
use document::Document;

/// Every rule the checker applies, by the name its changes carry.
pub const RULES: &[&str] = &[
    "example-changed",
    "operation-added",
    "operation-deprecated",
    "operation-id-changed",
    "operation-reactivated",
    "operation-removed",
    "path-parameter-renamed",
    "path-removed",
    "request-additional-properties-closed",
    "request-additional-properties-opened",
    "request-body-added",
    "request-body-added-required",
    "request-body-made-optional",
    "request-body-made-required",
    "request-body-removed",
    "request-constraint-loosened",
    "request-constraint-tightened",
    "request-discriminator-changed",
    "request-enum-added",
    "request-enum-removed",
    "request-enum-value-added",
    "request-enum-value-removed",
    "request-format-changed",
    "request-media-type-added",
    "request-media-type-removed",
    "request-nullable-added",
    "request-nullable-removed",
    "request-parameter-added",
    "request-parameter-added-required",
    "request-parameter-made-optional",
    "request-parameter-made-required",
    "request-parameter-moved",
    "request-parameter-removed",
    "request-parameter-renamed",
    "request-parameter-style-changed",
    "request-pattern-changed",
    "request-property-added",
    "request-property-added-required",
    "request-property-made-optional",
    "request-property-made-required",
    "request-property-removed",
    "request-property-renamed",
    "request-schema-added",
    "request-schema-changed",
    "request-schema-removed",
    "request-type-changed",
    "request-variant-added",
    "request-variant-removed",
    "response-additional-properties-closed",
    "response-additional-properties-opened",
    "response-constraint-loosened",
    "response-constraint-tightened",
    "response-discriminator-changed",
    "response-enum-added",
    "response-enum-removed",
    "response-enum-value-added",
    "response-enum-value-removed",
    "response-error-status-added",
    "response-error-status-removed",
    "response-format-changed",
    "response-header-added",
    "response-header-made-optional",
    "response-header-made-required",
    "response-header-removed",
    "response-header-value-changed",
    "response-media-type-added",
    "response-media-type-removed",
    "response-nullable-added",
    "response-nullable-removed",
    "response-pattern-changed",
    "response-property-added",
    "response-property-added-closed",
    "response-property-made-optional",
    "response-property-made-required",
    "response-property-removed",
    "response-property-renamed",
    "response-schema-added",
    "response-schema-changed",
    "response-schema-removed",
    "response-status-added",
    "response-status-changed",
    "response-status-removed",
    "response-type-changed",
    "response-variant-added",
    "response-variant-removed",
    "security-added",
    "security-changed",
    "security-scheme-added",
    "security-scheme-changed",
    "security-scheme-removed",
    "security-widened",
    "sunset-added",
    "sunset-earlier",
    "sunset-later",
    "sunset-removed",
    "text-added",
    "text-changed",
    "text-removed",
];

/// What a change means for a client written against the old document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// A request that worked may now fail, or a response may no longer
    /// decode or mean what it did.
    Breaking,
    /// The contract grew or loosened where clients are unaffected.
    NonBreaking,
    /// Documentation, deprecation notices, error responses: nothing a
    /// client's code depends on.
    Info,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Breaking => "breaking",
            Severity::NonBreaking => "non-breaking",
            Severity::Info => "info",
        }
    }
}

/// One change between the documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// A stable name of the rule that found it (`request-property-added-required`).
    pub rule: &'static str,
    pub severity: Severity,
    /// Where it is: the JSON path in the new document, or in the old one
    /// for what was removed.
    pub path: String,
    /// The operation it belongs to (`POST /channels (createChannel)`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    pub message: String,
}

/// Every change from `old` to `new`, in document order. Both are parsed
/// OpenAPI 3.0 documents (see [`crate::load`]); `$ref`s are followed, so
/// moving a schema into `components` or reordering anything reports nothing.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut diff = Diff::new(old, new);
    diff.operations();
    diff.security_schemes();
    let mut changes = diff.changes;
    let first_text = changes.len();
    text::changes(old, new, &mut changes);
    for change in &mut changes[first_text..] {
        change.operation = operation_at(new, &change.path);
    }
    changes
}

/// The operation a JSON path lies in (`$.paths['/x'].get...`), if any.
fn operation_at(root: &Value, path: &str) -> Option<String> {
    let rest = path.strip_prefix("$.paths['")?;
    let (route, rest) = rest.split_once("']")?;
    let method = rest.strip_prefix('.')?.split(['.', '[']).next()?;
    let operation = root.get("paths")?.get(route)?.get(method)?;
    operation
        .is_object()
        .then(|| operations::label(route, method, operation))
        .filter(|_| method != "parameters")
}

/// Whether any change is breaking.
pub fn is_breaking(changes: &[Change]) -> bool {
    changes.iter().any(|c| c.severity == Severity::Breaking)
}

/// The walk over both documents, collecting changes.
struct Diff<'a> {
    old: Document<'a>,
    new: Document<'a>,
    changes: Vec<Change>,
    /// The operation being compared, named on every change found in it.
    operation: Option<String>,
    /// The `$ref` pairs being compared, so recursive schemas end.
    visiting: Vec<(String, String, schema::Direction)>,
}

impl<'a> Diff<'a> {
    fn new(old: &'a Value, new: &'a Value) -> Self {
        Diff {
            old: Document::new(old),
            new: Document::new(new),
            changes: Vec::new(),
            operation: None,
            visiting: Vec::new(),
        }
    }

    fn report(
        &mut self,
        rule: &'static str,
        severity: Severity,
        path: &OwnedPath,
        message: impl Into<String>,
    ) {
        debug_assert!(RULES.contains(&rule), "rule `{rule}` is not in RULES");
        self.changes.push(Change {
            rule,
            severity,
            path: path.0.clone(),
            operation: self.operation.clone(),
            message: message.into(),
        });
    }
}
