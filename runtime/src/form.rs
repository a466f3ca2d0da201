//! Form fields (`application/x-www-form-urlencoded` pairs and the parts of
//! `multipart/form-data`): every value arrives as text, so each is read by
//! the kind its schema property declares into a JSON object, which the
//! schema then checks like a JSON body, with the same pointers.

use serde_json::{Map, Value};

use crate::problem::{Location, Problem, Violation, escape_pointer};

/// How a field's text is read before the schema checks it. Text that is
/// not of its kind is kept as a string, which the schema then reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Integer,
    Number,
    Boolean,
    /// A multipart file part (`format: binary`): present or not; its bytes
    /// are the handler's.
    File,
}

/// A property of a form body's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormField {
    pub name: &'static str,
    pub kind: FieldKind,
    /// An array property: every occurrence of the name is kept, in order.
    pub list: bool,
    /// The media types (or ranges) its multipart parts may have, from the
    /// spec's `encoding.contentType`; empty when any will do.
    pub content_types: &'static [&'static str],
}

impl FormField {
    pub const fn new(name: &'static str, kind: FieldKind) -> Self {
        FormField {
            name,
            kind,
            list: false,
            content_types: &[],
        }
    }

    pub const fn list(mut self) -> Self {
        self.list = true;
        self
    }

    pub const fn accept(mut self, content_types: &'static [&'static str]) -> Self {
        self.content_types = content_types;
        self
    }
}

/// The name-value pairs of an urlencoded body, `+` as a space. Names and
/// values that are not UTF-8 once percent-decoded make it malformed (400)
/// rather than being replaced silently.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<(String, String)>, Problem> {
    let mut pairs = Vec::new();
    for pair in bytes.split(|b| *b == b'&').filter(|pair| !pair.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        pairs.push((component(name)?, component(value)?));
    }
    Ok(pairs)
}

fn component(raw: &[u8]) -> Result<String, Problem> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&spaced)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| {
            Problem::bad_request(
                "MALFORMED_FORM",
                "The form body is not UTF-8 once percent-decoded.",
            )
        })
}

/// The JSON object of an urlencoded body's pairs.
pub(crate) fn to_json(
    pairs: &[(String, String)],
    fields: &[FormField],
    violations: &mut Vec<Violation>,
) -> Value {
    let mut object = Fields::new(fields);
    for (name, text) in pairs {
        let kind = object.kind(name);
        object.put(name, read(kind, text), violations);
    }
    object.into_json()
}

/// A JSON object being filled from named values, by the fields' rules.
pub(crate) struct Fields<'f> {
    fields: &'f [FormField],
    object: Map<String, Value>,
}

impl<'f> Fields<'f> {
    pub(crate) fn new(fields: &'f [FormField]) -> Self {
        Fields {
            fields,
            object: Map::new(),
        }
    }

    pub(crate) fn field(&self, name: &str) -> Option<&'f FormField> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// How a value of this name is read; undeclared names are text.
    pub(crate) fn kind(&self, name: &str) -> FieldKind {
        self.field(name).map_or(FieldKind::Text, |field| field.kind)
    }

    /// Adds a value: a list field collects them, an undeclared name given
    /// twice becomes a list (for the schema to judge), a declared single
    /// field given twice is a violation.
    pub(crate) fn put(&mut self, name: &str, value: Value, violations: &mut Vec<Violation>) {
        let list = self.field(name).map(|field| field.list);
        match (self.object.get_mut(name), list) {
            (None, Some(true)) => {
                self.object
                    .insert(name.to_owned(), Value::Array(vec![value]));
            }
            (None, _) => {
                self.object.insert(name.to_owned(), value);
            }
            (Some(Value::Array(values)), Some(true)) => values.push(value),
            (Some(existing), None) => {
                let first = existing.take();
                *existing = match first {
                    Value::Array(mut values) => {
                        values.push(value);
                        Value::Array(values)
                    }
                    first => Value::Array(vec![first, value]),
                };
            }
            (Some(_), _) => violations.push(Violation::new(
                Location::Body,
                pointer(name),
                "is given more than once",
            )),
        }
    }

    pub(crate) fn into_json(self) -> Value {
        Value::Object(self.object)
    }
}

/// The JSON pointer of a field, as violations name it.
pub(crate) fn pointer(name: &str) -> String {
    format!("#/{}", escape_pointer(name))
}

/// A field's text as its kind, or as the text itself when it is not one.
pub(crate) fn read(kind: FieldKind, text: &str) -> Value {
    let parsed = match kind {
        FieldKind::Integer => text.parse::<i64>().ok().map(Value::from),
        FieldKind::Number => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        FieldKind::Boolean => match text {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        FieldKind::Text | FieldKind::File => None,
    };
    parsed.unwrap_or_else(|| Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_percent_decoded_and_plus_is_a_space() {
        let pairs = decode(b"a=1+2&b=%C3%A9&&c&d=x%3Dy").unwrap_or_default();
        let expected = [("a", "1 2"), ("b", "é"), ("c", ""), ("d", "x=y")];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(pairs, expected);
        assert!(decode(b"a=%FF").is_err(), "not UTF-8 once decoded");
    }

    #[test]
    fn values_are_read_by_kind_and_repeats_by_field() {
        static FIELDS: &[FormField] = &[
            FormField::new("n", FieldKind::Integer),
            FormField::new("x", FieldKind::Number),
            FormField::new("b", FieldKind::Boolean),
            FormField::new("tags", FieldKind::Text).list(),
        ];
        let pairs: Vec<(String, String)> = [
            ("n", "12"),
            ("x", "1.5"),
            ("b", "yes"),
            ("tags", "a"),
            ("tags", "b"),
            ("other", "1"),
            ("other", "2"),
            ("n", "13"),
        ]
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
        let mut violations = Vec::new();
        let value = to_json(&pairs, FIELDS, &mut violations);
        assert_eq!(
            value,
            serde_json::json!({
                "n": 12, "x": 1.5, "b": "yes", "tags": ["a", "b"], "other": ["1", "2"]
            })
        );
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].pointer, "#/n");
    }
}
