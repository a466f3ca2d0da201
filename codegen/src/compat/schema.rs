//! Comparing two schemas of one value in the direction it travels. For a
//! request, a change that allows less (a lower `maxLength`, a new required
//! property, an enum value gone) refuses requests that were valid; for a
//! response, a change that allows more (a new enum value, a property made
//! optional or nullable) hands clients values they cannot decode.
//!
//! This file holds the walk and the judgement; `constraints.rs` compares
//! the keywords of one schema, `objects.rs` properties and variants.

use std::fmt;

use serde_json::Value;

use super::{Diff, Severity};
use crate::spec::OwnedPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    Request,
    Response,
}

/// Which way a change moves the set of values a schema allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    Tightens,
    Loosens,
    /// Neither a subset nor a superset: a different set.
    Alters,
}

impl Effect {
    /// Breaking for a request when it tightens, for a response when it
    /// loosens, and both ways when it alters.
    fn severity(self, direction: Direction) -> Severity {
        match (direction, self) {
            (_, Effect::Alters)
            | (Direction::Request, Effect::Tightens)
            | (Direction::Response, Effect::Loosens) => Severity::Breaking,
            _ => Severity::NonBreaking,
        }
    }

    fn consequence(self, direction: Direction) -> &'static str {
        match (direction, self) {
            (Direction::Request, Effect::Tightens) => "requests that were valid may now be refused",
            (Direction::Request, Effect::Loosens) => "the server accepts more than before",
            (Direction::Response, Effect::Loosens) => {
                "responses may now hold values that clients of the old contract reject"
            }
            (Direction::Response, Effect::Tightens) => {
                "responses stay within what clients already accept"
            }
            (_, Effect::Alters) => {
                "clients of the old contract send or expect values this one does not"
            }
        }
    }
}

/// What a message calls the value being compared: a body, a parameter or a
/// header, and the field within it.
#[derive(Debug, Clone)]
pub(super) struct Subject {
    root: String,
    field: String,
}

impl Subject {
    pub fn new(root: impl Into<String>) -> Self {
        Subject {
            root: root.into(),
            field: String::new(),
        }
    }

    fn field(&self, name: &str) -> Self {
        let field = if self.field.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.field)
        };
        Subject {
            root: self.root.clone(),
            field,
        }
    }

    /// The sentence-initial form, for the start of a message.
    pub fn sentence(&self) -> String {
        capitalised(&self.to_string())
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.root)
        } else {
            write!(f, "`{}` in {}", self.field, self.root)
        }
    }
}

/// Where a comparison stands: the way the value travels, its JSON path in
/// the new document and what messages call it.
#[derive(Debug, Clone)]
pub(super) struct Site {
    pub direction: Direction,
    pub path: OwnedPath,
    pub subject: Subject,
}

impl Site {
    pub fn new(direction: Direction, path: OwnedPath, subject: Subject) -> Self {
        Site {
            direction,
            path,
            subject,
        }
    }

    /// The same value, at one of its keywords (`maxLength`).
    pub fn at(&self, key: &str) -> OwnedPath {
        self.path.key(key)
    }

    /// One of its properties.
    pub fn property(&self, name: &str) -> Site {
        Site {
            direction: self.direction,
            path: self.path.key("properties").key(name),
            subject: self.subject.field(name),
        }
    }

    /// One variant of its `oneOf`/`anyOf`.
    pub fn variant(&self, keyword: &str, index: usize) -> Site {
        Site {
            direction: self.direction,
            path: self.path.key(keyword).index(index),
            subject: self.subject.clone(),
        }
    }

    /// Its array items, or the schema of its additional properties.
    pub fn inner(&self, key: &str, field: &str) -> Site {
        Site {
            direction: self.direction,
            path: self.path.key(key),
            subject: Subject {
                root: self.subject.root.clone(),
                field: format!("{}{field}", self.subject.field),
            },
        }
    }

    /// The rule name for this direction.
    pub fn rule(&self, request: &'static str, response: &'static str) -> &'static str {
        match self.direction {
            Direction::Request => request,
            Direction::Response => response,
        }
    }

    /// `*-constraint-tightened` or `*-constraint-loosened`.
    pub fn constraint_rule(&self, effect: Effect) -> &'static str {
        match effect {
            Effect::Tightens => self.rule(
                "request-constraint-tightened",
                "response-constraint-tightened",
            ),
            _ => self.rule(
                "request-constraint-loosened",
                "response-constraint-loosened",
            ),
        }
    }
}

impl Diff<'_> {
    /// Compares the schemas of one value, following `$ref`s and merging
    /// `allOf`s on both sides.
    pub(super) fn schema(&mut self, old: &Value, new: &Value, site: &Site) {
        let (old_document, new_document) = (self.old, self.new);
        let (old_schema, old_name) = old_document.schema(old);
        let (new_schema, new_name) = new_document.schema(new);
        let key = (
            old_name.unwrap_or_default().to_owned(),
            new_name.unwrap_or_default().to_owned(),
            site.direction,
        );
        let named = old_name.is_some() || new_name.is_some();
        if named {
            if self.visiting.contains(&key) {
                return;
            }
            self.visiting.push(key);
        }
        self.compare(&old_schema, &new_schema, site);
        if named {
            self.visiting.pop();
        }
    }

    /// Reports a change of what the value allows, judged by its direction.
    pub(super) fn judged(
        &mut self,
        rule: &'static str,
        effect: Effect,
        site: &Site,
        path: &OwnedPath,
        what: &str,
    ) {
        let message = format!(
            "{}: {what}; {}.",
            site.subject.sentence(),
            effect.consequence(site.direction)
        );
        self.report(rule, effect.severity(site.direction), path, message);
    }

    fn compare(&mut self, old: &Value, new: &Value, site: &Site) {
        if !self.variants(old, new, site) || !self.types(old, new, site) {
            return;
        }
        self.keyword(
            "format",
            site.rule("request-format-changed", "response-format-changed"),
            old,
            new,
            site,
        );
        self.keyword(
            "pattern",
            site.rule("request-pattern-changed", "response-pattern-changed"),
            old,
            new,
            site,
        );
        self.nullable(old, new, site);
        for key in ["exclusiveMinimum", "exclusiveMaximum", "uniqueItems"] {
            self.restricting_flag(key, old, new, site);
        }
        self.enumeration(old, new, site);
        for key in ["maxLength", "maximum", "maxItems", "maxProperties"] {
            self.bound(key, true, old, new, site);
        }
        for key in ["minLength", "minimum", "minItems", "minProperties"] {
            self.bound(key, false, old, new, site);
        }
        self.additional_properties(old, new, site);
        self.properties(old, new, site);
        if let (Some(old_items), Some(new_items)) = (old.get("items"), new.get("items")) {
            self.schema(old_items, new_items, &site.inner("items", "[]"));
        }
    }
}

pub(super) fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
