//! Navigation over the raw spec document that remembers where it is, so that
//! every error names the JSON path (`$.paths['/x'].get`) of the offending node.

use serde_json::Value;

use crate::error::Error;

/// An owned JSON path, for nodes whose lifetimes outlive a borrowed walk.
#[derive(Clone, Debug)]
pub struct OwnedPath(pub String);

impl OwnedPath {
    pub fn root() -> Self {
        OwnedPath("$".to_owned())
    }

    pub fn key(&self, key: &str) -> Self {
        let plain = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if plain {
            OwnedPath(format!("{}.{key}", self.0))
        } else {
            OwnedPath(format!("{}['{key}']", self.0))
        }
    }

    pub fn index(&self, index: usize) -> Self {
        OwnedPath(format!("{}[{index}]", self.0))
    }

    pub fn error(&self, message: impl Into<String>) -> Error {
        Error::at(self.0.clone(), message)
    }
}

/// A value of the spec with its owned path.
#[derive(Clone)]
pub struct At<'a> {
    pub value: &'a Value,
    pub path: OwnedPath,
}

impl<'a> At<'a> {
    pub fn new(value: &'a Value, path: OwnedPath) -> Self {
        At { value, path }
    }

    pub fn get(&self, key: &str) -> Option<At<'a>> {
        self.value
            .get(key)
            .map(|value| At::new(value, self.path.key(key)))
    }

    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.value.get(key).and_then(Value::as_str)
    }

    pub fn flag(&self, key: &str) -> bool {
        self.value
            .get(key)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn error(&self, message: impl Into<String>) -> Error {
        self.path.error(message)
    }

    /// The entries of an object node, in document order.
    pub fn entries(&self) -> Result<Vec<(&'a str, At<'a>)>, Error> {
        match self.value {
            Value::Object(map) => Ok(map
                .iter()
                .map(|(key, value)| (key.as_str(), At::new(value, self.path.key(key))))
                .collect()),
            _ => Err(self.error("expected an object")),
        }
    }

    /// The items of an array node.
    pub fn items(&self) -> Result<Vec<At<'a>>, Error> {
        match self.value {
            Value::Array(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(index, value)| At::new(value, self.path.index(index)))
                .collect()),
            _ => Err(self.error("expected an array")),
        }
    }
}

/// The whole document, able to follow local `$ref`s.
pub struct Spec<'a> {
    pub root: &'a Value,
}

impl<'a> Spec<'a> {
    pub fn at_root(&self) -> At<'a> {
        At::new(self.root, OwnedPath::root())
    }

    /// Follows `$ref` (repeatedly) to the node it names; non-references are returned as they are.
    pub fn resolve(&self, node: At<'a>) -> Result<At<'a>, Error> {
        let mut current = node;
        for _ in 0..32 {
            let Some(reference) = current.str("$ref") else {
                return Ok(current);
            };
            current = self
                .lookup(reference)
                .map_err(|message| current.error(message))?;
        }
        Err(current.error("too many chained $ref hops (a reference cycle?)"))
    }

    fn lookup(&self, reference: &str) -> Result<At<'a>, String> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(format!(
                "only local references (#/...) are supported, found `{reference}`"
            ));
        };
        let mut path = OwnedPath::root();
        let mut value = self.root;
        for raw in pointer.split('/').skip(1) {
            let key = raw.replace("~1", "/").replace("~0", "~");
            value = value
                .get(&key)
                .ok_or_else(|| format!("reference `{reference}` does not resolve"))?;
            path = path.key(&key);
        }
        Ok(At::new(value, path))
    }
}

/// The component name a `$ref` to `#/components/schemas/NAME` points at.
pub fn schema_ref_name(node: &At<'_>) -> Result<Option<String>, Error> {
    let Some(reference) = node.str("$ref") else {
        return Ok(None);
    };
    // A name holding `/` or `~` is escaped in the pointer (`~1`, `~0`).
    match reference.strip_prefix("#/components/schemas/") {
        Some(name) if !name.contains('/') => Ok(Some(name.replace("~1", "/").replace("~0", "~"))),
        _ => Err(node.error(format!(
            "a schema reference must point at #/components/schemas/<name>, found `{reference}`"
        ))),
    }
}
