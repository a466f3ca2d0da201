//! Reports of changes as text for a terminal, Markdown for a pull request
//! or a portal, and JSON for tools; and the changelog, grouped by operation
//! and severity.

use std::fmt::Write;

use super::{AcceptedChange, Change, Severity};

/// How a report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "text" => Ok(Format::Text),
            "markdown" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            other => Err(format!("`{other}` is not a format (text, markdown, json)")),
        }
    }
}

const SEVERITIES: [Severity; 3] = [Severity::Breaking, Severity::NonBreaking, Severity::Info];

fn count(changes: &[Change], severity: Severity) -> usize {
    changes.iter().filter(|c| c.severity == severity).count()
}

/// The counts by severity; `accepted` of the breaking changes were accepted.
fn summary(changes: &[Change], accepted: usize) -> String {
    let accepted = match accepted {
        0 => String::new(),
        n => format!(" ({n} accepted)"),
    };
    format!(
        "{} breaking{accepted}, {} non-breaking, {} info",
        count(changes, Severity::Breaking),
        count(changes, Severity::NonBreaking),
        count(changes, Severity::Info)
    )
}

/// Writes `changes` in `format`.
pub fn render(changes: &[Change], format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Text => {
            for change in changes {
                let _ = writeln!(out, "{:<13}{}", change.severity.label(), change.message);
                if let Some(operation) = &change.operation {
                    let _ = writeln!(out, "{:<13}in {operation}", "");
                }
                let _ = writeln!(out, "{:<13}at {} [{}]", "", change.path, change.rule);
            }
            let _ = writeln!(out, "{}", summary(changes, 0));
        }
        Format::Markdown => {
            let _ = writeln!(out, "{}\n", summary(changes, 0));
            if !changes.is_empty() {
                out.push_str("| Severity | Operation | Change | Where |\n|---|---|---|---|\n");
                for change in changes {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | `{}` |",
                        change.severity.label(),
                        change.operation.as_deref().map(cell).unwrap_or_default(),
                        cell(&change.message),
                        change.path.replace('|', "\\|")
                    );
                }
            }
        }
        Format::Json => {
            let document = serde_json::json!({
                "breaking": count(changes, Severity::Breaking),
                "non_breaking": count(changes, Severity::NonBreaking),
                "info": count(changes, Severity::Info),
                "changes": changes,
            });
            out = serde_json::to_string_pretty(&document).unwrap_or_default();
            out.push('\n');
        }
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Markdown of the changes from `from` to `to`, grouped by operation (in
/// the order operations first appear, document-wide changes last) and by
/// severity within each. A change among `accepted` carries its reason, so a
/// reader sees why a breaking change does not concern them.
pub fn changelog(
    title: &str,
    from: &str,
    to: &str,
    changes: &[Change],
    accepted: &[AcceptedChange],
) -> String {
    let mut out = format!("# {title}: changes from {from} to {to}\n\n");
    if changes.is_empty() {
        let _ = writeln!(out, "No changes since {from}.");
        return out;
    }
    let _ = writeln!(out, "{}.\n", summary(changes, accepted.len()));
    let mut groups: Vec<Option<&str>> = Vec::new();
    for change in changes {
        let group = change.operation.as_deref();
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups.sort_by_key(Option::is_none);
    for group in groups {
        match group {
            Some(operation) => {
                let _ = writeln!(out, "## `{operation}`\n");
            }
            None => out.push_str("## Whole document\n\n"),
        }
        for severity in SEVERITIES {
            let listed: Vec<&Change> = changes
                .iter()
                .filter(|c| c.operation.as_deref() == group && c.severity == severity)
                .collect();
            if listed.is_empty() {
                continue;
            }
            let heading = match severity {
                Severity::Breaking => "Breaking",
                Severity::NonBreaking => "Non-breaking",
                Severity::Info => "Info",
            };
            let _ = writeln!(out, "### {heading}\n");
            for change in listed {
                let _ = write!(out, "- {} (`{}`)", change.message, change.path);
                match accepted.iter().find(|a| a.change == *change) {
                    Some(a) => {
                        let _ = writeln!(out, "; accepted: {}", a.reason);
                    }
                    None => out.push('\n'),
                }
            }
            out.push('\n');
        }
    }
    out
}
