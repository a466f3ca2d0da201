//! How the spec's names become Rust names.
//!
//! Schema names become type names and property names become field names by
//! the rule of `typify`, which names the same schemas and properties in the
//! progenitor client, so that a model reads the same on both sides:
//!
//! 1. `'` is dropped and every character that cannot continue a Rust
//!    identifier (Unicode `XID_Continue`) becomes a word break;
//! 2. the words are joined in PascalCase (types) or snake_case (fields) by
//!    `heck`; the exact names `+1` and `-1` become `plus1` and `minus1`;
//! 3. a result that does not start with an `XID_Start` character gets `X`
//!    (types) or `x` (fields) in front, and an empty one is `X` or `x`;
//! 4. a keyword gets `_` after it (`Self_`, `self_`) — except that a field
//!    or method named by a keyword a raw identifier can spell is written
//!    `r#type` where the client writes `type_`.
//!
//! Where two names of one namespace (the types of a document, the fields of
//! one object, the operations) meet after conversion, a name that already is
//! its own conversion keeps it; the others, in document order, take the first
//! free of `name2`, `name3`, … (types) or `name_2`, `name_3`, … (fields and
//! operations). `#[serde(rename)]` keeps every wire name.

use std::collections::BTreeSet;

use heck::{ToPascalCase, ToSnakeCase};
use proc_macro2::{Ident, Span};
use unicode_ident::{is_xid_continue, is_xid_start};

/// Keywords a raw identifier can spell (`r#type`); typify's list, less the
/// ones below.
const RAW_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// Keywords no raw identifier can spell: they take a `_` suffix.
const PLAIN_KEYWORDS: &[&str] = &["_", "crate", "self", "Self", "super"];

#[derive(Clone, Copy)]
enum Case {
    Pascal,
    Snake,
}

impl Case {
    fn apply(self, text: &str) -> String {
        match self {
            Case::Pascal => text.to_pascal_case(),
            Case::Snake => text.to_snake_case(),
        }
    }
}

/// Step 1 of the rule.
fn clean(input: &str) -> String {
    input
        .replace('\'', "")
        .replace(|c: char| !is_xid_continue(c), "-")
}

/// Steps 1 to 3 of the rule (typify's `sanitize` before its keyword check).
fn recase(input: &str, case: Case) -> String {
    let out = match input {
        "+1" => "plus1".to_owned(),
        "-1" => "minus1".to_owned(),
        _ => case.apply(&clean(input)),
    };
    let prefix = case.apply("x");
    match out.chars().next() {
        None => prefix,
        Some(c) if is_xid_start(c) => out,
        Some(_) => prefix + &out,
    }
}

/// Whether `text` can be written as an identifier (a raw-able keyword counts,
/// since [`ident`] writes it raw).
fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c == '_' || is_xid_start(c))
        && chars.all(is_xid_continue)
        && !PLAIN_KEYWORDS.contains(&text)
}

/// `text` when it is an identifier; otherwise its ASCII letters, digits and
/// `_` behind an `x`. Case mapping may in principle leave a character that
/// no identifier may hold; the generator must not panic on one.
fn identifier_or_ascii(text: String) -> String {
    if is_identifier(&text) {
        return text;
    }
    let ascii: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    format!("x{ascii}")
}

/// The type name of a schema (`user-profile` -> `UserProfile`).
pub fn type_name(wire: &str) -> String {
    let out = recase(wire, Case::Pascal);
    let out = if RAW_KEYWORDS.contains(&out.as_str()) || PLAIN_KEYWORDS.contains(&out.as_str()) {
        out + "_"
    } else {
        out
    };
    identifier_or_ascii(out)
}

/// The start of generated type names (`pets.list` -> `PetsList`, to which
/// `Response`, `Body`, … are added), so no keyword escape.
pub fn type_prefix(wire: &str) -> String {
    identifier_or_ascii(recase(wire, Case::Pascal))
}

/// A wire name as the PascalCase piece of a longer type name (property
/// `2fa` of `User` gives `User2fa`): steps 1 and 2 only.
pub fn type_name_part(wire: &str) -> String {
    Case::Pascal.apply(&clean(wire))
}

/// The name of a generated type for `hint`, which other code builds from a
/// type name and pieces: kept when it already is an identifier.
pub fn type_ident_text(hint: &str) -> String {
    if is_identifier(hint) && !RAW_KEYWORDS.contains(&hint) {
        hint.to_owned()
    } else {
        type_name(hint)
    }
}

/// The field (or method) name of a wire name, as the identifier's text:
/// `dataSetList` -> `data_set_list`, `self` -> `self_`, `type` -> `type`
/// (written `r#type` by [`ident`]).
pub fn field_name(wire: &str) -> String {
    let out = recase(wire, Case::Snake);
    let out = if PLAIN_KEYWORDS.contains(&out.as_str()) {
        out + "_"
    } else {
        out
    };
    identifier_or_ascii(out)
}

/// The variant of a string enum for `value`: PascalCase, behind a `V` when
/// it does not start with a letter. Not typify's rule (which puts an `X`
/// there), as enum values are not the names the two sides are compared by.
pub fn variant_name(value: &str) -> String {
    let camel: String = value
        .to_pascal_case()
        .chars()
        .filter(|c| is_xid_continue(*c))
        .collect();
    let out = if !camel.starts_with(is_xid_start) {
        format!("V{camel}")
    } else if PLAIN_KEYWORDS.contains(&camel.as_str()) {
        camel + "_"
    } else {
        camel
    };
    identifier_or_ascii(out)
}

/// The identifier for a name made here: raw for a keyword a raw identifier
/// can spell (only [`field_name`] leaves one bare).
pub fn ident(text: &str) -> Ident {
    if RAW_KEYWORDS.contains(&text) {
        Ident::new_raw(text, Span::call_site())
    } else {
        Ident::new(&identifier_or_ascii(text.to_owned()), Span::call_site())
    }
}

/// The field identifier of a wire name.
pub fn field_ident(wire: &str) -> Ident {
    ident(&field_name(wire))
}

/// `base`, or `base` with `sep` and `n` after it for the `n`th try (without
/// the `_` of an escaped keyword: `self_` gives `self_2`, `Self_` `Self2`).
pub fn suffixed(base: &str, sep: &str, n: usize) -> String {
    if n <= 1 {
        base.to_owned()
    } else {
        format!("{}{sep}{n}", base.trim_end_matches('_'))
    }
}

/// The first of `base`, `base{sep}2`, `base{sep}3`, … that `free` accepts.
pub fn first_free(base: &str, sep: &str, mut free: impl FnMut(&str) -> bool) -> String {
    (1..)
        .map(|n| suffixed(base, sep, n))
        .find(|name| free(name))
        .unwrap_or_else(|| base.to_owned())
}

/// Names handed out in one namespace.
#[derive(Default)]
pub struct Namespace {
    taken: BTreeSet<String>,
}

impl Namespace {
    /// A namespace where `reserved` are already taken.
    pub fn with(reserved: &[&str]) -> Self {
        Namespace {
            taken: reserved.iter().map(|name| (*name).to_owned()).collect(),
        }
    }

    pub fn is_free(&self, name: &str) -> bool {
        !self.taken.contains(name)
    }

    pub fn take(&mut self, name: &str) {
        self.taken.insert(name.to_owned());
    }

    /// Takes and returns the first free of `base`, `base{sep}2`, ….
    pub fn claim(&mut self, base: &str, sep: &str) -> String {
        let name = first_free(base, sep, |name| self.is_free(name));
        self.take(&name);
        name
    }

    /// Names `wires` by `convert` in this namespace: a wire name that is its
    /// own conversion first, then the others in order, each taking the first
    /// free suffix on a collision. The result is in the order of `wires`.
    pub fn assign(
        &mut self,
        wires: &[&str],
        convert: impl Fn(&str) -> String,
        sep: &str,
    ) -> Vec<String> {
        let converted: Vec<String> = wires.iter().map(|wire| convert(wire)).collect();
        let mut names = vec![String::new(); wires.len()];
        for (index, (wire, name)) in wires.iter().zip(&converted).enumerate() {
            if wire == name && self.is_free(name) {
                self.take(name);
                names[index].clone_from(name);
            }
        }
        for (index, name) in converted.iter().enumerate() {
            if names[index].is_empty() {
                names[index] = self.claim(name, sep);
            }
        }
        names
    }
}
