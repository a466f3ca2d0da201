//! Generates the typed client of each API version with progenitor, from the
//! same documents the server is generated from.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TagStyle};

fn main() -> ExitCode {
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        eprintln!("OUT_DIR is not set");
        return ExitCode::FAILURE;
    };
    for version in ["v1", "v2"] {
        let spec = format!("../openapi/{version}.yaml");
        println!("cargo::rerun-if-changed={spec}");
        if let Err(message) = generate(Path::new(&spec), &out_dir.join(format!("{version}.rs"))) {
            eprintln!("error: {spec}: {message}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn generate(spec: &Path, out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(spec).map_err(|e| e.to_string())?;
    // progenitor only types `application/json`. Problems travel as
    // `application/problem+json`; presenting them as JSON here gives every
    // operation the typed `Problem` error the spec declares.
    let text = text.replace("application/problem+json", "application/json");
    let document: openapiv3::OpenAPI = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_derive("PartialEq")
        // Every client carries a `Policy` (retries, token session) and its
        // hooks, in `src/hooks.rs`, run around every operation.
        .with_inner_type(
            "crate::policy::Policy"
                .parse::<proc_macro2::TokenStream>()
                .map_err(|e| e.to_string())?,
        )
        .with_hooks(HooksMode::Expected);
    let tokens = Generator::new(&settings)
        .generate_tokens(&document)
        .map_err(|e| e.to_string())?;
    let file: syn::File = syn::parse2(tokens).map_err(|e| e.to_string())?;
    std::fs::write(out, prettyplease::unparse(&file)).map_err(|e| e.to_string())
}
