//! Parameter rules and parsing: the constraints the spec states for each
//! path, query and header parameter, and where their values are read from.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::OnceLock;

use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::problem::escape_pointer;
use crate::problem::{Location, Violation};

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

/// Every constraint the spec states for one parameter. Generated code builds
/// these as statics; checking one allocates nothing unless it fails.
pub struct ParamRule {
    pub location: Location,
    /// The name as the spec spells it (used in violation pointers).
    pub name: &'static str,
    /// The name to look the value up by (header names lower-cased, which
    /// `HeaderMap` finds without converting).
    pub key: &'static str,
    pub kind: ParamKind,
    pub minimum: Option<(f64, bool)>,
    pub maximum: Option<(f64, bool)>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub pattern: Option<&'static Pattern>,
    pub one_of: &'static [&'static str],
    pub format: Option<ParamFormat>,
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

    fn violation(&self, detail: impl Into<String>) -> Violation {
        Violation::new(
            self.location,
            format!("#/{}", escape_pointer(self.name)),
            detail,
        )
    }

    /// Parses `raw` as `T` after checking every constraint.
    fn parse<T: FromStr>(&self, raw: &str) -> Result<T, String> {
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
        let value = raw.parse::<T>().map_err(|_| {
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
        })?;
        if self.minimum.is_some() || self.maximum.is_some() {
            let number: f64 = raw.parse().map_err(|_| "must be a number".to_owned())?;
            if !number.is_finite() {
                return Err("must be a finite number".to_owned());
            }
            if let Some((min, exclusive)) = self
                .minimum
                .filter(|(min, exclusive)| number < *min || (*exclusive && number == *min))
            {
                {
                    let relation = if exclusive {
                        "greater than"
                    } else {
                        "at least"
                    };
                    return Err(format!("must be {relation} {min}"));
                }
            }
            if let Some((max, exclusive)) = self
                .maximum
                .filter(|(max, exclusive)| number > *max || (*exclusive && number == *max))
            {
                {
                    let relation = if exclusive { "less than" } else { "at most" };
                    return Err(format!("must be {relation} {max}"));
                }
            }
        }
        Ok(value)
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

/// Where parameter values are read from.
pub trait ParamSource {
    /// The raw value of the parameter `key`; an error when it cannot be read as one value.
    fn raw(&self, key: &str) -> Result<Option<&str>, &'static str>;
}

/// The path parameters of a routed request, read straight from its path by
/// their place in the route template, counted from the end (so a router
/// nested under a prefix reads the same). Allocates only to percent-decode.
pub struct PathSegments<'a> {
    path: &'a str,
    /// Each parameter's name and its segment's position from the end.
    params: &'static [(&'static str, usize)],
    /// Decoded values, only when the path holds percent-escapes.
    decoded: Vec<(&'static str, Result<String, ()>)>,
}

impl<'a> PathSegments<'a> {
    pub fn new(path: &'a str, params: &'static [(&'static str, usize)]) -> Self {
        let mut segments = PathSegments {
            path,
            params,
            decoded: Vec::new(),
        };
        if path.contains('%') {
            for (name, from_end) in params {
                if let Some(raw) = path
                    .rsplit('/')
                    .nth(*from_end)
                    .filter(|raw| raw.contains('%'))
                {
                    let value = percent_encoding::percent_decode_str(raw)
                        .decode_utf8()
                        .map(|v| v.into_owned())
                        .map_err(|_| ());
                    segments.decoded.push((name, value));
                }
            }
        }
        segments
    }
}

impl ParamSource for PathSegments<'_> {
    fn raw(&self, key: &str) -> Result<Option<&str>, &'static str> {
        if let Some((_, value)) = self.decoded.iter().find(|(name, _)| *name == key) {
            return match value {
                Ok(value) => Ok(Some(value)),
                Err(()) => Err("must be percent-encoded UTF-8"),
            };
        }
        let Some((_, from_end)) = self.params.iter().find(|(name, _)| *name == key) else {
            return Ok(None);
        };
        Ok(self.path.rsplit('/').nth(*from_end))
    }
}

impl ParamSource for HeaderMap {
    fn raw(&self, name: &str) -> Result<Option<&str>, &'static str> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .map(Some)
                .map_err(|_| "must be visible ASCII"),
        }
    }
}

/// The decoded query string of a request.
pub struct QuerySource<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl ParamSource for QuerySource<'_> {
    fn raw(&self, name: &str) -> Result<Option<&str>, &'static str> {
        let mut found = self.0.iter().filter(|(key, _)| key == name);
        match (found.next(), found.next()) {
            (None, _) => Ok(None),
            (Some((_, value)), None) => Ok(Some(value)),
            (Some(_), Some(_)) => Err("must be given at most once"),
        }
    }
}

pub fn query_source(parts: &Parts) -> QuerySource<'_> {
    QuerySource(form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()).collect())
}

/// An optional parameter: `Some(None)` when absent, `Some(Some(value))`
/// when present and valid; `None` (with the violation recorded) when invalid.
pub fn optional<T: FromStr>(
    source: &impl ParamSource,
    rule: &ParamRule,
    violations: &mut Vec<Violation>,
) -> Option<Option<T>> {
    let raw = match source.raw(rule.key) {
        Ok(Some(raw)) => raw,
        Ok(None) => return Some(None),
        Err(detail) => {
            violations.push(rule.violation(detail));
            return None;
        }
    };
    match rule.parse(raw) {
        Ok(value) => Some(Some(value)),
        Err(detail) => {
            violations.push(rule.violation(detail));
            None
        }
    }
}

/// A required parameter: missing is a violation too.
pub fn required<T: FromStr>(
    source: &impl ParamSource,
    rule: &ParamRule,
    violations: &mut Vec<Violation>,
) -> Option<T> {
    match optional(source, rule, violations) {
        Some(Some(value)) => Some(value),
        Some(None) => {
            violations.push(rule.violation("is required"));
            None
        }
        None => None,
    }
}
