//! Generates the server side of each API version from its OpenAPI document.
//! All the work happens in `charter-codegen`; this only wires files.

use std::path::PathBuf;
use std::process::ExitCode;

const VERSIONS: &[&str] = &["v1", "v2"];

fn main() -> ExitCode {
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        eprintln!("OUT_DIR is not set");
        return ExitCode::FAILURE;
    };
    for version in VERSIONS {
        let spec_path = format!("openapi/{version}.yaml");
        println!("cargo::rerun-if-changed={spec_path}");
        if let Err(message) = generate(&spec_path, version, &out_dir) {
            eprintln!("error: {spec_path}: {message}");
            return ExitCode::FAILURE;
        }
    }
    // `sqlx::migrate!` embeds the migrations; a new file must rebuild the crate.
    println!("cargo::rerun-if-changed=migrations");
    ExitCode::SUCCESS
}

/// The generated code calls `charter-runtime`, and names the spec's problem
/// schemas by the runtime's types.
fn settings(spec_path: &str) -> charter_codegen::Settings {
    charter_codegen::Settings::new("::charter_runtime", spec_path)
        .replace("Problem", "::charter_runtime::Problem")
        .replace("ValidationError", "::charter_runtime::Violation")
}

fn generate(spec_path: &str, version: &str, out_dir: &std::path::Path) -> Result<(), String> {
    let source = std::fs::read_to_string(spec_path).map_err(|e| e.to_string())?;
    let (code, warnings) = charter_codegen::generate_with_warnings(&source, &settings(spec_path))
        .map_err(|e| e.to_string())?;
    // What the server skips or honours only in part shows in the build's
    // output; a spec saying `x-charter-strict: true` makes it an error. One
    // line each: a line break in a spec's name would start a new directive.
    for warning in warnings {
        let line = warning.to_string().replace(['\r', '\n'], " ");
        println!("cargo::warning={spec_path}: {line}");
    }
    let json = charter_codegen::to_json(&source).map_err(|e| e.to_string())?;
    write(&out_dir.join(format!("{version}.rs")), &code)?;
    write(&out_dir.join(format!("{version}.json")), &json)
}

fn write(path: &std::path::Path, contents: &str) -> Result<(), String> {
    std::fs::write(path, contents).map_err(|e| format!("{}: {e}", path.display()))
}
