//! The code generated from the OpenAPI documents, one module per version,
//! and the documents themselves.

#[allow(clippy::all, clippy::pedantic, dead_code, unused_imports)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/v1.rs"));
}

#[allow(clippy::all, clippy::pedantic, dead_code, unused_imports)]
pub mod v2 {
    include!(concat!(env!("OUT_DIR"), "/v2.rs"));
}

/// The specs as written, and as JSON for API portals.
pub const V1_YAML: &str = include_str!("../openapi/v1.yaml");
pub const V2_YAML: &str = include_str!("../openapi/v2.yaml");
pub const V1_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/v1.json"));
pub const V2_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/v2.json"));

/// Compiles every request schema of both versions.
pub fn check_schemas() -> Result<(), String> {
    v1::check_schemas()?;
    v2::check_schemas()
}
