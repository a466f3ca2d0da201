//! The clients progenitor generates from the two documents (see
//! `build.rs`): one module per API version, each with its `Client`, its
//! builders and its `types`. Every `Client` carries a `Policy`
//! (`policy.rs`), whose hooks (`hooks.rs`) run around every operation.

// One module per version, each the generated file as it is: lints that
// generated code does not meet are not its readers' concern.
macro_rules! generated {
    ($version:ident, $file:literal) => {
        #[allow(
            clippy::all,
            clippy::pedantic,
            unused_imports,
            dead_code,
            mismatched_lifetime_syntaxes
        )]
        pub mod $version {
            include!(concat!(env!("OUT_DIR"), "/", $file));
        }
    };
}

generated!(v1, "v1.rs");
generated!(v2, "v2.rs");
