//! The generator tried on well-known public OpenAPI 3.0 documents (see
//! `build.rs` and the crate's README): the code generated from each, with
//! its mock, as a module of this crate. Compiling is the first check;
//! `tests/corpus.rs` drives the routers.
//!
//! Without `CHARTER_OPENAPI_CORPUS` at build time the crate is empty.

/// One module per document, with the generator's warnings and the
/// document's path.
#[cfg(corpus)]
macro_rules! documents {
    ($($module:ident => $file:literal),* $(,)?) => {
        $(
            #[doc = concat!("Generated from `", $file, "`.")]
            #[allow(clippy::all, clippy::pedantic)]
            pub mod $module {
                include!(concat!(env!("OUT_DIR"), "/", stringify!($module), ".rs"));

                /// What the generator skipped or honours in part, a line each.
                pub const WARNINGS: &str =
                    include_str!(concat!(env!("OUT_DIR"), "/", stringify!($module), ".warnings"));

                /// Where the document was read from.
                pub const DOCUMENT: &str =
                    concat!(env!("CHARTER_OPENAPI_CORPUS_DIR"), "/", $file);
            }
        )*
    };
}

#[cfg(corpus)]
documents! {
    petstore => "petstore.yaml",
    petstore_expanded => "petstore-expanded.yaml",
    uspto => "uspto.yaml",
    link_example => "link-example.yaml",
    callbacks => "callbacks.yaml",
    star_trek => "star-trek.yaml",
}
