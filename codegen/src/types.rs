//! Rust model types for the spec's schemas: structs for objects, enums for
//! string enumerations and `oneOf`, `Option` for optional and nullable values.
//! Names follow `naming`.

use std::collections::BTreeMap;

use heck::ToSnakeCase;
use proc_macro2::{Ident, TokenStream};
use quote::quote;
use serde_json::Value;

use crate::error::Error;
use crate::naming::{self, Namespace};
use crate::spec::{At, Spec, schema_ref_name};

pub use crate::naming::{field_ident, field_name};

/// Type names the generated code writes unqualified (the handlers' generic
/// `A`, the `Api` trait, the prelude's types and `Send`): a schema that would
/// take one gets a suffix instead.
const RESERVED_TYPES: &[&str] = &["A", "Api", "Option", "Result", "Send", "String", "Vec"];

/// Reserved as well when the file holds the mock (`Settings::with_mock`).
const MOCK_TYPE: &str = "Mock";

/// Collects the type definitions a spec needs, named and inline.
pub struct TypeGen<'a> {
    pub spec: &'a Spec<'a>,
    /// Schema names mapped to existing Rust types instead of generated ones.
    pub replacements: &'a BTreeMap<String, String>,
    /// Generated definitions, by Rust type name.
    pub defs: BTreeMap<String, TokenStream>,
    pub runtime: TokenStream,
    /// Every Rust type name handed out, with the JSON path of the schema it
    /// names (empty for names the generated code reserves).
    names: BTreeMap<String, String>,
    /// The Rust name of each component schema, by its name in the spec.
    components: BTreeMap<String, String>,
    /// The functions giving fields their defaults.
    default_fns: Namespace,
}

impl<'a> TypeGen<'a> {
    /// `mock`: the file also holds `Mock`, whose name no schema may take.
    pub fn new(
        spec: &'a Spec<'a>,
        replacements: &'a BTreeMap<String, String>,
        runtime: TokenStream,
        mock: bool,
    ) -> Self {
        let mock_type = mock.then_some(MOCK_TYPE);
        TypeGen {
            spec,
            replacements,
            defs: BTreeMap::new(),
            runtime,
            names: RESERVED_TYPES
                .iter()
                .chain(&mock_type)
                .map(|name| ((*name).to_owned(), String::new()))
                .collect(),
            components: BTreeMap::new(),
            default_fns: Namespace::default(),
        }
    }

    /// Generates every schema under `components.schemas`. Their names are
    /// handed out first, all at once, so that they read as in the client and
    /// no generated name takes one.
    pub fn components(&mut self) -> Result<(), Error> {
        let root = self.spec.at_root();
        let Some(schemas) = root.get("components").and_then(|c| c.get("schemas")) else {
            return Ok(());
        };
        let entries: Vec<(&str, At<'_>)> = schemas
            .entries()?
            .into_iter()
            .filter(|(name, _)| !self.replacements.contains_key(*name))
            .collect();
        let wires: Vec<&str> = entries.iter().map(|(name, _)| *name).collect();
        // Only the reserved names are handed out yet.
        let reserved: Vec<&str> = self.names.keys().map(String::as_str).collect();
        let names = Namespace::with(&reserved).assign(&wires, naming::type_name, "");
        for ((wire, node), name) in entries.iter().zip(&names) {
            self.names.insert(name.clone(), node.path.0.clone());
            self.components.insert((*wire).to_owned(), name.clone());
        }
        for ((_, node), name) in entries.iter().zip(&names) {
            self.define(name, node)?;
        }
        Ok(())
    }

    /// The Rust type name of the component schema `wire`.
    pub fn component_name(&self, wire: &str) -> String {
        self.components
            .get(wire)
            .cloned()
            .unwrap_or_else(|| naming::type_name(wire))
    }

    /// Whether no model, and nothing reserved, has the type name `name`.
    pub fn is_free(&self, name: &str) -> bool {
        !self.names.contains_key(name)
    }

    /// Keeps `name` from models: a type generated for `owner` (a JSON path)
    /// outside them.
    pub fn reserve(&mut self, name: &str, owner: &str) {
        self.names.insert(name.to_owned(), owner.to_owned());
    }

    /// The Rust type for the schema at `node`; inline objects and enums get a
    /// generated definition named `hint`.
    pub fn type_of(&mut self, node: &At<'_>, hint: &str) -> Result<TokenStream, Error> {
        if let Some(name) = schema_ref_name(node)? {
            self.spec.resolve(node.clone())?;
            if let Some(path) = self.replacements.get(&name) {
                return syn::parse_str::<syn::Path>(path)
                    .map(|p| quote!(#p))
                    .map_err(|e| node.error(format!("replacement `{path}` is not a path: {e}")));
            }
            let ident = naming::ident(&self.component_name(&name));
            return Ok(quote!(#ident));
        }
        let kind = node.str("type");
        if let Some(list) = ["allOf", "oneOf", "anyOf"]
            .iter()
            .find_map(|key| node.get(key).map(|l| (*key, l)))
        {
            let (key, members) = list;
            let items = members.items()?;
            if key == "allOf" && items.len() == 1 {
                return self.type_of(&items[0], hint);
            }
            let ident = self.named(hint, node)?;
            return Ok(quote!(#ident));
        }
        match kind {
            Some("string") => {
                if node.get("enum").is_some() {
                    let ident = self.named(hint, node)?;
                    return Ok(quote!(#ident));
                }
                Ok(match node.str("format") {
                    Some("uuid") => quote!(uuid::Uuid),
                    Some("date-time") => quote!(chrono::DateTime<chrono::Utc>),
                    Some("date") => quote!(chrono::NaiveDate),
                    _ => quote!(String),
                })
            }
            Some("integer") => Ok(match node.str("format") {
                Some("int32") => quote!(i32),
                _ => quote!(i64),
            }),
            Some("number") => Ok(match node.str("format") {
                Some("float") => quote!(f32),
                _ => quote!(f64),
            }),
            Some("boolean") => Ok(quote!(bool)),
            Some("array") => {
                let items = node
                    .get("items")
                    .ok_or_else(|| node.error("an array schema needs `items`"))?;
                let inner = self.type_of(&items, &format!("{hint}Item"))?;
                Ok(quote!(Vec<#inner>))
            }
            Some("object") | None if node.get("properties").is_some() => {
                let ident = self.named(hint, node)?;
                Ok(quote!(#ident))
            }
            Some("object") => self.map_type(node, hint),
            None => Ok(quote!(serde_json::Value)),
            Some(other) => Err(node.error(format!("unknown schema type `{other}`"))),
        }
    }

    /// The map (or free-form object) an object schema without properties is.
    fn map_type(&mut self, node: &At<'_>, hint: &str) -> Result<TokenStream, Error> {
        match node.get("additionalProperties") {
            Some(extra) if extra.value.is_object() => {
                let inner = self.type_of(&extra, &format!("{hint}Value"))?;
                Ok(quote!(std::collections::BTreeMap<String, #inner>))
            }
            _ => Ok(quote!(serde_json::Map<String, serde_json::Value>)),
        }
    }

    /// The type generated for the inline schema at `node`, named `hint` or,
    /// when another schema has that name, `hint` with the first free suffix.
    fn named(&mut self, hint: &str, node: &At<'_>) -> Result<Ident, Error> {
        let owner = &node.path.0;
        let base = naming::type_ident_text(hint);
        let name = naming::first_free(&base, "", |name| {
            self.names
                .get(name)
                .is_none_or(|taken_by| taken_by == owner)
        });
        self.names.insert(name.clone(), owner.clone());
        self.define(&name, node)?;
        Ok(naming::ident(&name))
    }

    /// Defines the type `name` for the schema at `node` (once).
    fn define(&mut self, name: &str, node: &At<'_>) -> Result<(), Error> {
        if self.defs.contains_key(name) {
            return Ok(());
        }
        // Reserve the name first so recursive references terminate.
        self.defs.insert(name.to_owned(), TokenStream::new());
        let ident = naming::ident(name);
        let docs = doc_attrs(node.str("description"));
        let def = if let Some(all) = node.get("allOf") {
            let mut props = Vec::new();
            let mut required = Vec::new();
            let mut closed = false;
            for member in all.items()? {
                let member = self.spec.resolve(member)?;
                collect_object(&member, &mut props, &mut required)?;
                closed |= denies_unknown(&member);
            }
            self.object(
                &ident,
                &docs,
                props,
                &required,
                closed || denies_unknown(node),
            )?
        } else if let Some(list) = node.get("oneOf").or_else(|| node.get("anyOf")) {
            let mut variants = Vec::new();
            let mut variant_names = Namespace::default();
            for (index, member) in list.items()?.into_iter().enumerate() {
                let variant_name = match schema_ref_name(&member)? {
                    Some(wire) => self.component_name(&wire),
                    None => format!("Variant{index}"),
                };
                let ty = self.type_of(&member, &format!("{name}{variant_name}"))?;
                let variant = naming::ident(&variant_names.claim(&variant_name, ""));
                variants.push(quote!(#variant(#ty)));
            }
            quote! {
                #docs
                #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
                #[serde(untagged)]
                pub enum #ident { #(#variants,)* }
            }
        } else if node.get("enum").is_some() && node.str("type") == Some("string") {
            string_enum(&ident, &docs, node)?
        } else if node.get("properties").is_some() || node.str("type") == Some("object") {
            let mut props = Vec::new();
            let mut required = Vec::new();
            collect_object(node, &mut props, &mut required)?;
            if props.is_empty() && node.get("additionalProperties").is_some() {
                let ty = self.map_type(node, name)?;
                quote!(#docs pub type #ident = #ty;)
            } else {
                self.object(&ident, &docs, props, &required, denies_unknown(node))?
            }
        } else {
            // A named primitive or array: an alias keeps the spec's vocabulary.
            let ty = self.type_of(node, &format!("{name}Inner"))?;
            quote!(#docs pub type #ident = #ty;)
        };
        self.defs.insert(name.to_owned(), def);
        Ok(())
    }

    fn object(
        &mut self,
        ident: &Ident,
        docs: &TokenStream,
        props: Vec<(String, At<'_>)>,
        required: &[String],
        deny_unknown: bool,
    ) -> Result<TokenStream, Error> {
        let runtime = self.runtime.clone();
        let mut fields = Vec::new();
        let mut default_fns = Vec::new();
        let wires: Vec<&str> = props.iter().map(|(prop, _)| prop.as_str()).collect();
        let names = Namespace::default().assign(&wires, naming::field_name, "_");
        for ((prop, schema), name) in props.iter().zip(names) {
            let resolved = self.spec.resolve(schema.clone())?;
            let nullable = schema.flag("nullable") || resolved.flag("nullable");
            let is_required = required.contains(prop);
            let hint = format!("{ident}{}", naming::type_name_part(prop));
            let inner = self.type_of(schema, &hint)?;
            let field = naming::ident(&name);
            let docs = doc_attrs(schema.str("description").or(resolved.str("description")));
            // serde reads `r#type` as `type`: the name, not the identifier, is
            // what is compared.
            let rename = (name != *prop).then(|| quote!(#[serde(rename = #prop)]));
            let default = schema.get("default").or_else(|| resolved.get("default"));
            let (ty, attrs) = match (is_required, nullable, default) {
                (true, false, _) => (inner, quote!()),
                (true, true, _) => (quote!(Option<#inner>), quote!()),
                (false, false, Some(default)) => {
                    let fn_text = self.default_fns.claim(
                        &format!("default_{}_{name}", ident.to_string().to_snake_case()),
                        "_",
                    );
                    let fn_name = naming::ident(&fn_text);
                    let value = default_literal(&default, &resolved, &inner)?;
                    let fn_str = fn_name.to_string();
                    default_fns.push(quote! {
                        fn #fn_name() -> #inner { #value }
                    });
                    (inner, quote!(#[serde(default = #fn_str)]))
                }
                (false, false, None) => (
                    quote!(Option<#inner>),
                    quote!(#[serde(default, skip_serializing_if = "Option::is_none")]),
                ),
                (false, true, _) => {
                    let with = format!("{runtime}::double_option").replace(' ', "");
                    (
                        quote!(Option<Option<#inner>>),
                        quote!(#[serde(default, skip_serializing_if = "Option::is_none", with = #with)]),
                    )
                }
            };
            fields.push(quote! {
                #docs
                #rename
                #attrs
                pub #field: #ty
            });
        }
        let deny = deny_unknown.then(|| quote!(#[serde(deny_unknown_fields)]));
        Ok(quote! {
            #docs
            #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
            #deny
            pub struct #ident { #(#fields,)* }
            #(#default_fns)*
        })
    }
}

/// The object's properties and required names, in document order.
fn collect_object<'a>(
    node: &At<'a>,
    props: &mut Vec<(String, At<'a>)>,
    required: &mut Vec<String>,
) -> Result<(), Error> {
    if let Some(kind) = node.str("type").filter(|kind| *kind != "object") {
        return Err(node.error(format!(
            "allOf members and object schemas must be objects, found `{kind}`"
        )));
    }
    if let Some(properties) = node.get("properties") {
        for (name, schema) in properties.entries()? {
            if let Some(slot) = props.iter_mut().find(|(existing, _)| existing == name) {
                slot.1 = schema;
            } else {
                props.push((name.to_owned(), schema));
            }
        }
    }
    if let Some(list) = node.get("required") {
        for item in list.items()? {
            let name = item
                .value
                .as_str()
                .ok_or_else(|| item.error("`required` lists property names"))?;
            if !required.iter().any(|r| r == name) {
                required.push(name.to_owned());
            }
        }
    }
    Ok(())
}

fn denies_unknown(node: &At<'_>) -> bool {
    node.value.get("additionalProperties") == Some(&Value::Bool(false))
}

fn string_enum(ident: &Ident, docs: &TokenStream, node: &At<'_>) -> Result<TokenStream, Error> {
    let list = node.get("enum").ok_or_else(|| node.error("missing enum"))?;
    let mut variants = Vec::new();
    let mut arms_str = Vec::new();
    let mut arms_parse = Vec::new();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for item in list.items()? {
        let value = match item.value {
            Value::String(s) => s.as_str(),
            Value::Null if node.flag("nullable") => continue,
            _ => return Err(item.error("a string enum lists strings")),
        };
        let variant = variant_ident(value);
        // A default names its variant by the value alone, so two values
        // sharing one cannot be told apart by a suffix.
        match seen.insert(variant.to_string(), value) {
            Some(other) if other == value => continue,
            Some(other) => {
                return Err(item.error(format!(
                    "enum values `{other}` and `{value}` both become the variant `{variant}`"
                )));
            }
            None => {}
        }
        variants.push(quote!(#[serde(rename = #value)] #variant));
        arms_str.push(quote!(Self::#variant => #value));
        arms_parse.push(quote!(#value => Ok(Self::#variant)));
    }
    let name = ident.to_string();
    Ok(quote! {
        #docs
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum #ident { #(#variants,)* }
        impl #ident {
            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &'static str {
                match self { #(#arms_str,)* }
            }
        }
        impl std::fmt::Display for #ident {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for #ident {
            type Err = String;
            fn from_str(value: &str) -> Result<Self, String> {
                match value {
                    #(#arms_parse,)*
                    other => Err(format!("`{other}` is not a valid {}", #name)),
                }
            }
        }
    })
}

/// A Rust expression for a schema `default` (of a property or a parameter).
pub(crate) fn default_literal(
    default: &At<'_>,
    schema: &At<'_>,
    ty: &TokenStream,
) -> Result<TokenStream, Error> {
    match default.value {
        Value::Bool(b) => Ok(quote!(#b)),
        Value::Number(n) if schema.str("type") == Some("integer") => {
            let value = n
                .as_i64()
                .ok_or_else(|| default.error("an integer default must be an integer"))?;
            let lit = proc_macro2::Literal::i64_unsuffixed(value);
            Ok(quote!(#lit))
        }
        Value::Number(n) => {
            let value = n.as_f64().unwrap_or_default();
            let lit = proc_macro2::Literal::f64_unsuffixed(value);
            Ok(quote!(#lit))
        }
        Value::String(s) if schema.get("enum").is_some() => {
            let variant = variant_ident(s);
            Ok(quote!(#ty::#variant))
        }
        Value::String(s) if ty.to_string() == "String" => Ok(quote!(#s.to_owned())),
        _ => Err(default.error("this kind of `default` is not supported by the generator")),
    }
}

pub fn doc_attrs(text: Option<&str>) -> TokenStream {
    let Some(text) = text else {
        return TokenStream::new();
    };
    let lines = text.trim_end().lines().map(|line| {
        let line = format!(" {}", line.trim_end());
        quote!(#[doc = #line])
    });
    quote!(#(#lines)*)
}

/// The variant of a string enum for `value` (`channel.deleted` ->
/// `ChannelDeleted`, `1` -> `V1`).
pub fn variant_ident(value: &str) -> Ident {
    naming::ident(&naming::variant_name(value))
}
