//! Charter: a real-time messaging API served from its OpenAPI contract.
//!
//! `openapi/v1.yaml` and `openapi/v2.yaml` define the wire format; `build.rs`
//! generates [`api::v1`] and [`api::v2`] from them (models, the `Api` traits
//! and routers). [`http`] implements those traits over the domain modules
//! ([`users`], [`channels`], [`messages`], [`api_keys`]), which store data
//! through [`db`] in SQLite or PostgreSQL and record what changes in a
//! channel as [`events`].

pub mod api;
pub mod api_keys;
pub mod app;
pub mod auth;
pub mod channels;
pub mod cli;
pub mod config;
pub mod contract;
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

pub use app::{App, Config};
/// What the generated code calls, a crate of its own (`charter-runtime`),
/// for users of this crate; its modules name it `charter_runtime`.
pub use charter_runtime as runtime;
