//! The load: wrk (installed from Debian's packages when missing) against one
//! URL with a Lua script for the method, headers and body, the server's CPU
//! time from `/proc`, and pgbench as PostgreSQL's own ceiling.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// One request shape for wrk.
pub struct Target {
    pub url: String,
    pub method: &'static str,
    pub token: Option<String>,
    pub body: Option<String>,
}

/// What one wrk run measured.
#[derive(Clone, Debug, Default)]
pub struct Measurement {
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// wrk's "Non-2xx or 3xx responses" (it counts statuses above 399).
    pub non_2xx: u64,
    /// Connect, read and write errors.
    pub socket_errors: u64,
    /// Requests that took longer than wrk's timeout.
    pub timeouts: u64,
    /// The server's user + system CPU time over the run, per request.
    pub cpu_us_per_request: f64,
}

impl Measurement {
    pub fn failed(&self) -> bool {
        self.non_2xx > 0 || self.socket_errors > 0 || self.requests == 0
    }
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|output| !output.stdout.is_empty() || !output.stderr.is_empty())
}

/// Installs wrk with apt-get when it is not on PATH.
pub fn ensure_wrk() -> anyhow::Result<()> {
    if runs("wrk", "--version") {
        return Ok(());
    }
    eprintln!("wrk is missing: installing Debian's package");
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let mut command = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        let status = command
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("cannot run apt-get")?;
        anyhow::ensure!(status.success(), "apt-get {args:?} failed: {status}");
        Ok(())
    };
    apt(&["update", "-qq"])?;
    apt(&["install", "-y", "-qq", "--no-install-recommends", "wrk"])?;
    anyhow::ensure!(runs("wrk", "--version"), "wrk is still not runnable");
    Ok(())
}

/// pgbench on PATH, else the newest under `/usr/lib/postgresql/*/bin`.
pub fn find_pgbench() -> Option<PathBuf> {
    if runs("pgbench", "--version") {
        return Some(PathBuf::from("pgbench"));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let path = entry.path().join("bin/pgbench");
            path.is_file().then_some((version, path))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, path)| path)
}

/// User + system time of a process so far, in microseconds.
fn cpu_us(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    // The fields after the command name, which is in parentheses: state is
    // field 3, utime field 14 and stime field 15.
    let rest = stat.rsplit_once(')').context("odd /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // SAFETY: sysconf(3) has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks as f64 * 1e6 / per_second)
}

fn lua_script(target: &Target) -> String {
    let mut script = format!("wrk.method = \"{}\"\n", target.method);
    if let Some(token) = &target.token {
        script += &format!("wrk.headers[\"Authorization\"] = [==[Bearer {token}]==]\n");
    }
    if let Some(body) = &target.body {
        script += "wrk.headers[\"Content-Type\"] = \"application/json\"\n";
        script += &format!("wrk.body = [==[{body}]==]\n");
    }
    script
}

/// `560.00us`, `2.30ms`, `1.02s`, `1.50m` in milliseconds.
fn millis(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1e-3,
        "ms" => 1.0,
        "s" => 1e3,
        "m" => 60e3,
        "h" => 3600e3,
        _ => return None,
    };
    Some(number * scale)
}

fn parse_wrk(output: &str) -> anyhow::Result<Measurement> {
    let mut measured = Measurement::default();
    for line in output.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", value] => measured.p50_ms = millis(value).context("p50")?,
            ["99%", value] => measured.p99_ms = millis(value).context("p99")?,
            [count, "requests", "in", ..] => measured.requests = count.parse()?,
            ["Requests/sec:", value] => measured.rps = value.parse()?,
            ["Non-2xx", "or", "3xx", "responses:", count] => measured.non_2xx = count.parse()?,
            ["Socket", "errors:", ..] => {
                // "Socket errors: connect 0, read 0, write 0, timeout 0"
                let numbers: Vec<u64> = words
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse().ok())
                    .collect();
                if let [connect, read, write, timeout] = numbers.as_slice() {
                    measured.socket_errors = connect + read + write;
                    measured.timeouts = *timeout;
                }
            }
            _ => {}
        }
    }
    anyhow::ensure!(
        measured.rps > 0.0,
        "no Requests/sec in wrk's output:\n{output}"
    );
    Ok(measured)
}

/// Runs wrk against `target` and reads the CPU time `pid` spent meanwhile.
pub fn wrk(
    target: &Target,
    pid: u32,
    connections: u32,
    seconds: u32,
    scratch: &Path,
) -> anyhow::Result<Measurement> {
    let script = scratch.join("request.lua");
    std::fs::write(&script, lua_script(target))?;
    let before = cpu_us(pid)?;
    let output = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s")])
        // Slow answers count in the percentiles instead of as timeouts.
        .args(["--timeout", "30s", "--latency", "-s"])
        .arg(&script)
        .arg(&target.url)
        .output()
        .context("cannot run wrk")?;
    let after = cpu_us(pid)?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed ({}): {text}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut measured = parse_wrk(&text)?;
    measured.cpu_us_per_request = (after - before) / measured.requests.max(1) as f64;
    Ok(measured)
}

/// Fills `url`'s database with pgbench's tables (scale 1).
pub fn pgbench_init(pgbench: &Path, url: &str) -> anyhow::Result<()> {
    let output = Command::new(pgbench)
        .args(["-i", "-s", "1", "-q", url])
        .output()
        .context("cannot run pgbench")?;
    if !output.status.success() {
        bail!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// `pgbench -S -M prepared -c16 -j2`: read-only primary-key selects over
/// prepared statements, the database's ceiling for a point read. Its TPS.
pub fn pgbench(pgbench: &Path, url: &str, seconds: u32) -> anyhow::Result<f64> {
    let output = Command::new(pgbench)
        .args(["-n", "-S", "-M", "prepared", "-c16", "-j2"])
        .arg(format!("-T{seconds}"))
        .arg(url)
        .output()
        .context("cannot run pgbench")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    text.lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .with_context(|| format!("no tps in pgbench's output:\n{text}"))
}
