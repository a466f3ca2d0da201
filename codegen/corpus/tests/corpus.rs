//! Each public document's generated router, serving its generated mock,
//! answers one request per operation: a request made up from the document
//! (path, required query and header parameters, credentials, body, all
//! from the schemas) is answered with the status the operation documents
//! first as a success (or, with none, its first error), and a JSON body
//! valid against the document's schema for it. A request the router refuses as invalid fails
//! the test too unless the document's own constraints cannot be met by a
//! made-up value (a `pattern`): then the refusal must be a validation
//! problem, and it is listed.
//!
//! The documents are read from `CHARTER_OPENAPI_CORPUS` (`.ci/run` installs
//! them); without it the tests say so and check nothing.

#[cfg(corpus)]
#[path = "corpus/driver.rs"]
mod driver;

#[cfg(not(corpus))]
#[test]
fn the_corpus_is_not_installed() {
    eprintln!(
        "CHARTER_OPENAPI_CORPUS was not set when this crate was built: nothing to check \
         (.ci/run installs the documents and sets it)"
    );
    // Cargo rebuilds the crate when the variable changes, so it cannot be
    // set now without the documents having been generated.
    assert!(
        std::env::var_os("CHARTER_OPENAPI_CORPUS").is_none(),
        "CHARTER_OPENAPI_CORPUS is set but the corpus was not generated"
    );
}

#[cfg(corpus)]
macro_rules! corpus_tests {
    ($($module:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $module() {
                use charter_codegen_corpus::$module as generated;
                generated::check_schemas().expect("every schema compiles");
                let router = generated::router(generated::Mock(driver::Anyone));
                driver::drive(generated::DOCUMENT, generated::WARNINGS, router).await;
            }
        )*
    };
}

#[cfg(corpus)]
corpus_tests!(
    petstore,
    petstore_expanded,
    uspto,
    link_example,
    callbacks,
    star_trek,
);
