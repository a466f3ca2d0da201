//! Reading one parameter: its location, its type and the rule that checks
//! its constraints at request time.

use heck::{ToShoutySnakeCase, ToUpperCamelCase};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

use super::read::check_header_name;
use super::{ApiGen, Location, Param};
use crate::error::Error;
use crate::spec::At;
use crate::types::{TypeGen, doc_attrs, field_name};

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
        let schema = node.get("schema").ok_or_else(|| {
            node.error("a parameter needs a `schema` (`content` is not supported)")
        })?;
        let resolved = self.spec.resolve(schema.clone())?;
        let rt = &self.runtime;
        let kind = match resolved.str("type") {
            Some("integer") => quote!(Integer),
            Some("number") => quote!(Number),
            Some("boolean") => quote!(Boolean),
            Some("string") => quote!(String),
            other => {
                return Err(schema.error(format!(
                    "parameters must be strings, integers, numbers or booleans, found {other:?}"
                )));
            }
        };
        if resolved.flag("nullable") {
            return Err(schema.error("parameters cannot be nullable"));
        }
        let required = location == Location::Path || node.flag("required");
        if location == Location::Path && !node.flag("required") {
            return Err(node.error("path parameters must say `required: true`"));
        }
        let loc = location.runtime_variant();
        let lookup = if location == Location::Header {
            name.to_ascii_lowercase()
        } else {
            name.clone()
        };
        let mut rule = quote!(#rt::ParamRule::new(
            #rt::Location::#loc,
            #name,
            #lookup,
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
            if let Some(bound) = resolved.get(key) {
                let value = bound
                    .value
                    .as_u64()
                    .and_then(|v| usize::try_from(v).ok())
                    .ok_or_else(|| {
                        bound.error(format!("`{key}` must be a non-negative integer"))
                    })?;
                let lit = proc_macro2::Literal::usize_unsuffixed(value);
                rule = quote!(#rule.#method(#lit));
            }
        }
        let mut patterns = Vec::new();
        if let Some(pattern) = resolved.str("pattern") {
            let ident = format_ident!(
                "{}_{}_PATTERN",
                prefix.to_shouty_snake_case(),
                field_name(&name).to_shouty_snake_case()
            );
            patterns.push((ident.clone(), quote!(#rt::Pattern::new(#pattern))));
            rule = quote!(#rule.pattern(&#ident));
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
        let hint = format!("{prefix}{}", field_name(&name).to_upper_camel_case());
        let inner = types.type_of(&schema, &hint)?;
        let default = match resolved.get("default") {
            Some(value) if !required => Some(default_param_literal(&value, &inner)?),
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
            rule,
            patterns,
            inner,
            ty,
            docs: doc_attrs(node.str("description")),
            default,
            name,
        })
    }
}

fn default_param_literal(value: &At<'_>, ty: &TokenStream) -> Result<TokenStream, Error> {
    match value.value {
        Value::Bool(b) => Ok(quote!(#b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => {
                let lit = proc_macro2::Literal::i64_unsuffixed(i);
                Ok(quote!(#lit))
            }
            None => {
                let lit = proc_macro2::Literal::f64_unsuffixed(n.as_f64().unwrap_or_default());
                Ok(quote!(#lit))
            }
        },
        Value::String(s) if ty.to_string() == "String" => Ok(quote!(#s.to_owned())),
        Value::String(s) => {
            let variant = crate::types::variant_ident(s);
            Ok(quote!(#ty::#variant))
        }
        _ => Err(value.error("unsupported parameter default")),
    }
}
