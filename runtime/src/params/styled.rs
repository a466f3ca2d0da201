//! Arrays and objects laid out by an OpenAPI 3.0 `style`: each is split
//! into scalars that are checked one by one, then deserialised as a whole.
//!
//! | style            | where         | array (`explode` false / true)   | object (false / true)             |
//! |------------------|---------------|----------------------------------|-----------------------------------|
//! | `form`           | query         | `ids=1,2` / `ids=1&ids=2`        | `f=k,v,k2,v2` / `k=v&k2=v2`        |
//! | `spaceDelimited` | query         | `ids=1%202` / -                  | -                                 |
//! | `pipeDelimited`  | query         | `ids=1\|2` / -                   | -                                 |
//! | `deepObject`     | query         | -                                | - / `f[k]=v&f[k2]=v2`             |
//! | `simple`         | path, header  | `1,2` / `1,2`                    | `k,v,k2,v2` / `k=v,k2=v2`         |
//! | `label`          | path          | `.1,2` / `.1.2`                  | `.k,v,k2,v2` / `.k=v.k2=v2`       |
//! | `matrix`         | path          | `;ids=1,2` / `;ids=1;ids=2`      | `;f=k,v,k2,v2` / `;k=v;k2=v2`     |
//!
//! The generator refuses the combinations marked `-`. Values are split as
//! sent and each piece is then decoded once, so an escaped delimiter
//! (`%2C`) belongs to its item. A space- or pipe-delimited list is split at
//! the delimiter in any spelling a client may send it in (`%20`, `+`; `|`,
//! `%7C`), since OpenAPI gives no other way to tell it from one in an item.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{ParamRule, ParamSource, ReadParam, pointer};
use crate::problem::{Location, Violation};

/// How an array or object parameter is laid out (OpenAPI `style`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Simple,
    Label,
    Matrix,
    Form,
    SpaceDelimited,
    PipeDelimited,
    DeepObject,
}

/// The value of one `name=value` piece of a matrix-style value (`name`
/// alone is an empty value).
fn matrix_value<'v>(piece: &'v str, name: &str) -> Option<&'v str> {
    let rest = piece.strip_prefix(name)?;
    if rest.is_empty() {
        Some(rest)
    } else {
        rest.strip_prefix('=')
    }
}

/// The value of a matrix-style scalar or unexploded list (`;id=5`).
pub(super) fn strip_matrix_name<'v>(raw: &'v str, name: &str) -> Option<&'v str> {
    matrix_value(raw.strip_prefix(';')?, name)
}

/// What a value without its style's prefix is told.
pub(super) fn prefix_error(style: Style, explode: bool, name: &str) -> String {
    match (style, explode) {
        (Style::Label, _) => "must start with `.` (label style)".to_owned(),
        (_, true) => "must start with `;` (matrix style)".to_owned(),
        (_, false) => format!("must start with `;{name}=` (matrix style)"),
    }
}

/// Splits at every occurrence of any of `delimiters`; nothing at all for an
/// empty value, which is how an empty list is sent.
fn split_any<'v>(raw: &'v str, delimiters: &[&str]) -> Vec<&'v str> {
    if raw.is_empty() {
        return Vec::new();
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < raw.len() {
        match delimiters.iter().find(|d| raw[at..].starts_with(**d)) {
            Some(delimiter) => {
                pieces.push(&raw[start..at]);
                at += delimiter.len();
                start = at;
            }
            // A character at a time, so every slice ends on a boundary.
            None => at += raw[at..].chars().next().map_or(1, char::len_utf8),
        }
    }
    pieces.push(&raw[start..]);
    pieces
}

/// The pieces of one value laid out in `style`, still encoded, after the
/// style's prefix (`.`, `;name=`). An exploded matrix value is a list of
/// `name=value` pieces after a `;`: the name is the parameter's for an
/// array (`;id=1;id=2`), a property's for an object (`;k=v;k2=v2`).
pub(super) fn pieces<'v>(
    raw: &'v str,
    style: Style,
    explode: bool,
    name: &str,
) -> Result<Vec<&'v str>, String> {
    let rest = match (style, explode) {
        (Style::Label, _) => raw.strip_prefix('.'),
        (Style::Matrix, true) => raw.strip_prefix(';'),
        (Style::Matrix, false) => strip_matrix_name(raw, name),
        _ => Some(raw),
    };
    let rest = rest.ok_or_else(|| prefix_error(style, explode, name))?;
    let delimiters: &[&str] = match (style, explode) {
        (Style::SpaceDelimited, _) => &["%20", "+", " "],
        (Style::PipeDelimited, _) => &["|", "%7C", "%7c"],
        (Style::Label, true) => &["."],
        (Style::Matrix, true) => &[";"],
        _ => &[","],
    };
    Ok(split_any(rest, delimiters))
}

/// An array parameter: how it is laid out, the rule each item is checked
/// by (its location, name and key are the parameter's) and the constraints
/// on the list.
pub struct ArrayRule {
    pub items: ParamRule,
    pub style: Style,
    pub explode: bool,
    pub min_items: Option<usize>,
    pub max_items: Option<usize>,
    pub unique_items: bool,
}

impl ArrayRule {
    pub const fn new(items: ParamRule, style: Style, explode: bool) -> Self {
        ArrayRule {
            items,
            style,
            explode,
            min_items: None,
            max_items: None,
            unique_items: false,
        }
    }

    pub const fn min_items(mut self, count: usize) -> Self {
        self.min_items = Some(count);
        self
    }

    pub const fn max_items(mut self, count: usize) -> Self {
        self.max_items = Some(count);
        self
    }

    pub const fn unique_items(mut self) -> Self {
        self.unique_items = true;
        self
    }

    fn violation(&self, index: Option<usize>, detail: impl Into<String>) -> Violation {
        let index = index.map(|i| i.to_string());
        Violation::new(
            self.items.location,
            pointer(self.items.name, index.as_deref()),
            detail,
        )
    }

    /// The items as sent, `None` when the parameter is absent. A query
    /// list is one value, or (exploded) one per item; a header list may
    /// be spread over several lines and ignores empty elements, as RFC
    /// 9110 asks of list headers; a path list is its segment.
    fn raw_items<'s>(&self, source: &'s impl ParamSource) -> Result<Option<Vec<&'s str>>, String> {
        let rule = &self.items;
        let exploded_query = rule.location == Location::Query && self.explode;
        if exploded_query || rule.location == Location::Header {
            let values = source.raw_all(rule.key)?;
            if values.is_empty() {
                return Ok(None);
            }
            if exploded_query {
                return Ok(Some(values));
            }
            let items = values
                .into_iter()
                .flat_map(|line| line.split(','))
                .filter(|item| !item.trim_matches([' ', '\t']).is_empty())
                .collect();
            return Ok(Some(items));
        }
        let Some(raw) = source.raw(rule.key)? else {
            return Ok(None);
        };
        let pieces = pieces(raw, self.style, self.explode, rule.name)?;
        if self.style == Style::Matrix && self.explode {
            return pieces
                .into_iter()
                .map(|piece| {
                    matrix_value(piece, rule.name).ok_or_else(|| {
                        format!(
                            "must repeat `;{}=` before each item (matrix style)",
                            rule.name
                        )
                    })
                })
                .collect::<Result<_, _>>()
                .map(Some);
        }
        Ok(Some(pieces))
    }
}

impl<T: DeserializeOwned> ReadParam<Vec<T>> for ArrayRule {
    fn read(
        &self,
        source: &impl ParamSource,
        violations: &mut Vec<Violation>,
    ) -> Option<Option<Vec<T>>> {
        let raw_items = match self.raw_items(source) {
            Ok(Some(items)) => items,
            Ok(None) => return Some(None),
            Err(detail) => {
                violations.push(self.violation(None, detail));
                return None;
            }
        };
        let before = violations.len();
        if let Some(min) = self.min_items.filter(|min| raw_items.len() < *min) {
            violations.push(self.violation(None, format!("must have at least {min} items")));
        }
        if let Some(max) = self.max_items.filter(|max| raw_items.len() > *max) {
            violations.push(self.violation(None, format!("must have at most {max} items")));
        }
        let mut items = Vec::with_capacity(raw_items.len());
        // The first index of each item's JSON text, when items must be
        // unique: `1` and `01` are the same integer.
        let mut seen = HashMap::new();
        for (index, raw) in raw_items.into_iter().enumerate() {
            let parsed = source
                .decode(raw, self.items.allow_reserved)
                .map_err(str::to_owned)
                .and_then(|text| self.items.item::<T>(&text));
            match parsed {
                Ok((value, item)) => {
                    if self.unique_items {
                        let first = *seen.entry(value.to_string()).or_insert(index);
                        if first != index {
                            violations.push(self.violation(
                                Some(index),
                                format!("repeats item {first} (items must be unique)"),
                            ));
                        }
                    }
                    items.push(item);
                }
                Err(detail) => violations.push(self.violation(Some(index), detail)),
            }
        }
        (violations.len() == before).then_some(Some(items))
    }

    fn missing(&self) -> Violation {
        self.violation(None, "is required")
    }
}

/// An object parameter: how it is laid out, the rule of each property
/// (`name` the property's; `key` where an exploded `form` or `deepObject`
/// finds it in the query: `status` or `filter[status]`) and the names that
/// must be present.
pub struct ObjectRule {
    pub location: Location,
    pub name: &'static str,
    pub key: &'static str,
    pub style: Style,
    pub explode: bool,
    pub properties: &'static [ParamRule],
    pub required: &'static [&'static str],
    /// `additionalProperties: false`: a property the schema does not name
    /// is a violation rather than ignored.
    pub closed: bool,
    pub allow_reserved: bool,
    /// A map (`additionalProperties` with a schema): the rule every value
    /// is checked by, whatever its key.
    pub values: Option<&'static ParamRule>,
}

impl ObjectRule {
    pub const fn new(
        location: Location,
        name: &'static str,
        key: &'static str,
        style: Style,
        explode: bool,
        properties: &'static [ParamRule],
    ) -> Self {
        ObjectRule {
            location,
            name,
            key,
            style,
            explode,
            properties,
            required: &[],
            closed: false,
            allow_reserved: false,
            values: None,
        }
    }

    pub const fn required(mut self, names: &'static [&'static str]) -> Self {
        self.required = names;
        self
    }

    pub const fn closed(mut self) -> Self {
        self.closed = true;
        self
    }

    /// A map: any key, each value checked by `rule`.
    pub const fn values(mut self, rule: &'static ParamRule) -> Self {
        self.values = Some(rule);
        self
    }

    pub const fn allow_reserved(mut self) -> Self {
        self.allow_reserved = true;
        self
    }

    fn violation(&self, property: Option<&str>, detail: impl Into<String>) -> Violation {
        Violation::new(self.location, pointer(self.name, property), detail)
    }

    /// Whether the properties are query keys of their own (`status=x`,
    /// `filter[status]=x`) rather than packed into one value.
    fn spread(&self) -> bool {
        self.location == Location::Query
            && self.explode
            && matches!(self.style, Style::Form | Style::DeepObject)
    }

    /// The properties given as query keys of their own, each value as sent
    /// or why it cannot be read; `None` when none is given. A closed
    /// `deepObject` also reports the `filter[...]` keys it does not know.
    fn spread_pairs<'s>(
        &self,
        source: &'s impl ParamSource,
        violations: &mut Vec<Violation>,
    ) -> Option<Vec<Given<'s>>> {
        let before = violations.len();
        let mut pairs = Vec::new();
        for property in self.properties {
            if let Some(raw) = source.raw(property.key).transpose() {
                pairs.push((Cow::Borrowed(property.name), raw));
            }
        }
        if (self.closed || self.values.is_some()) && self.style == Style::DeepObject {
            let mut keys = source.keys();
            // A key given twice is read (and refused) once.
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                let inner = key
                    .strip_prefix(self.name)
                    .and_then(|rest| rest.strip_prefix('['))
                    .and_then(|rest| rest.strip_suffix(']'));
                let Some(inner) = inner.filter(|i| !self.properties.iter().any(|p| p.name == *i))
                else {
                    continue;
                };
                if self.values.is_some() {
                    if let Some(raw) = source.raw(key).transpose() {
                        pairs.push((Cow::Borrowed(inner), raw));
                    }
                } else {
                    violations.push(self.violation(Some(inner), "is not a known field"));
                }
            }
        }
        (!pairs.is_empty() || violations.len() > before).then_some(pairs)
    }

    /// The properties packed into the parameter's one value, names decoded
    /// and values as sent; `None` when the parameter is absent.
    fn packed_pairs<'s>(
        &self,
        source: &'s impl ParamSource,
    ) -> Result<Option<Vec<Given<'s>>>, String> {
        let Some(raw) = source.raw(self.key)? else {
            return Ok(None);
        };
        let pieces = pieces(raw, self.style, self.explode, self.name)?;
        let mut pairs = Vec::with_capacity(pieces.len() / 2);
        if self.explode {
            for piece in pieces {
                let (name, value) = piece
                    .split_once('=')
                    .ok_or("must list `name=value` pairs")?;
                pairs.push((source.decode(name, self.allow_reserved)?, Ok(value)));
            }
        } else {
            if pieces.len() % 2 != 0 {
                return Err("must list names and values in pairs".to_owned());
            }
            for pair in pieces.chunks_exact(2) {
                if let [name, value] = pair {
                    pairs.push((source.decode(name, self.allow_reserved)?, Ok(*value)));
                }
            }
        }
        Ok(Some(pairs))
    }
}

/// A property name given and its value as sent, or why it cannot be read.
type Given<'s> = (Cow<'s, str>, Result<&'s str, &'static str>);

impl<T: DeserializeOwned> ReadParam<T> for ObjectRule {
    fn read(
        &self,
        source: &impl ParamSource,
        violations: &mut Vec<Violation>,
    ) -> Option<Option<T>> {
        let before = violations.len();
        let pairs = if self.spread() {
            self.spread_pairs(source, violations)
        } else {
            match self.packed_pairs(source) {
                Ok(pairs) => pairs,
                Err(detail) => {
                    violations.push(self.violation(None, detail));
                    return None;
                }
            }
        };
        let Some(pairs) = pairs else {
            return Some(None);
        };
        let mut object = Map::new();
        // Properties given, valid or not: a bad one is not also missing.
        let mut given: Vec<&str> = Vec::new();
        for (name, raw) in &pairs {
            let name = name.as_ref();
            let property = self.properties.iter().find(|p| p.name == name);
            let Some(rule) = property.or(self.values) else {
                if self.closed {
                    violations.push(self.violation(Some(name), "is not a known field"));
                }
                continue;
            };
            if given.contains(&name) {
                violations.push(self.violation(Some(name), "must be given at most once"));
                continue;
            }
            given.push(name);
            let value = raw
                .and_then(|raw| source.decode(raw, self.allow_reserved))
                .map_err(str::to_owned)
                .and_then(|text| rule.json(&text));
            match value {
                Ok(value) => {
                    object.insert(name.to_owned(), value);
                }
                Err(detail) => violations.push(self.violation(Some(name), detail)),
            }
        }
        for name in self.required {
            if !given.contains(name) {
                violations.push(self.violation(Some(name), "is required"));
            }
        }
        if violations.len() > before {
            return None;
        }
        match T::deserialize(&Value::Object(object)) {
            Ok(value) => Some(Some(value)),
            Err(error) => {
                violations.push(self.violation(None, error.to_string()));
                None
            }
        }
    }

    fn missing(&self) -> Violation {
        self.violation(None, "is required")
    }
}
