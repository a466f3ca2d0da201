//! Bodies of every media type a `content` map may declare: how each
//! reaches Rust ([`BodyKind`]), its type, and, for a request body, the
//! JSON Schema it is checked against and how each form field's text is
//! read. What the generated code cannot honour is an error at the media
//! type's path, never a media type or a constraint left out.

use proc_macro2::TokenStream;
use quote::quote;
use serde_json::Value;

use super::headers::is_token;
use super::{ApiGen, BodyKind};
use crate::error::Error;
use crate::json_schema;
use crate::naming;
use crate::spec::At;
use crate::types::TypeGen;

/// A request body: its media types in the order the spec lists them.
pub(super) struct RequestBody {
    pub required: bool,
    pub media: Vec<Media>,
}

/// A body of one media type.
pub(super) struct Media {
    /// The media type or range as declared, lower-case, no parameters.
    pub essence: String,
    pub kind: BodyKind,
    /// The Rust type of the value.
    pub ty: TokenStream,
    /// A range (`image/*`, `*/*`): the value carries its actual type.
    pub range: bool,
    /// Its variant among the media types of one body.
    pub variant: syn::Ident,
    /// Request bodies: the JSON Schema the decoded body is checked against.
    pub schema: Option<Value>,
    /// Request forms with a schema: how each field's text is read.
    pub fields: Vec<FormField>,
    /// Response bodies: a value of the schema (`crate::sample`), for the mock.
    pub sample: Value,
}

/// A property of a form body's schema.
pub(super) struct FormField {
    pub name: String,
    pub kind: FieldKind,
    pub list: bool,
    /// Multipart `encoding.contentType`, as media types or ranges.
    pub content_types: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FieldKind {
    Text,
    Integer,
    Number,
    Boolean,
    File,
}

impl Media {
    /// Its variant in the enum of a body's media types.
    pub fn variant_decl(&self) -> TokenStream {
        let variant = &self.variant;
        let ty = &self.ty;
        let doc = format!(" `{}`", self.essence);
        quote!(#[doc = #doc] #variant(#ty))
    }
}

impl FormField {
    /// The runtime's `FormField` for it.
    pub fn tokens(&self, rt: &TokenStream) -> TokenStream {
        let name = &self.name;
        let kind = match self.kind {
            FieldKind::Text => quote!(Text),
            FieldKind::Integer => quote!(Integer),
            FieldKind::Number => quote!(Number),
            FieldKind::Boolean => quote!(Boolean),
            FieldKind::File => quote!(File),
        };
        let mut field = quote!(#rt::FormField::new(#name, #rt::FieldKind::#kind));
        if self.list {
            field = quote!(#field.list());
        }
        if !self.content_types.is_empty() {
            let types = &self.content_types;
            field = quote!(#field.accept(&[#(#types),*]));
        }
        field
    }
}

/// Keywords that leave a schema a plain string one; anything else makes it
/// a structure, which a body read as raw text or bytes cannot be.
const STRUCTURE: &[&str] = &[
    "properties",
    "additionalProperties",
    "items",
    "allOf",
    "oneOf",
    "anyOf",
    "not",
];

impl<'s> ApiGen<'s> {
    /// The media types of a request body's `content`; the types of inline
    /// schemas are named `{prefix}Body`, or `{prefix}{Variant}Body` when
    /// there are several.
    pub(super) fn request_media(
        &mut self,
        types: &mut TypeGen<'_>,
        prefix: &str,
        content: &At<'s>,
    ) -> Result<Vec<Media>, Error> {
        let entries = media_entries(content)?;
        if entries.is_empty() {
            return Err(content.error("a request body needs at least one media type"));
        }
        let several = entries.len() > 1;
        let mut media = Vec::new();
        for (essence, variant, entry) in entries {
            let hint = body_hint(prefix, &variant, several);
            media.push(self.request_one(types, &hint, essence, variant, &entry)?);
        }
        Ok(media)
    }

    fn request_one(
        &mut self,
        types: &mut TypeGen<'_>,
        hint: &str,
        essence: String,
        variant: syn::Ident,
        entry: &At<'s>,
    ) -> Result<Media, Error> {
        let rt = &self.runtime.clone();
        let kind = classify(&essence);
        let schema = entry.get("schema");
        if !matches!(kind, BodyKind::Form | BodyKind::Multipart)
            && let Some(encoding) = entry.get("encoding")
        {
            return Err(encoding.error("`encoding` applies to form and multipart bodies only"));
        }
        let range = essence.ends_with("/*");
        let mut media = Media {
            essence,
            kind,
            ty: quote!(),
            range,
            variant,
            schema: None,
            fields: Vec::new(),
            sample: Value::Null,
        };
        match (kind, schema) {
            (BodyKind::Json, Some(schema)) => {
                media.ty = types.type_of(&schema, hint)?;
                media.schema = Some(json_schema::convert(self.spec, &schema)?);
            }
            (BodyKind::Json, None) => media.ty = quote!(serde_json::Value),
            (BodyKind::Text, schema) => {
                media.schema = self.raw_schema(schema.as_ref(), &media.essence, true)?;
                media.ty = raw_type(rt, quote!(String), range);
            }
            (BodyKind::Form, Some(schema)) => {
                media.ty = types.type_of(&schema, hint)?;
                media.schema = Some(json_schema::convert(self.spec, &schema)?);
                media.fields = self.form_fields(&schema, entry.get("encoding"), false)?;
            }
            (BodyKind::Form, None) => {
                reject_encoding(entry)?;
                media.ty = quote!(Vec<(String, String)>);
            }
            (BodyKind::Multipart, schema) => {
                if let Some(schema) = schema {
                    media.schema = Some(json_schema::convert(self.spec, &schema)?);
                    media.fields = self.form_fields(&schema, entry.get("encoding"), true)?;
                } else {
                    reject_encoding(entry)?;
                }
                media.ty = quote!(#rt::Multipart);
            }
            (BodyKind::EventStream, _) => {
                return Err(entry.error(
                    "a request body cannot be an event stream: the server reads a request whole",
                ));
            }
            (_, schema) => {
                self.raw_schema(schema.as_ref(), &media.essence, false)?;
                media.ty = raw_type(rt, quote!(#rt::Bytes), range);
            }
        }
        Ok(media)
    }

    /// The media types of a response's `content`. Only JSON is typed by its
    /// schema; text and other media types are what the operation writes,
    /// which their schema (if any) documents, as the schema of a JSON
    /// response documents what serde writes.
    pub(super) fn response_media(
        &self,
        types: &mut TypeGen<'_>,
        prefix: &str,
        content: &At<'_>,
    ) -> Result<Vec<Media>, Error> {
        let rt = &self.runtime;
        let entries = media_entries(content)?;
        let several = entries.len() > 1;
        let mut media = Vec::new();
        for (essence, variant, entry) in entries {
            let schema = entry.get("schema");
            let sample = schema.as_ref().map_or(Value::Null, |schema| {
                crate::sample::sample(self.spec.root, schema.value)
            });
            let range = essence.ends_with("/*");
            let (kind, ty) = match (classify(&essence), schema) {
                (BodyKind::Json, Some(schema)) => {
                    let hint = body_hint(prefix, &variant, several);
                    (BodyKind::Json, types.type_of(&schema, &hint)?)
                }
                (BodyKind::Json, None) => (BodyKind::Json, quote!(serde_json::Value)),
                (BodyKind::EventStream, _) if several => {
                    return Err(entry.error(
                        "an event stream is its response's only media type: a client that \
                         asks for one is answered with one",
                    ));
                }
                (BodyKind::EventStream, schema) => {
                    // The schema (if any) documents each event's data;
                    // the handler produces the events themselves.
                    if let Some(schema) = schema {
                        types.type_of(&schema, &format!("{prefix}Event"))?;
                    }
                    (BodyKind::EventStream, quote!(#rt::EventStream))
                }
                (BodyKind::Text | BodyKind::Form, _) => {
                    (BodyKind::Text, raw_type(rt, quote!(String), range))
                }
                _ => (BodyKind::Bytes, raw_type(rt, quote!(#rt::Bytes), range)),
            };
            media.push(Media {
                essence,
                kind,
                ty,
                range,
                variant,
                schema: None,
                fields: Vec::new(),
                sample,
            });
        }
        Ok(media)
    }

    /// The schema a raw (text or bytes) request body is checked against:
    /// none when it says only that the body is a string. Text is checked
    /// as one JSON string; constraints on bytes would go unchecked, so
    /// they are refused. On bytes, a schema of a structure (an XML
    /// document's object, say) describes what the handler parses itself:
    /// it is left unchecked with a warning that says so.
    fn raw_schema(
        &mut self,
        schema: Option<&At<'_>>,
        essence: &str,
        text: bool,
    ) -> Result<Option<Value>, Error> {
        let Some(schema) = schema else {
            return Ok(None);
        };
        let what = if text { "text" } else { "bytes" };
        let resolved = self.spec.resolve(schema.clone())?;
        let structure = resolved
            .str("type")
            .filter(|kind| *kind != "string")
            .map(|kind| format!("`{kind}`"))
            .or_else(|| {
                STRUCTURE
                    .iter()
                    .find(|k| resolved.get(k).is_some())
                    .map(|keyword| format!("`{keyword}`"))
            });
        if let Some(structure) = &structure
            && text
        {
            return Err(schema.error(format!(
                "a `{essence}` body is read as text, so its schema is a string one, not {structure}"
            )));
        }
        if let Some(structure) = structure {
            self.warn(
                &schema.path.0,
                format!(
                    "a `{essence}` body reaches the handler as {what}: its schema ({structure}) \
                     is not checked; the handler parses and checks the document itself"
                ),
            );
            return Ok(None);
        }
        let converted = json_schema::convert(self.spec, schema)?;
        match (constrains(&converted), text) {
            (false, _) => Ok(None),
            (true, true) => Ok(Some(converted)),
            (true, false) => Err(schema.error(format!(
                "a `{essence}` body is read as bytes, whose constraints are not checked; \
                 declare `type: string, format: binary` only"
            ))),
        }
    }

    /// The fields of a form body's schema, one object (its `allOf` members
    /// merged) of scalar or array-of-scalar properties, with the spec's
    /// `encoding` applied.
    fn form_fields(
        &self,
        schema: &At<'s>,
        encoding: Option<At<'_>>,
        multipart: bool,
    ) -> Result<Vec<FormField>, Error> {
        let mut properties = Vec::new();
        self.form_properties(schema, &mut properties)?;
        let mut fields = Vec::new();
        for (name, property) in &properties {
            let (kind, list) = self.field_kind(name, property, multipart)?;
            fields.push(FormField {
                name: name.clone(),
                kind,
                list,
                content_types: Vec::new(),
            });
        }
        let Some(encoding) = encoding else {
            return Ok(fields);
        };
        for (name, rules) in encoding.entries()? {
            let Some(field) = fields.iter_mut().find(|field| field.name == name) else {
                return Err(rules.error(format!("`{name}` is not a property of the body's schema")));
            };
            for (key, rule) in rules.entries()? {
                let default = match key {
                    "contentType" if multipart => {
                        field.content_types = content_types(&rule)?;
                        continue;
                    }
                    "style" => Value::from("form"),
                    "explode" => Value::Bool(true),
                    "allowReserved" => Value::Bool(false),
                    _ if key.starts_with("x-") => continue,
                    _ => {
                        return Err(rule.error(format!(
                            "`{key}` is not supported in this body's `encoding`"
                        )));
                    }
                };
                if multipart {
                    return Err(rule.error(format!("`{key}` applies to urlencoded bodies only")));
                }
                if *rule.value != default {
                    return Err(rule.error(format!(
                        "only `{key}: {default}` is read, the form encoding browsers send"
                    )));
                }
            }
        }
        Ok(fields)
    }

    fn form_properties(
        &self,
        schema: &At<'s>,
        properties: &mut Vec<(String, At<'s>)>,
    ) -> Result<(), Error> {
        let node = self.spec.resolve(schema.clone())?;
        if let Some(kind) = node.str("type").filter(|kind| *kind != "object") {
            return Err(schema.error(format!(
                "a form body's schema is an object of fields, not `{kind}`"
            )));
        }
        if let Some(list) = node.get("oneOf").or_else(|| node.get("anyOf")) {
            return Err(list.error(
                "a form body's schema is one object: with alternatives, which text a field holds cannot be known",
            ));
        }
        if let Some(members) = node.get("allOf") {
            for member in members.items()? {
                self.form_properties(&member, properties)?;
            }
        }
        if let Some(list) = node.get("properties") {
            for (name, property) in list.entries()? {
                match properties.iter_mut().find(|(existing, _)| existing == name) {
                    Some(slot) => slot.1 = property,
                    None => properties.push((name.to_owned(), property)),
                }
            }
        }
        Ok(())
    }

    /// How the text of a form field is read, and whether it repeats.
    fn field_kind(
        &self,
        name: &str,
        property: &At<'_>,
        multipart: bool,
    ) -> Result<(FieldKind, bool), Error> {
        let resolved = self.spec.resolve(property.clone())?;
        let (item, list) = match (resolved.str("type"), resolved.get("items")) {
            (Some("array"), Some(items)) => (items, true),
            _ => (property.clone(), false),
        };
        let node = self.spec.resolve(item.clone())?;
        let structured = STRUCTURE.iter().find(|k| node.get(k).is_some());
        let kind = match (node.str("type"), node.str("format"), structured) {
            (Some("string"), Some("binary"), _) if multipart => FieldKind::File,
            (Some("string"), Some("binary"), _) => {
                return Err(item.error(format!(
                    "field `{name}` is a file, which only a multipart/form-data body carries"
                )));
            }
            (Some("integer"), _, _) => FieldKind::Integer,
            (Some("number"), _, _) => FieldKind::Number,
            (Some("boolean"), _, _) => FieldKind::Boolean,
            (Some("string"), _, _) | (None, _, None) => FieldKind::Text,
            (kind, _, _) => {
                return Err(item.error(format!(
                    "field `{name}` is {}: a form field holds text, or a list of texts",
                    kind.map_or("a composed schema".to_owned(), |k| format!("`{k}`"))
                )));
            }
        };
        if kind == FieldKind::File && constrains(&json_schema::convert(self.spec, &item)?) {
            return Err(item.error(format!(
                "file `{name}` has constraints, which are not checked on files"
            )));
        }
        Ok((kind, list))
    }
}

/// The name of a body's inline schema type: `{prefix}Body`, or
/// `{prefix}{Variant}Body` beside other media types.
fn body_hint(prefix: &str, variant: &syn::Ident, several: bool) -> String {
    if several {
        format!("{prefix}{variant}Body")
    } else {
        format!("{prefix}Body")
    }
}

/// Whether a converted schema says more of a string than that it is one.
fn constrains(converted: &Value) -> bool {
    converted
        .as_object()
        .is_some_and(|keywords| keywords.keys().any(|k| k != "type"))
}

/// A body without a schema has no fields to encode.
fn reject_encoding(entry: &At<'_>) -> Result<(), Error> {
    match entry.get("encoding") {
        Some(encoding) => {
            Err(encoding.error("`encoding` names fields, which only a schema declares"))
        }
        None => Ok(()),
    }
}

/// `T`, or `Content<T>` for a range, whose value says its actual type.
fn raw_type(rt: &TokenStream, ty: TokenStream, range: bool) -> TokenStream {
    if range { quote!(#rt::Content<#ty>) } else { ty }
}

/// How a body of a media type reaches Rust. Ranges are raw: a type within
/// one could be anything.
fn classify(essence: &str) -> BodyKind {
    let json = essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json") && subtype.len() > 5);
    match essence {
        _ if json => BodyKind::Json,
        "text/event-stream" => BodyKind::EventStream,
        "application/x-www-form-urlencoded" => BodyKind::Form,
        "multipart/form-data" => BodyKind::Multipart,
        _ if essence.starts_with("text/") => BodyKind::Text,
        _ => BodyKind::Bytes,
    }
}

/// The entries of a `content` map with their media types and variant
/// names; two that name the same type or variant are refused.
fn media_entries<'a>(content: &At<'a>) -> Result<Vec<(String, syn::Ident, At<'a>)>, Error> {
    let mut entries: Vec<(String, syn::Ident, At<'a>)> = Vec::new();
    for (key, entry) in content.entries()? {
        let essence = essence(key, &entry)?;
        let variant = variant(&essence);
        if let Some((other, _, _)) = entries
            .iter()
            .find(|(other, name, _)| *other == essence || *name == variant)
        {
            return Err(entry.error(format!(
                "`{key}` cannot be told apart from `{other}` (both `{variant}`)"
            )));
        }
        entries.push((essence, variant, entry));
    }
    Ok(entries)
}

/// A `content` key as `type/subtype`, lower-case. The only parameter kept
/// is a UTF-8 `charset`, which is what text is read and written as; others
/// would not be matched against requests.
fn essence(key: &str, node: &At<'_>) -> Result<String, Error> {
    let mut pieces = key.split(';');
    let essence = pieces
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let valid = essence.split_once('/').is_some_and(|(kind, subtype)| {
        is_token(kind) && is_token(subtype) && (kind != "*" || subtype == "*")
    });
    if !valid {
        return Err(node.error(format!("`{key}` is not a media type (`type/subtype`)")));
    }
    for parameter in pieces {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        let value = value.trim().trim_matches('"');
        if !(name.trim().eq_ignore_ascii_case("charset") && value.eq_ignore_ascii_case("utf-8")) {
            return Err(node.error(format!(
                "media type parameter `{}` is not supported; only `charset=utf-8`",
                parameter.trim()
            )));
        }
    }
    Ok(essence)
}

/// The media types and ranges of an `encoding.contentType`, comma-separated.
fn content_types(rule: &At<'_>) -> Result<Vec<String>, Error> {
    let list = rule
        .value
        .as_str()
        .ok_or_else(|| rule.error("`contentType` is a string"))?;
    list.split(',')
        .map(|one| essence(one.trim(), rule))
        .collect()
}

/// The variant of a media type among several: `Json`, `Form`, `Multipart`,
/// `Text` (`text/plain`), `Any` (`*/*`), `AnyImage` (`image/*`), the
/// subtype for `application/` and `text/` types (`Xml`, `Csv`,
/// `MergePatchJson`), else type and subtype (`ImagePng`).
fn variant(essence: &str) -> syn::Ident {
    let words = match essence {
        "application/json" => "json".to_owned(),
        "application/x-www-form-urlencoded" => "form".to_owned(),
        "multipart/form-data" => "multipart".to_owned(),
        "text/plain" => "text".to_owned(),
        "*/*" => "any".to_owned(),
        _ => match essence.split_once('/') {
            Some((kind, "*")) => format!("any {kind}"),
            Some(("application" | "text", subtype)) => subtype.to_owned(),
            Some((kind, subtype)) => format!("{kind} {subtype}"),
            None => essence.to_owned(),
        },
    };
    naming::ident(&naming::variant_name(&words))
}
