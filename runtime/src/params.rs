//! Parameter rules and parsing: the constraints the spec states for each
//! path, query and header parameter, how its value is laid out (OpenAPI
//! `style` and `explode`) and where values are read from.
//!
//! A scalar is checked and parsed by a [`ParamRule`]. An array
//! ([`ArrayRule`]) or an object ([`ObjectRule`]) is split by its style into
//! scalars, each checked by a `ParamRule` of its own, assembled as JSON and
//! deserialised into the generated type, so that a `$ref`'d model reads the
//! same from a query as from a body. A `content`-encoded parameter
//! ([`ContentRule`]) is a JSON document checked against its schema.

mod content;
mod source;
mod styled;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::OnceLock;

use serde_json::Value;

use crate::problem::escape_pointer;
use crate::problem::{Location, Violation};

pub use content::ContentRule;
pub use source::{ParamSource, PathSegments, QuerySource, query_source};
pub use styled::{ArrayRule, ObjectRule, Style};

#[derive(Debug, Clone, Copy)]
pub enum ParamKind {
    String,
    Integer,
    Number,
    Boolean,
}

/// String formats a parameter value is checked against.
#[derive(Debug, Clone, Copy)]
pub enum ParamFormat {
    Uuid,
    DateTime,
    Date,
    Email,
}

/// A regular expression from the spec, compiled on first use.
pub struct Pattern {
    source: &'static str,
    compiled: OnceLock<Result<regex::Regex, String>>,
}

impl Pattern {
    pub const fn new(source: &'static str) -> Self {
        Pattern {
            source,
            compiled: OnceLock::new(),
        }
    }

    fn regex(&self) -> Result<&regex::Regex, &str> {
        self.compiled
            .get_or_init(|| regex::Regex::new(self.source).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(String::as_str)
    }

    pub fn check(&self) -> Result<(), String> {
        self.regex()
            .map(|_| ())
            .map_err(|e| format!("pattern {}: {e}", self.source))
    }
}

/// How one parameter is read from its source and checked. Each rule type
/// reads the Rust types it can produce: a [`ParamRule`] any `FromStr`
/// scalar, an [`ArrayRule`] a `Vec`, an [`ObjectRule`] or a [`ContentRule`]
/// any deserialisable type.
pub trait ReadParam<T> {
    /// `Some(None)` when the parameter is absent, `Some(Some(value))` when
    /// present and valid; `None` once its violations are recorded.
    fn read(&self, source: &impl ParamSource, violations: &mut Vec<Violation>)
    -> Option<Option<T>>;

    /// What a required parameter that is absent violates.
    fn missing(&self) -> Violation;
}

/// Every constraint the spec states for one scalar: a parameter, an item
/// of an array parameter or a property of an object parameter. Generated
/// code builds these as statics; checking one allocates nothing unless it
/// fails.
pub struct ParamRule {
    pub location: Location,
    /// The name as the spec spells it (used in violation pointers).
    pub name: &'static str,
    /// The name to look the value up by (header names lower-cased, which
    /// `HeaderMap` finds without converting; `filter[status]` for a
    /// property of a `deepObject`).
    pub key: &'static str,
    pub kind: ParamKind,
    pub minimum: Option<(f64, bool)>,
    pub maximum: Option<(f64, bool)>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub pattern: Option<&'static Pattern>,
    pub one_of: &'static [&'static str],
    pub format: Option<ParamFormat>,
    /// `label` or `matrix` for a path parameter whose value carries that
    /// style's prefix (`.5`, `;id=5`); other styles lay a scalar out bare.
    pub style: Style,
    /// `allowReserved`: a query value's `+` is a plus sign, not a space.
    pub allow_reserved: bool,
}

impl ParamRule {
    pub const fn new(
        location: Location,
        name: &'static str,
        key: &'static str,
        kind: ParamKind,
    ) -> Self {
        ParamRule {
            location,
            name,
            key,
            kind,
            minimum: None,
            maximum: None,
            min_length: None,
            max_length: None,
            pattern: None,
            one_of: &[],
            format: None,
            style: Style::Simple,
            allow_reserved: false,
        }
    }

    pub const fn minimum(mut self, bound: f64, exclusive: bool) -> Self {
        self.minimum = Some((bound, exclusive));
        self
    }

    pub const fn maximum(mut self, bound: f64, exclusive: bool) -> Self {
        self.maximum = Some((bound, exclusive));
        self
    }

    pub const fn min_length(mut self, length: usize) -> Self {
        self.min_length = Some(length);
        self
    }

    pub const fn max_length(mut self, length: usize) -> Self {
        self.max_length = Some(length);
        self
    }

    pub const fn pattern(mut self, pattern: &'static Pattern) -> Self {
        self.pattern = Some(pattern);
        self
    }

    pub const fn one_of(mut self, values: &'static [&'static str]) -> Self {
        self.one_of = values;
        self
    }

    pub const fn format(mut self, format: ParamFormat) -> Self {
        self.format = Some(format);
        self
    }

    pub const fn style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }

    pub const fn allow_reserved(mut self) -> Self {
        self.allow_reserved = true;
        self
    }

    fn violation(&self, detail: impl Into<String>) -> Violation {
        Violation::new(self.location, pointer(self.name, None), detail)
    }

    /// Parses `raw` as `T` after checking every constraint.
    fn parse<T: FromStr>(&self, raw: &str) -> Result<T, String> {
        self.check_text(raw)?;
        let value = raw.parse::<T>().map_err(|_| self.type_error())?;
        self.check_bounds(raw)?;
        Ok(value)
    }

    /// Checks every constraint of `raw` and gives it the JSON type of the
    /// parameter's schema (`7` rather than `"7"` for an integer), as a
    /// generated model deserialises it.
    fn json(&self, raw: &str) -> Result<Value, String> {
        self.check_text(raw)?;
        let value = match self.kind {
            ParamKind::String => Some(Value::String(raw.to_owned())),
            ParamKind::Integer => raw.parse::<i64>().ok().map(Value::from),
            ParamKind::Number => raw
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            ParamKind::Boolean => raw.parse::<bool>().ok().map(Value::Bool),
        };
        let value = value.ok_or_else(|| self.type_error())?;
        self.check_bounds(raw)?;
        Ok(value)
    }

    /// The constraints on the text of a value: enumeration, length,
    /// pattern and format.
    fn check_text(&self, raw: &str) -> Result<(), String> {
        if !self.one_of.is_empty() && !self.one_of.contains(&raw) {
            return Err(format!("must be one of: {}", self.one_of.join(", ")));
        }
        if self.min_length.is_some() || self.max_length.is_some() {
            let length = raw.chars().count();
            if let Some(min) = self.min_length.filter(|min| length < *min) {
                return Err(format!("must be at least {min} characters long"));
            }
            if let Some(max) = self.max_length.filter(|max| length > *max) {
                return Err(format!("must be at most {max} characters long"));
            }
        }
        if let Some(pattern) = self.pattern {
            let regex = pattern
                .regex()
                .map_err(|_| "cannot be checked".to_owned())?;
            if !regex.is_match(raw) {
                return Err(format!("must match the pattern {}", pattern.source));
            }
        }
        if let Some(format) = self.format {
            check_format(format, raw)?;
        }
        Ok(())
    }

    /// What a value that does not parse as the parameter's type is told.
    fn type_error(&self) -> String {
        match (self.format, self.kind) {
            (Some(ParamFormat::Uuid), _) => "must be a UUID",
            (Some(ParamFormat::DateTime), _) => "must be an RFC 3339 date-time",
            (Some(ParamFormat::Date), _) => "must be a date (YYYY-MM-DD)",
            (_, ParamKind::Integer) => "must be an integer in range",
            (_, ParamKind::Number) => "must be a number",
            (_, ParamKind::Boolean) => "must be `true` or `false`",
            (_, ParamKind::String) => "is not a valid value",
        }
        .to_owned()
    }

    fn check_bounds(&self, raw: &str) -> Result<(), String> {
        if self.minimum.is_none() && self.maximum.is_none() {
            return Ok(());
        }
        let number: f64 = raw.parse().map_err(|_| "must be a number".to_owned())?;
        if !number.is_finite() {
            return Err("must be a finite number".to_owned());
        }
        if let Some((min, exclusive)) = self
            .minimum
            .filter(|(min, exclusive)| number < *min || (*exclusive && number == *min))
        {
            let relation = if exclusive {
                "greater than"
            } else {
                "at least"
            };
            return Err(format!("must be {relation} {min}"));
        }
        if let Some((max, exclusive)) = self
            .maximum
            .filter(|(max, exclusive)| number > *max || (*exclusive && number == *max))
        {
            let relation = if exclusive { "less than" } else { "at most" };
            return Err(format!("must be {relation} {max}"));
        }
        Ok(())
    }

    /// A scalar's decoded text from its value as sent: without the prefix
    /// of its style, percent-decoded as its location encodes values.
    fn text<'v>(&self, source: &impl ParamSource, raw: &'v str) -> Result<Cow<'v, str>, String> {
        let bare = match self.style {
            Style::Label => raw.strip_prefix('.'),
            Style::Matrix => styled::strip_matrix_name(raw, self.name),
            _ => Some(raw),
        };
        let bare = bare.ok_or_else(|| styled::prefix_error(self.style, false, self.name))?;
        source
            .decode(bare, self.allow_reserved)
            .map_err(str::to_owned)
    }

    /// Checks a piece of an array or an object (already decoded) and
    /// deserialises it as `T`; its JSON form is for uniqueness checks.
    fn item<T: serde::de::DeserializeOwned>(&self, text: &str) -> Result<(Value, T), String> {
        let value = self.json(text)?;
        let typed = T::deserialize(&value).map_err(|_| self.type_error())?;
        Ok((value, typed))
    }
}

impl<T: FromStr> ReadParam<T> for ParamRule {
    fn read(
        &self,
        source: &impl ParamSource,
        violations: &mut Vec<Violation>,
    ) -> Option<Option<T>> {
        let raw = match source.raw(self.key) {
            Ok(Some(raw)) => raw,
            Ok(None) => return Some(None),
            Err(detail) => {
                violations.push(self.violation(detail));
                return None;
            }
        };
        match self
            .text(source, raw)
            .and_then(|text| self.parse::<T>(&text))
        {
            Ok(value) => Some(Some(value)),
            Err(detail) => {
                violations.push(self.violation(detail));
                None
            }
        }
    }

    fn missing(&self) -> Violation {
        self.violation("is required")
    }
}

fn check_format(format: ParamFormat, raw: &str) -> Result<(), String> {
    let valid = match format {
        // The hyphenated form only, as JSON Schema's `uuid` format; the
        // digits are checked when the value is parsed.
        ParamFormat::Uuid => raw.len() == 36,
        ParamFormat::DateTime => chrono::DateTime::parse_from_rfc3339(raw).is_ok(),
        ParamFormat::Date => chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").is_ok(),
        ParamFormat::Email => raw
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.')),
    };
    if valid {
        Ok(())
    } else {
        Err(match format {
            ParamFormat::Uuid => "must be a UUID".to_owned(),
            ParamFormat::DateTime => "must be an RFC 3339 date-time".to_owned(),
            ParamFormat::Date => "must be a date (YYYY-MM-DD)".to_owned(),
            ParamFormat::Email => "must be an email address".to_owned(),
        })
    }
}

/// The JSON pointer of a parameter (`#/tags`), or of a place inside it
/// (`#/tags/1`, `#/filter/status`).
fn pointer(name: &str, inner: Option<&str>) -> String {
    match inner {
        None => format!("#/{}", escape_pointer(name)),
        Some(inner) => format!("#/{}/{}", escape_pointer(name), escape_pointer(inner)),
    }
}

/// An optional parameter: `Some(None)` when absent, `Some(Some(value))`
/// when present and valid; `None` (with the violations recorded) when invalid.
pub fn optional<T>(
    source: &impl ParamSource,
    rule: &impl ReadParam<T>,
    violations: &mut Vec<Violation>,
) -> Option<Option<T>> {
    rule.read(source, violations)
}

/// A required parameter: missing is a violation too.
pub fn required<T>(
    source: &impl ParamSource,
    rule: &impl ReadParam<T>,
    violations: &mut Vec<Violation>,
) -> Option<T> {
    match rule.read(source, violations) {
        Some(Some(value)) => Some(value),
        Some(None) => {
            violations.push(rule.missing());
            None
        }
        None => None,
    }
}
