//! SSE fan-out: N subscribers of one channel on loopback.
//!
//! Starts the `charter` binary (embedded SQLite in a temporary directory) as
//! a process of its own, opens 1 000, then 5 000, then 10 000 concurrent
//! `GET /api/v2/channels/{id}/events` streams, and at each step prints:
//! - the server's resident memory per idle connection (RSS growth since
//!   before the first connection, divided by the connections open);
//! - delivery latency p50/p99 from sending a `POST .../messages` to each
//!   subscriber reading the event.
//!
//! Run: `cargo bench --bench sse_fanout` (`BENCH_SUBSCRIBERS=1000,5000`
//! chooses the steps, `BENCH_MESSAGES` the messages posted per step).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, Semaphore};

const PASSWORD: &str = "correct horse battery";
const SECRET: &str = "bench-secret-bench-secret-bench-secret-0123";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// Raises this process's open-file limit to its hard limit; the server,
/// started afterwards, inherits it.
fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write and read the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
    limit.rlim_cur
}

struct Server {
    child: std::process::Child,
    base: String,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start_server() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"));
    let dir = std::env::temp_dir().join(format!("charter-sse-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("temp dir: {e}"));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_charter"))
        .env(
            "DATABASE_URL",
            format!("sqlite:{}/charter.db", dir.display()),
        )
        .env("CHARTER_LISTEN", format!("127.0.0.1:{port}"))
        .env("CHARTER_TOKEN_SECRET", SECRET)
        .env("CHARTER_RATE_LIMIT", "100000000/60")
        .env("CHARTER_RATE_LIMIT_AUTH", "100000000/60")
        .env("CHARTER_RATE_LIMIT_PRINCIPAL", "100000000/60")
        .env("CHARTER_REQUEST_TIMEOUT", "600")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start charter: {e}"));
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        dir,
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(format!("{}/healthz", server.base)).send().await
            && response.status().is_success()
        {
            return server;
        }
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn json_call(request: reqwest::RequestBuilder, body: Value) -> Value {
    let response = request
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("request: {e}"));
    assert!(response.status().is_success(), "{}", response.status());
    response
        .json()
        .await
        .unwrap_or_else(|e| panic!("json: {e}"))
}

/// Opens one SSE stream with a raw HTTP/1.1 request and reads it until the
/// process ends, recording each message's delivery latency (the message
/// body carries its send time in µs since `epoch`). `connecting` is held
/// until the stream is open, which bounds the connections being set up.
async fn subscriber(
    address: String,
    path: String,
    token: String,
    epoch: Instant,
    connecting: tokio::sync::OwnedSemaphorePermit,
    opened: Arc<AtomicUsize>,
    latencies: Arc<Mutex<Vec<Duration>>>,
) {
    let mut connecting = Some(connecting);
    let Ok(mut stream) = tokio::net::TcpStream::connect(&address).await else {
        return;
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut buffer = vec![0u8; 2048];
    let mut pending = String::new();
    let mut counted = false;
    loop {
        let read = match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        let now = epoch.elapsed();
        pending.push_str(&String::from_utf8_lossy(&buffer[..read]));
        if !counted && pending.contains("\r\n\r\n") {
            assert!(pending.starts_with("HTTP/1.1 200"), "{pending}");
            counted = true;
            opened.fetch_add(1, Ordering::Relaxed);
            connecting.take();
        }
        while let Some(start) = pending.find("sent-at-us=") {
            let digits: String = pending[start + 11..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if pending[start + 11 + digits.len()..].is_empty() {
                break; // the number may continue in the next read
            }
            if let Ok(micros) = digits.parse::<u64>() {
                let sent = Duration::from_micros(micros);
                latencies.lock().await.push(now.saturating_sub(sent));
            }
            pending.drain(..start + 11 + digits.len());
        }
        if pending.len() > 8192 {
            let keep = pending.len() - 64;
            pending.drain(..keep);
        }
    }
}

fn main() {
    let steps: Vec<usize> = std::env::var("BENCH_SUBSCRIBERS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1000, 5000, 10000]);
    let messages: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let files = raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    runtime.block_on(async move {
        let server = start_server().await;
        let pid = server.child.id();
        let client = reqwest::Client::new();
        let base = server.base.clone();
        json_call(
            client.post(format!("{base}/api/v2/auth/register")),
            json!({"email": "bench@example.com", "full_name": "Bench", "password": PASSWORD}),
        )
        .await;
        let tokens = json_call(
            client.post(format!("{base}/api/v2/auth/login")),
            json!({"email": "bench@example.com", "password": PASSWORD}),
        )
        .await;
        let token = tokens["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let channel = json_call(
            client
                .post(format!("{base}/api/v2/channels"))
                .bearer_auth(&token),
            json!({"name": "fanout"}),
        )
        .await;
        let channel_id = channel["id"].as_str().unwrap_or_default().to_owned();
        let path = format!("/api/v2/channels/{channel_id}/events");
        let address = base.trim_start_matches("http://").to_owned();

        tokio::time::sleep(Duration::from_secs(1)).await;
        let baseline_kib = rss_kib(pid);
        println!(
            "server pid {pid}, open-file limit {files}, RSS before any stream {:.1} MiB",
            baseline_kib as f64 / 1024.0
        );
        println!(
            "{:>11} {:>13} {:>14} {:>12} {:>12} {:>10}",
            "subscribers", "connect (s)", "RSS/conn (KiB)", "p50 (ms)", "p99 (ms)", "delivered"
        );

        let epoch = Instant::now();
        let opened = Arc::new(AtomicUsize::new(0));
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let connecting = Arc::new(Semaphore::new(128));
        let mut started = 0;
        for &target in &steps {
            let connect_start = Instant::now();
            while started < target {
                let permit = connecting
                    .clone()
                    .acquire_owned()
                    .await
                    .unwrap_or_else(|e| panic!("semaphore: {e}"));
                tokio::spawn(subscriber(
                    address.clone(),
                    path.clone(),
                    token.clone(),
                    epoch,
                    permit,
                    opened.clone(),
                    latencies.clone(),
                ));
                started += 1;
            }
            let deadline = Instant::now() + Duration::from_secs(300);
            while opened.load(Ordering::Relaxed) < target {
                assert!(
                    Instant::now() < deadline,
                    "only {} of {target} streams opened",
                    opened.load(Ordering::Relaxed)
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let connect_time = connect_start.elapsed();
            // Idle for a moment, then measure.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let rss_per_connection =
                rss_kib(pid).saturating_sub(baseline_kib) as f64 / target as f64;

            latencies.lock().await.clear();
            for _ in 0..messages {
                let sent = epoch.elapsed().as_micros();
                let response = client
                    .post(format!("{base}/api/v2/channels/{channel_id}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"body": format!("sent-at-us={sent} end")}))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("post: {e}"));
                assert!(response.status().is_success(), "{}", response.status());
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            // Let the last message reach everyone.
            let expected = target * messages;
            let deadline = Instant::now() + Duration::from_secs(30);
            while latencies.lock().await.len() < expected && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let mut sorted = latencies.lock().await.clone();
            sorted.sort();
            println!(
                "{:>11} {:>13.1} {:>14.1} {:>12.1} {:>12.1} {:>10}",
                target,
                connect_time.as_secs_f64(),
                rss_per_connection,
                percentile(&sorted, 0.5).as_secs_f64() * 1e3,
                percentile(&sorted, 0.99).as_secs_f64() * 1e3,
                format!("{}/{}", sorted.len(), expected),
            );
        }
        drop(server);
    });
}
