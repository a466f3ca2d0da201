//! Where parameter values are read from, and how each location encodes
//! them.
//!
//! Values are handed out as sent and decoded only once a style has split
//! them, so that an escaped delimiter (`%2C` in `ids=a%2Cb,c`) stays part of
//! its item and no value is ever decoded twice.

use std::borrow::Cow;

use axum::http::HeaderMap;
use axum::http::request::Parts;
use percent_encoding::percent_decode_str;

/// Where parameter values are read from.
pub trait ParamSource {
    /// The one value of `key` as sent (still percent-encoded in a path or a
    /// query); an error when it cannot be read as one value.
    fn raw(&self, key: &str) -> Result<Option<&str>, &'static str>;

    /// Every value of `key` as sent, in order: the items of an exploded
    /// query array, each field line of a header.
    fn raw_all(&self, key: &str) -> Result<Vec<&str>, &'static str>;

    /// The keys given, decoded, for a parameter spread over several
    /// (`filter[status]` of a `deepObject`); only a query has such keys.
    fn keys(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Decodes a value read from here, or one piece of it.
    fn decode<'v>(&self, raw: &'v str, allow_reserved: bool) -> Result<Cow<'v, str>, &'static str>;
}

const NOT_UTF8: &str = "must be percent-encoded UTF-8";

/// `%XX` escapes decoded; the result must be UTF-8.
fn percent_decode(raw: &str) -> Result<Cow<'_, str>, &'static str> {
    percent_decode_str(raw).decode_utf8().map_err(|_| NOT_UTF8)
}

/// As an HTML form encodes: `+` is a space, then `%XX` escapes.
fn form_decode(raw: &str) -> Result<Cow<'_, str>, &'static str> {
    if raw.contains('+') {
        percent_decode(&raw.replace('+', " ")).map(|decoded| Cow::Owned(decoded.into_owned()))
    } else {
        percent_decode(raw)
    }
}

/// The path parameters of a routed request, read straight from its path by
/// their place in the route template, counted from the end (so a router
/// nested under a prefix reads the same). Allocates only to percent-decode.
pub struct PathSegments<'a> {
    path: &'a str,
    /// Each parameter's name and its segment's position from the end.
    params: &'static [(&'static str, usize)],
}

impl<'a> PathSegments<'a> {
    pub fn new(path: &'a str, params: &'static [(&'static str, usize)]) -> Self {
        PathSegments { path, params }
    }
}

impl ParamSource for PathSegments<'_> {
    fn raw(&self, key: &str) -> Result<Option<&str>, &'static str> {
        let Some((_, from_end)) = self.params.iter().find(|(name, _)| *name == key) else {
            return Ok(None);
        };
        Ok(self.path.rsplit('/').nth(*from_end))
    }

    fn raw_all(&self, key: &str) -> Result<Vec<&str>, &'static str> {
        Ok(self.raw(key)?.into_iter().collect())
    }

    /// A path has no form encoding: `+` is a plus sign.
    fn decode<'v>(&self, raw: &'v str, _: bool) -> Result<Cow<'v, str>, &'static str> {
        percent_decode(raw)
    }
}

const NOT_ASCII: &str = "must be visible ASCII";

impl ParamSource for HeaderMap {
    /// The first field line: a scalar header sent twice is read as the
    /// first, as it always has been.
    fn raw(&self, name: &str) -> Result<Option<&str>, &'static str> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value.to_str().map(Some).map_err(|_| NOT_ASCII),
        }
    }

    /// Every field line: a list header may be split over several (RFC 9110
    /// section 5.3).
    fn raw_all(&self, name: &str) -> Result<Vec<&str>, &'static str> {
        self.get_all(name)
            .iter()
            .map(|value| value.to_str().map_err(|_| NOT_ASCII))
            .collect()
    }

    /// Header values are not percent-encoded; the whitespace allowed
    /// around list elements (`a, b`) is not part of them.
    fn decode<'v>(&self, raw: &'v str, _: bool) -> Result<Cow<'v, str>, &'static str> {
        Ok(Cow::Borrowed(raw.trim_matches([' ', '\t'])))
    }
}

/// The query string of a request: its keys decoded, its values as sent.
pub struct QuerySource<'a>(Vec<(Cow<'a, str>, &'a str)>);

impl ParamSource for QuerySource<'_> {
    fn raw(&self, name: &str) -> Result<Option<&str>, &'static str> {
        let mut found = self.0.iter().filter(|(key, _)| key == name);
        match (found.next(), found.next()) {
            (None, _) => Ok(None),
            (Some((_, value)), None) => Ok(Some(value)),
            (Some(_), Some(_)) => Err("must be given at most once"),
        }
    }

    fn raw_all(&self, name: &str) -> Result<Vec<&str>, &'static str> {
        Ok(self
            .0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| *value)
            .collect())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(key, _)| key.as_ref()).collect()
    }

    /// Form decoding, unless the parameter allows reserved characters: its
    /// clients send them as they are, so a `+` is a plus sign, and `%XX`
    /// escapes are still decoded exactly once.
    fn decode<'v>(&self, raw: &'v str, allow_reserved: bool) -> Result<Cow<'v, str>, &'static str> {
        if allow_reserved {
            percent_decode(raw)
        } else {
            form_decode(raw)
        }
    }
}

/// The query of a request, split into `key=value` pairs (`&`-separated, as
/// forms and every client send them). Keys are decoded here, so
/// `filter%5Bstatus%5D` is `filter[status]`; one that is not UTF-8 matches
/// no parameter.
pub fn query_source(parts: &Parts) -> QuerySource<'_> {
    let query = parts.uri.query().unwrap_or_default();
    QuerySource(
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                let key = form_decode(key).unwrap_or(Cow::Borrowed(""));
                (key, value)
            })
            .collect(),
    )
}
