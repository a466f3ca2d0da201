//! Reading one parameter: its location, its type, how its value is laid out
//! (`style`, `explode`, `allowReserved`, or `content`) and the rule that
//! checks it at request time.
//!
//! A scalar becomes a `ParamRule`; an array an `ArrayRule` holding its
//! items' `ParamRule`; an object an `ObjectRule` holding one per property;
//! a `content` parameter a `ContentRule` holding its JSON Schema. Whatever
//! of a parameter a rule cannot check (a nested array, `multipleOf`, a map
//! of objects) is an error naming its place in the spec, never left out.

use heck::{ToShoutySnakeCase, ToUpperCamelCase};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

use super::headers::check_header_name;
use super::{ApiGen, Location, Param};
use crate::error::Error;
use crate::json_schema;
use crate::spec::At;
use crate::types::{TypeGen, default_literal, doc_attrs, field_name};

/// A static a rule refers to, which `check_schemas` compiles at startup.
pub(super) enum Compiled {
    /// A `pattern`, as a regular expression.
    Pattern(String),
    /// The JSON Schema of a `content` parameter's document.
    Schema(Value),
}

/// Keywords a parameter rule cannot check: a schema using one is refused
/// rather than checked in part.
const UNCHECKED: &[&str] = &[
    "multipleOf",
    "not",
    "allOf",
    "anyOf",
    "oneOf",
    "minProperties",
    "maxProperties",
];

/// How a `schema` parameter is laid out, with the defaults of OpenAPI 3.0:
/// `form` in a query, `simple` elsewhere; `explode` only for `form` (and
/// `deepObject`, which is defined exploded only).
struct Layout<'a> {
    style: &'a str,
    explode: bool,
    allow_reserved: bool,
    /// Where errors about the layout point: the `style` if given.
    at: At<'a>,
}

impl<'a> Layout<'a> {
    fn read(node: &At<'a>, location: Location) -> Result<Self, Error> {
        let (style, at) = match node.get("style") {
            None => (
                if location == Location::Query {
                    "form"
                } else {
                    "simple"
                },
                node.clone(),
            ),
            Some(style) => match style.value.as_str() {
                Some(name) => (name, style),
                None => return Err(style.error("`style` is a string")),
            },
        };
        let allowed: &[&str] = match location {
            Location::Query => &["form", "spaceDelimited", "pipeDelimited", "deepObject"],
            Location::Path => &["simple", "label", "matrix"],
            Location::Header => &["simple"],
        };
        if !allowed.contains(&style) {
            let place = match location {
                Location::Query => "query",
                Location::Path => "path",
                Location::Header => "header",
            };
            return Err(at.error(format!(
                "style `{style}` is not defined for {place} parameters; use one of: {}",
                allowed.join(", ")
            )));
        }
        // A `deepObject` is defined exploded only: one without `explode`
        // (as many specs write it) is read so rather than refused.
        let explode = flag(node, "explode")?.unwrap_or(matches!(style, "form" | "deepObject"));
        let allow_reserved = flag(node, "allowReserved")?.unwrap_or(false);
        if allow_reserved && location != Location::Query {
            return Err(node.error("`allowReserved` applies to query parameters only"));
        }
        Ok(Layout {
            style,
            explode,
            allow_reserved,
            at,
        })
    }

    /// The runtime's `Style` variant.
    fn variant(&self, rt: &TokenStream) -> TokenStream {
        let variant = format_ident!("{}", self.style.to_upper_camel_case());
        quote!(#rt::Style::#variant)
    }
}

/// An optional boolean field.
fn flag(node: &At<'_>, key: &str) -> Result<Option<bool>, Error> {
    match node.get(key) {
        None => Ok(None),
        Some(value) => value
            .value
            .as_bool()
            .map(Some)
            .ok_or_else(|| value.error(format!("`{key}` is true or false"))),
    }
}

/// What reading a parameter's schema yields besides its Rust type.
struct Rule {
    /// The type of the rule's static and the expression building it.
    ty: TokenStream,
    expr: TokenStream,
    compiled: Vec<(syn::Ident, Compiled)>,
    /// The query keys it reads.
    keys: Vec<String>,
}

impl ApiGen<'_> {
    pub(super) fn param(
        &self,
        types: &mut TypeGen<'_>,
        prefix: &str,
        node: &At<'_>,
    ) -> Result<Param, Error> {
        let name = node
            .str("name")
            .ok_or_else(|| node.error("a parameter needs `name`"))?
            .to_owned();
        let location = match node.str("in") {
            Some("path") => Location::Path,
            Some("query") => Location::Query,
            Some("header") => {
                check_header_name(&name, node)?;
                Location::Header
            }
            Some("cookie") => {
                return Err(node.error(
                    "cookie parameters are not supported (the client generator cannot send them)",
                ));
            }
            other => return Err(node.error(format!("unknown parameter location {other:?}"))),
        };
        let required = location == Location::Path || node.flag("required");
        if location == Location::Path && !node.flag("required") {
            return Err(node.error("path parameters must say `required: true`"));
        }
        let lookup = if location == Location::Header {
            name.to_ascii_lowercase()
        } else {
            name.clone()
        };
        let place = Place {
            prefix,
            name: &name,
            lookup: &lookup,
            location,
        };
        let hint = format!("{prefix}{}", field_name(&name).to_upper_camel_case());
        let (schema, rule) = match (node.get("schema"), node.get("content")) {
            (Some(_), Some(content)) => {
                return Err(content.error("a parameter has a `schema` or a `content`, not both"));
            }
            (None, None) => return Err(node.error("a parameter needs a `schema` or a `content`")),
            (None, Some(content)) => self.content(&place, node, &content)?,
            (Some(schema), None) => {
                let rule = self.schema_rule(&place, node, &schema)?;
                (schema, rule)
            }
        };
        let inner = types.type_of(&schema, &hint)?;
        let resolved = self.spec.resolve(schema.clone())?;
        let default = match resolved.get("default") {
            Some(value) if !required => {
                Some(self.default(types, &value, &resolved, &inner, &hint)?)
            }
            _ => None,
        };
        let ty = if required || default.is_some() {
            inner.clone()
        } else {
            quote!(Option<#inner>)
        };
        Ok(Param {
            location,
            required,
            rule_type: rule.ty,
            rule: rule.expr,
            compiled: rule.compiled,
            keys: rule.keys,
            inner,
            ty,
            docs: doc_attrs(node.str("description")),
            default,
            name,
        })
    }

    /// The rule of a parameter described by a `schema` and a style.
    fn schema_rule(
        &self,
        place: &Place<'_>,
        node: &At<'_>,
        schema: &At<'_>,
    ) -> Result<Rule, Error> {
        let rt = &self.runtime;
        let resolved = self.spec.resolve(schema.clone())?;
        let layout = Layout::read(node, place.location)?;
        if resolved.flag("nullable") {
            return Err(schema.error("parameters cannot be nullable"));
        }
        check_unchecked(&resolved)?;
        match resolved.str("type") {
            Some("array") => {
                if matches!(layout.style, "deepObject") {
                    return Err(layout
                        .at
                        .error("style `deepObject` lays out objects, not arrays"));
                }
                if layout.explode && matches!(layout.style, "spaceDelimited" | "pipeDelimited") {
                    return Err(layout.at.error(format!(
                        "style `{}` is defined without `explode` only; use `form` for repeated keys",
                        layout.style
                    )));
                }
                let items = resolved
                    .get("items")
                    .ok_or_else(|| resolved.error("an array parameter needs `items`"))?;
                let items = self.spec.resolve(items)?;
                let mut compiled = Vec::new();
                let ident = place.static_ident("ITEMS_PATTERN");
                let item_rule = self.scalar(
                    place,
                    place.name,
                    place.lookup,
                    &items,
                    ident,
                    &mut compiled,
                )?;
                // Items are decoded one by one, each as its rule says.
                let item_rule = allow_reserved(item_rule, &layout);
                let style = layout.variant(rt);
                let explode = layout.explode;
                let mut expr = quote!(#rt::ArrayRule::new(#item_rule, #style, #explode));
                for (key, method) in [
                    ("minItems", quote!(min_items)),
                    ("maxItems", quote!(max_items)),
                ] {
                    if let Some(count) = count(&resolved, key)? {
                        expr = quote!(#expr.#method(#count));
                    }
                }
                if resolved.flag("uniqueItems") {
                    expr = quote!(#expr.unique_items());
                }
                Ok(Rule {
                    ty: quote!(#rt::ArrayRule),
                    expr,
                    compiled,
                    keys: place.query_keys(vec![place.name.to_owned()]),
                })
            }
            Some("object") => self.object(place, &resolved, &layout),
            Some("integer" | "number" | "boolean" | "string") => {
                if matches!(
                    layout.style,
                    "spaceDelimited" | "pipeDelimited" | "deepObject"
                ) {
                    return Err(layout.at.error(format!(
                        "style `{}` lays out arrays or objects, not single values",
                        layout.style
                    )));
                }
                let mut compiled = Vec::new();
                let ident = place.static_ident("PATTERN");
                let mut expr = self.scalar(
                    place,
                    place.name,
                    place.lookup,
                    &resolved,
                    ident,
                    &mut compiled,
                )?;
                if matches!(layout.style, "label" | "matrix") {
                    let style = layout.variant(rt);
                    expr = quote!(#expr.style(#style));
                }
                Ok(Rule {
                    ty: quote!(#rt::ParamRule),
                    expr: allow_reserved(expr, &layout),
                    compiled,
                    keys: place.query_keys(vec![place.name.to_owned()]),
                })
            }
            other => Err(schema.error(format!(
                "parameters must be strings, integers, numbers, booleans, arrays or objects \
                 (or JSON documents, with `content`), found {other:?}"
            ))),
        }
    }

    /// The rule of an object parameter: a `ParamRule` per property.
    fn object(
        &self,
        place: &Place<'_>,
        resolved: &At<'_>,
        layout: &Layout<'_>,
    ) -> Result<Rule, Error> {
        let rt = &self.runtime;
        match (layout.style, layout.explode) {
            ("spaceDelimited" | "pipeDelimited", _) => {
                return Err(layout.at.error(format!(
                    "style `{}` lays out arrays in OpenAPI 3.0; use `form` or `deepObject` for objects",
                    layout.style
                )));
            }
            ("deepObject", false) => {
                return Err(layout
                    .at
                    .error("style `deepObject` is defined with `explode: true` only"));
            }
            _ => {}
        }
        let nested = "an object parameter lists its `properties`, or is a map \
                      (`additionalProperties` with a schema and no `properties`), its values \
                      strings, integers, numbers or booleans; send other shapes as a JSON \
                      document (`content: application/json`)";
        let spread = place.location == Location::Query && layout.explode;
        let extra = resolved.get("additionalProperties");
        if let Some(values) = extra.as_ref().filter(|e| e.value.is_object()) {
            return self.map(place, resolved, layout, values, spread, nested);
        }
        let properties = resolved
            .get("properties")
            .ok_or_else(|| resolved.error(nested))?;
        let closed = match extra {
            None => false,
            Some(extra) => match extra.value {
                Value::Bool(allowed) => !allowed,
                _ => return Err(extra.error(nested)),
            },
        };
        if closed && spread && layout.style == "form" {
            return Err(resolved.error(
                "`additionalProperties: false` cannot be checked on an exploded `form` object: \
                 its properties share the query with every other key; use `deepObject`",
            ));
        }
        let mut rules = Vec::new();
        let mut keys = Vec::new();
        let mut compiled = Vec::new();
        let mut names = Vec::new();
        for (property, schema) in properties.entries()? {
            let schema = self.spec.resolve(schema)?;
            if !matches!(
                schema.str("type"),
                Some("integer" | "number" | "boolean" | "string")
            ) {
                return Err(schema.error(nested));
            }
            let key = match (spread, layout.style) {
                (true, "deepObject") => format!("{}[{property}]", place.name),
                _ => property.to_owned(),
            };
            let ident = place.static_ident(&format!(
                "{}_PATTERN",
                field_name(property).to_shouty_snake_case()
            ));
            rules.push(self.scalar(place, property, &key, &schema, ident, &mut compiled)?);
            keys.push(key);
            names.push(property.to_owned());
        }
        let mut expr = self.object_rule(place, layout, quote!(&[#(#rules),*]));
        if let Some(list) = resolved.get("required") {
            let mut required = Vec::new();
            for item in list.items()? {
                match item.value.as_str() {
                    Some(name) if names.iter().any(|n| n == name) => required.push(name.to_owned()),
                    _ => return Err(item.error("`required` names properties of the object")),
                }
            }
            if !required.is_empty() {
                expr = quote!(#expr.required(&[#(#required),*]));
            }
        }
        if closed {
            expr = quote!(#expr.closed());
        }
        Ok(object_result(
            rt,
            place,
            layout,
            expr,
            compiled,
            spread.then_some(keys),
        ))
    }

    /// The rule of a map parameter (`additionalProperties` with a schema):
    /// an `ObjectRule` without properties whose `values` rule checks each
    /// value. Spread over the query only as a `deepObject` (`tag[color]=red`):
    /// an exploded `form` map would claim every other key of the query.
    fn map(
        &self,
        place: &Place<'_>,
        resolved: &At<'_>,
        layout: &Layout<'_>,
        values: &At<'_>,
        spread: bool,
        nested: &str,
    ) -> Result<Rule, Error> {
        let rt = &self.runtime;
        if resolved.get("properties").is_some() {
            return Err(resolved
                .error("an object parameter is either a map or lists its `properties`, not both"));
        }
        if spread && layout.style == "form" {
            return Err(resolved.error(
                "a map cannot be an exploded `form` parameter: its keys would be every other key \
                 of the query; use `style: deepObject` (`name[key]=value`)",
            ));
        }
        if resolved.get("required").is_some() {
            return Err(resolved.error("a map parameter names no `required` keys"));
        }
        let values = self.spec.resolve(values.clone())?;
        if !matches!(
            values.str("type"),
            Some("integer" | "number" | "boolean" | "string")
        ) {
            return Err(values.error(nested));
        }
        let mut compiled = Vec::new();
        let ident = place.static_ident("VALUES_PATTERN");
        let rule = self.scalar(place, place.name, place.name, &values, ident, &mut compiled)?;
        let expr = self.object_rule(place, layout, quote!(&[]));
        let expr = quote!(#expr.values(&#rule));
        // A spread map's keys are `name[...]`, whatever they are.
        let spread_keys = spread.then(|| vec![format!("{}[*]", place.name)]);
        Ok(object_result(
            rt,
            place,
            layout,
            expr,
            compiled,
            spread_keys,
        ))
    }

    /// `ObjectRule::new(...)` for the parameter at `place` with `properties`.
    fn object_rule(
        &self,
        place: &Place<'_>,
        layout: &Layout<'_>,
        properties: TokenStream,
    ) -> TokenStream {
        let rt = &self.runtime;
        let (name, lookup, loc) = (place.name, place.lookup, place.location.runtime_variant());
        let style = layout.variant(rt);
        let explode = layout.explode;
        quote!(#rt::ObjectRule::new(
            #rt::Location::#loc,
            #name,
            #lookup,
            #style,
            #explode,
            #properties
        ))
    }

    /// The rule of a `content` parameter: a JSON document and its schema.
    fn content<'a>(
        &self,
        place: &Place<'_>,
        node: &At<'a>,
        content: &At<'a>,
    ) -> Result<(At<'a>, Rule), Error> {
        for key in ["style", "explode", "allowReserved"] {
            if let Some(field) = node.get(key) {
                return Err(field.error(format!(
                    "`{key}` lays out `schema` parameters; a `content` parameter is sent as its media type"
                )));
            }
        }
        let entries = content.entries()?;
        let [(media, entry)] = entries.as_slice() else {
            return Err(content.error("a `content` parameter has exactly one media type"));
        };
        if *media != "application/json" {
            return Err(entry.error(format!(
                "parameters of type `{media}` are not supported; use application/json"
            )));
        }
        let schema = entry
            .get("schema")
            .ok_or_else(|| entry.error("the parameter's media type needs a `schema`"))?;
        if self.spec.resolve(schema.clone())?.flag("nullable") {
            return Err(schema.error("parameters cannot be nullable"));
        }
        let document = json_schema::convert(self.spec, &schema)?;
        let rt = &self.runtime;
        let ident = place.static_ident("PARAM_SCHEMA");
        let (name, lookup, loc) = (place.name, place.lookup, place.location.runtime_variant());
        let expr = quote!(#rt::ContentRule::new(#rt::Location::#loc, #name, #lookup, &#ident));
        Ok((
            schema,
            Rule {
                ty: quote!(#rt::ContentRule),
                expr,
                compiled: vec![(ident, Compiled::Schema(document))],
                keys: place.query_keys(vec![place.name.to_owned()]),
            },
        ))
    }

    /// The `ParamRule` expression checking one scalar: a parameter, an item
    /// or a property named `name`, read by `key`. Its pattern, if any,
    /// becomes the static `pattern`.
    fn scalar(
        &self,
        place: &Place<'_>,
        name: &str,
        key: &str,
        resolved: &At<'_>,
        pattern: syn::Ident,
        compiled: &mut Vec<(syn::Ident, Compiled)>,
    ) -> Result<TokenStream, Error> {
        let rt = &self.runtime;
        let kind = match resolved.str("type") {
            Some("integer") => quote!(Integer),
            Some("number") => quote!(Number),
            Some("boolean") => quote!(Boolean),
            Some("string") => quote!(String),
            other => {
                return Err(resolved.error(format!(
                    "the items of an array parameter must be strings, integers, numbers or \
                     booleans, found {other:?}; send other shapes as a JSON document \
                     (`content: application/json`)"
                )));
            }
        };
        if resolved.flag("nullable") {
            return Err(resolved.error("parameters cannot be nullable"));
        }
        check_unchecked(resolved)?;
        let loc = place.location.runtime_variant();
        let mut rule = quote!(#rt::ParamRule::new(
            #rt::Location::#loc,
            #name,
            #key,
            #rt::ParamKind::#kind
        ));
        for (key, exclusive_key, method) in [
            ("minimum", "exclusiveMinimum", quote!(minimum)),
            ("maximum", "exclusiveMaximum", quote!(maximum)),
        ] {
            if let Some(bound) = resolved.get(key) {
                let value = bound
                    .value
                    .as_f64()
                    .ok_or_else(|| bound.error(format!("`{key}` must be a number")))?;
                let lit = proc_macro2::Literal::f64_unsuffixed(value);
                let exclusive = resolved.flag(exclusive_key);
                rule = quote!(#rule.#method(#lit, #exclusive));
            }
        }
        for (key, method) in [
            ("minLength", quote!(min_length)),
            ("maxLength", quote!(max_length)),
        ] {
            if let Some(length) = count(resolved, key)? {
                rule = quote!(#rule.#method(#length));
            }
        }
        if let Some(source) = resolved.str("pattern") {
            rule = quote!(#rule.pattern(&#pattern));
            compiled.push((pattern, Compiled::Pattern(source.to_owned())));
        }
        if let Some(values) = resolved.get("enum") {
            let values = values
                .items()?
                .iter()
                .map(|v| {
                    v.value
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| v.error("parameter enums list strings"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            rule = quote!(#rule.one_of(&[#(#values),*]));
        }
        if let Some(format) = resolved.str("format") {
            let format = match format {
                "uuid" => Some(quote!(Uuid)),
                "date-time" => Some(quote!(DateTime)),
                "date" => Some(quote!(Date)),
                "email" => Some(quote!(Email)),
                _ => None,
            };
            if let Some(format) = format {
                rule = quote!(#rule.format(#rt::ParamFormat::#format));
            }
        }
        Ok(rule)
    }

    /// The value of an optional parameter that is absent.
    fn default(
        &self,
        types: &mut TypeGen<'_>,
        value: &At<'_>,
        resolved: &At<'_>,
        ty: &TokenStream,
        hint: &str,
    ) -> Result<TokenStream, Error> {
        match resolved.str("type") {
            Some("array") => {
                let items = resolved
                    .get("items")
                    .ok_or_else(|| resolved.error("an array parameter needs `items`"))?;
                let item_ty = types.type_of(&items, &format!("{hint}Item"))?;
                let items = self.spec.resolve(items)?;
                let values = value
                    .items()?
                    .iter()
                    .map(|item| default_literal(item, &items, &item_ty))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(quote!(vec![#(#values),*]))
            }
            Some("integer" | "number" | "boolean" | "string") => {
                default_literal(value, resolved, ty)
            }
            _ => Err(value.error("defaults of object and JSON parameters are not supported")),
        }
    }
}

/// Where a parameter is, for the names of what its rule refers to.
struct Place<'a> {
    prefix: &'a str,
    name: &'a str,
    lookup: &'a str,
    location: Location,
}

impl Place<'_> {
    /// The query keys a parameter here reads: `keys` in a query, none
    /// elsewhere.
    fn query_keys(&self, keys: Vec<String>) -> Vec<String> {
        if self.location == Location::Query {
            keys
        } else {
            Vec::new()
        }
    }

    /// A static of the parameter: `LIST_PETS_TAGS_ITEMS_PATTERN`.
    fn static_ident(&self, suffix: &str) -> syn::Ident {
        format_ident!(
            "{}_{}_{suffix}",
            self.prefix.to_shouty_snake_case(),
            field_name(self.name).to_shouty_snake_case()
        )
    }
}

/// A non-negative integer keyword (`minLength`, `maxItems`), if given.
fn count(node: &At<'_>, key: &str) -> Result<Option<proc_macro2::Literal>, Error> {
    let Some(bound) = node.get(key) else {
        return Ok(None);
    };
    let value = bound
        .value
        .as_u64()
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| bound.error(format!("`{key}` must be a non-negative integer")))?;
    Ok(Some(proc_macro2::Literal::usize_unsuffixed(value)))
}

/// Refuses a schema using a keyword no parameter rule checks.
fn check_unchecked(node: &At<'_>) -> Result<(), Error> {
    match UNCHECKED.iter().find_map(|key| node.get(key)) {
        Some(keyword) => Err(keyword.error(
            "parameters cannot be checked against this keyword; send the value as a JSON \
             document (`content: application/json`) to have its schema checked in full",
        )),
        None => Ok(()),
    }
}

/// The rule of an object parameter: spread over the query, the keys it
/// reads are `spread_keys`; otherwise it is one value under its own name.
fn object_result(
    rt: &TokenStream,
    place: &Place<'_>,
    layout: &Layout<'_>,
    expr: TokenStream,
    compiled: Vec<(syn::Ident, Compiled)>,
    spread_keys: Option<Vec<String>>,
) -> Rule {
    let keys = spread_keys.unwrap_or_else(|| vec![place.name.to_owned()]);
    Rule {
        ty: quote!(#rt::ObjectRule),
        expr: allow_reserved(expr, layout),
        compiled,
        keys: place.query_keys(keys),
    }
}

fn allow_reserved(expr: TokenStream, layout: &Layout<'_>) -> TokenStream {
    if layout.allow_reserved {
        quote!(#expr.allow_reserved())
    } else {
        expr
    }
}

/// Refuses two query parameters of one operation that read the same key:
/// an exploded `form` object's properties are keys of their own, and one
/// named like another parameter would take its value too.
pub(super) fn check_query_keys(params: &[Param], operation: &At<'_>) -> Result<(), Error> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for param in params {
        for key in &param.keys {
            if let Some((_, other)) = seen.iter().find(|(k, _)| k == key) {
                return Err(operation.error(format!(
                    "query parameters `{other}` and `{}` both read the key `{key}`",
                    param.name
                )));
            }
            seen.push((key, &param.name));
        }
    }
    Ok(())
}
