//! The bundle an API portal publishes, for each version: the document as
//! YAML and JSON (self-contained: no reference outside itself), a static
//! reference page that works offline (Swagger UI, from the copy this
//! binary serves at `/docs`, with the document inlined), and the changelog
//! since the version's release.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::{Unreadable, Version, changelog, read, versions};

/// Swagger UI's files the pages load, from the vendored copy.
const ASSETS: &[&str] = &["swagger-ui.css", "swagger-ui-bundle.js"];

/// Writes the bundle of every version in `specs` under `out`, and returns
/// what it wrote, one file a line.
pub fn write(specs: &Path, out: &Path) -> Result<String, Unreadable> {
    let fail = |path: &Path, e: std::io::Error| Unreadable(format!("{}: {e}", path.display()));
    let versions = versions(specs)?;
    let mut written = Vec::new();
    let assets = out.join("assets");
    std::fs::create_dir_all(&assets).map_err(|e| fail(&assets, e))?;
    for name in ASSETS {
        let bytes = swagger_file(name)?;
        let path = assets.join(name);
        std::fs::write(&path, bytes).map_err(|e| fail(&path, e))?;
        written.push(path);
    }
    let start = assets.join("reference.js");
    std::fs::write(&start, REFERENCE_JS).map_err(|e| fail(&start, e))?;
    written.push(start);

    let mut listed = Vec::new();
    for version in &versions {
        let document = read(&version.current)?;
        if let Some(path) = external_reference(&document, "$") {
            return Err(Unreadable(format!(
                "{}: the bundle is self-contained, but {path} refers outside the document",
                version.current.display()
            )));
        }
        let dir = out.join(&version.name);
        std::fs::create_dir_all(&dir).map_err(|e| fail(&dir, e))?;
        let yaml =
            std::fs::read_to_string(&version.current).map_err(|e| fail(&version.current, e))?;
        let json = serde_json::to_string_pretty(&document)
            .map_err(|e| Unreadable(format!("{}: {e}", version.current.display())))?;
        let compact = serde_json::to_string(&document)
            .map_err(|e| Unreadable(format!("{}: {e}", version.current.display())))?;
        let files = [
            ("openapi.yaml", yaml),
            ("openapi.json", json + "\n"),
            // A script, not a fetch: pages opened from disk may not fetch.
            (
                "spec.js",
                format!("window.CHARTER_SPEC = {};\n", script_safe(&compact)),
            ),
            ("index.html", page(&document, version)),
            ("CHANGELOG.md", changelog(version)?),
        ];
        for (file, contents) in files {
            let path = dir.join(file);
            std::fs::write(&path, contents).map_err(|e| fail(&path, e))?;
            written.push(path);
        }
        listed.push((version.name.clone(), title(&document)));
    }
    let index = out.join("index.html");
    std::fs::write(&index, index_page(&listed)).map_err(|e| fail(&index, e))?;
    written.push(index);
    Ok(written
        .iter()
        .map(|p| format!("{}\n", p.display()))
        .collect())
}

fn swagger_file(name: &str) -> Result<Vec<u8>, Unreadable> {
    let config = Arc::new(utoipa_swagger_ui::Config::default());
    match utoipa_swagger_ui::serve(name, config) {
        Ok(Some(file)) if !file.gzpipped => Ok(file.bytes.into_owned()),
        _ => Err(Unreadable(format!(
            "Swagger UI's {name} is not in this build"
        ))),
    }
}

/// The first `$ref` that names another document, by its JSON path.
fn external_reference(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::Object(map) => {
            if let Some(target) = map.get("$ref").and_then(Value::as_str)
                && !target.starts_with('#')
            {
                return Some(format!("{path}.$ref"));
            }
            map.iter()
                .find_map(|(key, child)| external_reference(child, &format!("{path}['{key}']")))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, child)| external_reference(child, &format!("{path}[{i}]"))),
        _ => None,
    }
}

fn title(document: &Value) -> String {
    let text = |pointer: &str| {
        document
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    format!("{} {}", text("/info/title"), text("/info/version"))
}

/// JSON that a `<script>` holds as data: `</script>` cannot end it early.
fn script_safe(json: &str) -> String {
    json.replace("</", "<\\/")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(document: &Value, version: &Version) -> String {
    let title = escape(&title(document));
    let name = escape(&version.name);
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="../assets/swagger-ui.css">
</head>
<body>
<p><a href="../index.html">All versions</a> · <a href="openapi.yaml">openapi.yaml</a> · <a href="openapi.json">openapi.json</a> · <a href="CHANGELOG.md">changelog</a> ({name})</p>
<div id="reference"></div>
<script src="../assets/swagger-ui-bundle.js"></script>
<script src="spec.js"></script>
<script src="../assets/reference.js"></script>
</body>
</html>
"#
    )
}

/// Renders the inlined document; nothing is fetched and nothing is sent.
const REFERENCE_JS: &str = r##"window.ui = SwaggerUIBundle({
  spec: window.CHARTER_SPEC,
  dom_id: "#reference",
  deepLinking: true,
  displayOperationId: true,
  supportedSubmitMethods: [],
  validatorUrl: null,
});
"##;

fn index_page(versions: &[(String, String)]) -> String {
    let mut items = String::new();
    for (name, title) in versions {
        let _ = writeln!(
            items,
            r#"<li><a href="{0}/index.html">{1}</a> (<a href="{0}/CHANGELOG.md">changes</a>)</li>"#,
            escape(name),
            escape(title)
        );
    }
    format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>API reference</title></head>
<body>
<h1>API reference</h1>
<ul>
{items}</ul>
</body>
</html>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_references_inside_the_document_are_self_contained() {
        let local = json!({"a": {"$ref": "#/components/schemas/A"}});
        let external = json!({"a": [{"b": {"$ref": "common.yaml#/X"}}]});
        assert_eq!(external_reference(&local, "$"), None);
        assert_eq!(
            external_reference(&external, "$").as_deref(),
            Some("$['a'][0]['b'].$ref")
        );
    }

    #[test]
    fn inlined_json_cannot_close_its_script() {
        assert_eq!(script_safe(r#"{"a":"</script>"}"#), r#"{"a":"<\/script>"}"#);
    }
}
