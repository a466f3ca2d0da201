//! Parameters whose value is a JSON document (`content: {application/json:
//! ...}` in the spec), checked against their schema as a body is.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{ParamSource, ReadParam, pointer};
use crate::problem::{Location, Violation};
use crate::schema::Schema;

/// A JSON-encoded parameter: where it is and the schema its document must
/// satisfy. Its violations point into the document under the parameter's
/// name (`#/filter/status`).
pub struct ContentRule {
    pub location: Location,
    pub name: &'static str,
    pub key: &'static str,
    pub schema: &'static Schema,
}

impl ContentRule {
    pub const fn new(
        location: Location,
        name: &'static str,
        key: &'static str,
        schema: &'static Schema,
    ) -> Self {
        ContentRule {
            location,
            name,
            key,
            schema,
        }
    }

    fn violation(&self, detail: impl Into<String>) -> Violation {
        Violation::new(self.location, pointer(self.name, None), detail)
    }

    /// The document, or why the value is not one.
    fn document(&self, source: &impl ParamSource, raw: &str) -> Result<Value, String> {
        let text = source.decode(raw, false)?;
        serde_json::from_str(&text).map_err(|e| format!("must be a JSON document: {e}"))
    }
}

impl<T: DeserializeOwned> ReadParam<T> for ContentRule {
    fn read(
        &self,
        source: &impl ParamSource,
        violations: &mut Vec<Violation>,
    ) -> Option<Option<T>> {
        let document = match source.raw(self.key) {
            Ok(None) => return Some(None),
            Ok(Some(raw)) => self.document(source, raw),
            Err(detail) => Err(detail.to_owned()),
        };
        let document = match document {
            Ok(document) => document,
            Err(detail) => {
                violations.push(self.violation(detail));
                return None;
            }
        };
        let mut found = Vec::new();
        if self
            .schema
            .validate(&document, self.location, &mut found)
            .is_err()
        {
            // A schema that does not compile fails `check_schemas` at
            // startup; a server that skipped it refuses the value as a
            // pattern that does not compile does.
            violations.push(self.violation("cannot be checked"));
            return None;
        }
        if !found.is_empty() {
            let prefix = pointer(self.name, None);
            violations.extend(found.into_iter().map(|mut violation| {
                let inner = violation.pointer.strip_prefix('#').unwrap_or_default();
                violation.pointer = format!("{prefix}{inner}");
                violation
            }));
            return None;
        }
        match T::deserialize(&document) {
            Ok(value) => Some(Some(value)),
            Err(error) => {
                violations.push(self.violation(error.to_string()));
                None
            }
        }
    }

    fn missing(&self) -> Violation {
        self.violation("is required")
    }
}
