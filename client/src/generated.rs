//! The clients progenitor generates from the two documents (see
//! `build.rs`): one module per API version, each with its `Client`, its
//! builders and its `types`. Every `Client` carries a `Policy`
//! (`policy.rs`), whose hooks (`hooks.rs`) run around every operation.

#[allow(
    clippy::all,
    clippy::pedantic,
    unused_imports,
    dead_code,
    mismatched_lifetime_syntaxes
)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/v1.rs"));
}

#[allow(
    clippy::all,
    clippy::pedantic,
    unused_imports,
    dead_code,
    mismatched_lifetime_syntaxes
)]
pub mod v2 {
    include!(concat!(env!("OUT_DIR"), "/v2.rs"));
}
