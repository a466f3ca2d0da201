//! The security schemes a version declares: how a request carries its
//! credential.

#[derive(Debug)]
pub enum SchemeKind {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// An API key in the named (lower-case) header.
    ApiKeyHeader(&'static str),
}

#[derive(Debug)]
pub struct SecurityScheme {
    pub name: &'static str,
    pub kind: SchemeKind,
}
