//! JSON Schemas from the spec, compiled on first use, and the violations a
//! document has against one.

use std::sync::OnceLock;

use serde_json::Value;

use crate::problem::escape_pointer;
use crate::problem::{Location, Problem, Violation};

/// A JSON Schema compiled on first use.
pub struct Schema {
    source: &'static str,
    compiled: OnceLock<Result<jsonschema::Validator, String>>,
}

impl Schema {
    pub const fn new(source: &'static str) -> Self {
        Schema {
            source,
            compiled: OnceLock::new(),
        }
    }

    fn validator(&self) -> Result<&jsonschema::Validator, &str> {
        self.compiled
            .get_or_init(|| {
                let schema: Value = serde_json::from_str(self.source).map_err(|e| e.to_string())?;
                jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(&schema)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// Compiles the schema, reporting why it cannot be.
    pub fn check(&self) -> Result<(), String> {
        self.validator()
            .map(|_| ())
            .map_err(|e| format!("schema {}: {e}", self.source))
    }

    /// Every constraint a JSON document (outside a request body, such as a
    /// WebSocket message) breaks; empty when it is valid.
    pub fn violations(&self, value: &Value) -> Result<Vec<Violation>, Problem> {
        let mut out = Vec::new();
        self.validate(value, Location::Body, &mut out)?;
        Ok(out)
    }

    /// Appends a violation for every constraint `value` breaks.
    pub(crate) fn validate(
        &self,
        value: &Value,
        location: Location,
        out: &mut Vec<Violation>,
    ) -> Result<(), Problem> {
        let validator = self.validator().map_err(|e| {
            tracing::error!(error = e, "request schema does not compile");
            Problem::internal()
        })?;
        for error in validator.iter_errors(value) {
            let path = error.instance_path().as_str();
            match error.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    let name = property.as_str().unwrap_or_default();
                    out.push(Violation::new(
                        location,
                        format!("#{path}/{}", escape_pointer(name)),
                        "is required",
                    ));
                }
                jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                    for name in unexpected {
                        out.push(Violation::new(
                            location,
                            format!("#{path}/{}", escape_pointer(name)),
                            "is not a known field",
                        ));
                    }
                }
                _ => out.push(Violation::new(
                    location,
                    format!("#{path}"),
                    error.masked().to_string(),
                )),
            }
        }
        Ok(())
    }
}
