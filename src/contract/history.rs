//! The history of a released baseline. Each committed version of
//! `openapi/released/vN.yaml` must be compatible with the one before it
//! (and the working copy with the last commit), so a break can never be
//! released by moving the baseline in the same change: a deliberate break
//! is a new version path with a baseline of its own. The one exception is
//! a break the record of accepted changes (`vN.accepted.yaml`) already
//! accepted before the move: as committed before the commit that moves the
//! baseline (at `HEAD` for the working copy), so that the acceptance was
//! reviewed on its own and not written together with the move.

use std::path::Path;
use std::process::Command;

use charter_codegen::compat;

use super::{Unreadable, accepted, parse};

/// Why the moves of the baseline at `path` fail the gate; empty when every
/// move was compatible, or when the file is not in a git repository.
pub fn baseline_moves(path: &Path) -> Result<Vec<String>, Unreadable> {
    let (Some(dir), Some(file)) = (path.parent(), path.file_name().and_then(|f| f.to_str())) else {
        return Ok(Vec::new());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let Some(log) = git(&["log", "--format=%h %s", "--", file]) else {
        return Ok(Vec::new());
    };
    let record = accepted::beside(Path::new(file));
    let record = record.to_string_lossy();
    // Oldest first, each with the commit that wrote it and the record of
    // accepted changes as it stood before that commit.
    let mut snapshots: Vec<Snapshot> = Vec::new();
    for line in log.lines().rev() {
        let commit = line.split(' ').next().unwrap_or_default();
        if let Some(text) = git(&["show", &format!("{commit}:./{file}")]) {
            snapshots.push(Snapshot {
                name: line.to_owned(),
                text,
                accepted: git(&["show", &format!("{commit}^:./{record}")]),
            });
        }
    }
    let working = std::fs::read_to_string(path)
        .map_err(|e| Unreadable(format!("{}: {e}", path.display())))?;
    if snapshots.last().is_none_or(|last| last.text != working) {
        snapshots.push(Snapshot {
            name: "the working copy".to_owned(),
            text: working,
            accepted: git(&["show", &format!("HEAD:./{record}")]),
        });
    }
    let mut failures = Vec::new();
    for pair in snapshots.windows(2) {
        let [
            Snapshot {
                name: before_name,
                text: before,
                ..
            },
            Snapshot {
                name: after_name,
                text: after,
                accepted: record_text,
            },
        ] = pair
        else {
            continue;
        };
        let name = format!("{} at {before_name}", path.display());
        let (Ok(before), Ok(after)) = (parse(before, &name), parse(after, &name)) else {
            failures.push(format!(
                "{}: a committed version ({before_name} or {after_name}) is not a readable document",
                path.display()
            ));
            continue;
        };
        let record_name = format!("{} before {after_name}", accepted::beside(path).display());
        let accepted =
            match accepted::parse(record_text.as_deref().unwrap_or_default(), &record_name) {
                Ok(accepted) => accepted,
                // Unjudged, the move might hide a break: it fails the gate.
                Err(Unreadable(error)) => {
                    failures.push(format!("{error}; the move cannot be judged"));
                    continue;
                }
            };
        let changes = compat::diff(&before, &after);
        if let Some(change) = changes.iter().find(|c| {
            c.severity == compat::Severity::Breaking && !accepted.iter().any(|a| a.accepts(c))
        }) {
            failures.push(format!(
                "{}: the baseline moved with a breaking change in {after_name}: {} ({}) at {}; a break is released as a new version path, never by editing the baseline (unless accepted in a commit before the move)",
                path.display(),
                change.message,
                change.rule,
                change.path
            ));
        }
    }
    Ok(failures)
}

/// One version of the baseline.
struct Snapshot {
    /// The commit that wrote it (`abc1234 Release 2.1.0`), or the working copy.
    name: String,
    text: String,
    /// The record of accepted changes before it was written, if there was one.
    accepted: Option<String>,
}
