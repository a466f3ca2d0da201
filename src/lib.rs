//! Charter: a real-time messaging API served from its OpenAPI contract.
//!
//! `openapi/v1.yaml` and `openapi/v2.yaml` define the wire format; `build.rs`
//! generates [`api::v1`] and [`api::v2`] from them (models, the `Api` traits
//! and routers). [`http`] implements those traits over the domain modules
//! ([`users`], [`channels`], [`messages`], [`api_keys`]), which store data
//! through [`db`] in SQLite or PostgreSQL and record what changes in a
//! channel as [`events`].

pub mod api_keys;
pub mod app;
pub mod auth;
pub mod channels;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod group_commit;
pub mod health;
pub mod http;
pub mod messages;
pub mod metrics;
pub mod pagination;
pub mod principal_cache;
pub mod ratelimit;
pub mod store;
pub mod telemetry;
pub mod users;
pub mod write_gate;

/// The code generated from the OpenAPI documents, one module per version.
pub mod api {
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
}

pub use app::{App, Config};
/// What the generated code calls, a crate of its own (`charter-runtime`);
/// `crate::runtime::Problem` and the like name it here.
pub use charter_runtime as runtime;
