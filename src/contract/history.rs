//! The history of a released baseline. Each committed version of
//! `openapi/released/vN.yaml` must be compatible with the one before it
//! (and the working copy with the last commit), so a break can never be
//! released by moving the baseline in the same change: a deliberate break
//! is a new version path with a baseline of its own.

use std::path::Path;
use std::process::Command;

use charter_codegen::compat;

use super::{Unreadable, parse};

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
    // Oldest first, each with the commit that wrote it.
    let mut snapshots: Vec<(String, String)> = Vec::new();
    for line in log.lines().rev() {
        let commit = line.split(' ').next().unwrap_or_default();
        if let Some(text) = git(&["show", &format!("{commit}:./{file}")]) {
            snapshots.push((line.to_owned(), text));
        }
    }
    let working = std::fs::read_to_string(path)
        .map_err(|e| Unreadable(format!("{}: {e}", path.display())))?;
    if snapshots.last().is_none_or(|(_, text)| *text != working) {
        snapshots.push(("the working copy".to_owned(), working));
    }
    let mut failures = Vec::new();
    for pair in snapshots.windows(2) {
        let [(before_name, before), (after_name, after)] = pair else {
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
        let changes = compat::diff(&before, &after);
        if let Some(change) = changes
            .iter()
            .find(|c| c.severity == compat::Severity::Breaking)
        {
            failures.push(format!(
                "{}: the baseline moved with a breaking change in {after_name}: {} ({}) at {}; a break is released as a new version path, never by editing the baseline",
                path.display(),
                change.message,
                change.rule,
                change.path
            ));
        }
    }
    Ok(failures)
}
