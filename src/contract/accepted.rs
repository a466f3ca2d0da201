//! A released version's record of accepted breaking changes,
//! `released/vN.accepted.yaml`: each entry names a change the gate reports
//! (its rule and path) and says why no client built on the baseline is
//! affected. The file is optional; absent, nothing is accepted.
//!
//! ```yaml
//! accepted:
//!   - rule: response-variant-added
//!     at: "$.paths['/x'].get.responses.200.content['application/json'].schema.oneOf[6]"
//!     reason: "sent only to clients that subscribe to it"
//! ```

use std::path::{Path, PathBuf};

use charter_codegen::compat::Accepted;
use serde::Deserialize;

use super::Unreadable;

// Unknown keys are refused: a misspelt `reason` must not pass silently as
// an entry without one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    // Optional, so that an emptied record (`accepted:` or `accepted: []`)
    // reads as nothing accepted.
    accepted: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    rule: String,
    at: String,
    // A missing reason is judged by the gate like an empty one.
    #[serde(default)]
    reason: String,
}

/// Where the record of the baseline at `released` (`released/vN.yaml`) is:
/// beside it, `released/vN.accepted.yaml`.
pub fn beside(released: &Path) -> PathBuf {
    let stem = released
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    released.with_file_name(format!("{stem}.accepted.yaml"))
}

/// The entries of the record at `path`; none when there is no such file.
pub fn read(path: &Path) -> Result<Vec<Accepted>, Unreadable> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let source = std::fs::read_to_string(path)
        .map_err(|e| Unreadable(format!("{}: {e}", path.display())))?;
    parse(&source, &path.display().to_string())
}

/// The entries of a record's text; `name` says where it came from in errors.
pub fn parse(source: &str, name: &str) -> Result<Vec<Accepted>, Unreadable> {
    // A file of comments alone is an empty YAML stream: nothing accepted.
    let record: Option<Record> = serde_yaml::from_str(source).map_err(|e| {
        Unreadable(format!(
            "{name}: not a record of accepted changes (`accepted:` with entries of `rule`, `at` and `reason`): {e}"
        ))
    })?;
    Ok(record
        .and_then(|r| r.accepted)
        .unwrap_or_default()
        .into_iter()
        .map(|entry| Accepted {
            rule: entry.rule,
            at: entry.at,
            reason: entry.reason,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_sits_beside_its_baseline() {
        assert_eq!(
            beside(Path::new("openapi/released/v2.yaml")),
            Path::new("openapi/released/v2.accepted.yaml")
        );
    }

    #[test]
    fn entries_are_read_and_an_empty_record_accepts_nothing() {
        let text = "# why\naccepted:\n  - rule: response-variant-added\n    at: \"$.a['b']\"\n    reason: only on request\n";
        let entries = parse(text, "v2.accepted.yaml").unwrap_or_default();
        assert_eq!(
            entries,
            [Accepted {
                rule: "response-variant-added".to_owned(),
                at: "$.a['b']".to_owned(),
                reason: "only on request".to_owned(),
            }]
        );
        for empty in ["", "# nothing\n", "accepted:\n", "accepted: []\n"] {
            assert!(
                parse(empty, "v2.accepted.yaml").is_ok_and(|e| e.is_empty()),
                "{empty:?}"
            );
        }
        let unreason = parse("accepted:\n  - {rule: r, at: p}\n", "v2.accepted.yaml");
        assert!(unreason.is_ok_and(|e| e.len() == 1 && e[0].reason.is_empty()));
    }

    #[test]
    fn unknown_keys_and_other_shapes_are_refused_naming_the_file() {
        for text in [
            "accepted:\n  - {rule: r, at: p, resaon: x}\n",
            "acepted: []\n",
            "- {rule: r, at: p, reason: x}\n",
            "accepted:\n  - {rule: r, reason: x}\n",
        ] {
            let error = parse(text, "openapi/released/v2.accepted.yaml").err();
            assert!(
                error
                    .as_ref()
                    .is_some_and(|e| e.0.starts_with("openapi/released/v2.accepted.yaml: ")),
                "{text:?}: {error:?}"
            );
        }
    }
}
