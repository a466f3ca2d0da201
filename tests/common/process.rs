//! A `charter` process of the test's own (the real binary), on an embedded
//! database in a temporary directory unless told otherwise, logging JSON
//! lines that the test reads.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::TOKEN_SECRET;

pub struct Process {
    pub child: Child,
    lines: mpsc::Receiver<Value>,
    pub base: String,
    pub admin_base: String,
    pub dir: std::path::PathBuf,
}

/// What to start: extra arguments and variables, a database, and a hook run
/// in the child before it executes the binary (resource limits).
#[derive(Default)]
pub struct Launch {
    pub args: Vec<String>,
    pub envs: Vec<(String, String)>,
    /// `DATABASE_URL`; a SQLite file in the process's directory when unset.
    pub database_url: Option<String>,
    /// The directory to use (kept when the process is dropped); a new
    /// temporary one, removed on drop, when unset.
    pub dir: Option<std::path::PathBuf>,
    pub pre_exec: Option<fn() -> std::io::Result<()>>,
    /// The API listener's address; `127.0.0.1:0` (a free port) when unset.
    pub listen: Option<String>,
}

impl Process {
    pub fn start(envs: &[(&str, &str)]) -> Process {
        Process::launch(Launch {
            envs: envs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            ..Launch::default()
        })
    }

    pub fn launch(launch: Launch) -> Process {
        let (dir, owned_dir) = match launch.dir {
            Some(dir) => (dir, false),
            None => (
                std::env::temp_dir().join(format!("charter-proc-{}", uuid::Uuid::new_v4())),
                true,
            ),
        };
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_charter"));
        command
            .args([
                "serve",
                "--listen",
                launch.listen.as_deref().unwrap_or("127.0.0.1:0"),
                "--admin-listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--drain-timeout",
                "10s",
            ])
            .args(&launch.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "DATABASE_URL",
                launch
                    .database_url
                    .unwrap_or_else(|| format!("sqlite:{}/charter.db", dir.display())),
            )
            .env("CHARTER_TOKEN_SECRET", TOKEN_SECRET)
            .env("RUST_LOG", "info,charter=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in &launch.envs {
            command.env(name, value);
        }
        if let Some(hook) = launch.pre_exec {
            use std::os::unix::process::CommandExt;
            // SAFETY: the hooks used by the tests only call async-signal-safe
            // functions (setrlimit, signal).
            unsafe {
                command.pre_exec(hook);
            }
        }
        let mut child = command.spawn().expect("start charter");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let parsed = serde_json::from_str::<Value>(&line)
                    .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
                if sender.send(parsed).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let serving = loop {
            let line = lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("charter did not report that it serves");
            if line["fields"]["message"] == "charter is serving" {
                break line;
            }
        };
        let address = |field: &str| {
            serving["fields"][field]
                .as_str()
                .unwrap_or_else(|| panic!("no {field} in {serving}"))
                .to_owned()
        };
        Process {
            base: format!("http://{}", address("address")),
            admin_base: format!("http://{}", address("admin_address")),
            child,
            lines,
            dir: if owned_dir {
                dir
            } else {
                std::path::PathBuf::new()
            },
        }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    /// The API listener's address (`127.0.0.1:port`).
    pub fn address(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid, with a valid signal number.
        let sent = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(sent, 0, "kill");
    }

    /// Waits for the process to exit; its status.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "charter did not exit in {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Log lines written so far (waiting up to `wait` for more to arrive).
    pub fn drain_lines(&self, wait: Duration) -> Vec<Value> {
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(wait) {
            lines.push(line);
        }
        lines
    }

    /// The process's resident memory, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
