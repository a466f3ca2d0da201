//! Latency of a cheap authenticated GET while 64 clients hammer login.
//!
//! Starts the real server (embedded SQLite, in a temporary directory) on
//! 127.0.0.1 and measures `GET /api/v2/me` alone and while 64 concurrent
//! clients post logins (each costs an argon2id verification), in one run:
//! the two phases alternate over four rounds. Prints p50/p99 of both phases
//! and the ratio of the p99s.
//!
//! Run: `cargo bench --bench login_flood` (`BENCH_SAMPLES` sets the number of
//! GETs per phase, 4000 by default: a p99 then rests on 40 samples).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use charter::{App, Config};
use serde_json::json;

const PASSWORD: &str = "correct horse battery";
const FLOODERS: usize = 64;
/// Quiet and flooded phases alternate this many times.
const ROUNDS: usize = 4;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn measure(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    samples: usize,
) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        let response = client
            .get(format!("{base}/api/v2/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET /me: {e}"));
        assert!(response.status().is_success(), "{}", response.status());
        let _ = response.bytes().await;
        latencies.push(start.elapsed());
        // Paced like an interactive client, not a second flood.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    latencies
}

fn report(label: &str, latencies: &[Duration]) -> Duration {
    let p99 = percentile(latencies, 0.99);
    println!(
        "{label:<22} n={:<5} p50 {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms",
        latencies.len(),
        percentile(latencies, 0.5).as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    p99
}

/// Starts 64 clients posting logins on a runtime of their own; they stop
/// when the flag is set. Returns the flag, the count of answered logins and
/// the thread.
fn start_flood(
    base: &str,
    login: &serde_json::Value,
) -> (Arc<AtomicBool>, Arc<AtomicU64>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let logins = Arc::new(AtomicU64::new(0));
    let (stop_flag, counter, base, login) =
        (stop.clone(), logins.clone(), base.to_owned(), login.clone());
    let thread = std::thread::spawn(move || {
        runtime("flood", 1).block_on(async move {
            let mut flooders = Vec::new();
            for i in 0..FLOODERS {
                let (stop, logins, base) = (stop_flag.clone(), counter.clone(), base.clone());
                // Half wrong passwords, half right: both cost a verification.
                let body = if i % 2 == 0 {
                    login.clone()
                } else {
                    json!({"email": "bench@example.com", "password": "wrong password!"})
                };
                flooders.push(tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    while !stop.load(Ordering::Relaxed) {
                        if client
                            .post(format!("{base}/api/v2/auth/login"))
                            .json(&body)
                            .send()
                            .await
                            .is_ok()
                        {
                            logins.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
            for flooder in flooders {
                let _ = flooder.await;
            }
        });
    });
    (stop, logins, thread)
}

/// A runtime on a thread of its own, as a separate process would have.
fn runtime(name: &str, workers: usize) -> tokio::runtime::Runtime {
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers);
        builder
    };
    builder
        .enable_all()
        .thread_name(name)
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

fn main() {
    let samples: usize = std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let dir = std::env::temp_dir().join(format!("charter-bench-{}", uuid::Uuid::new_v4()));

    // The server, the measuring client and the flood each get their own
    // runtime, so they compete for the CPU as separate processes would,
    // not inside one scheduler.
    let server_runtime = runtime("server", 2);
    let base = server_runtime.block_on(async {
        let mut config = Config {
            database_url: Some(format!("sqlite:{}/charter.db", dir.display())),
            token_secret: Some("bench-secret-bench-secret-bench-secret-0".to_owned()),
            ..Config::default()
        };
        // Measure the hasher, not the limiter: logins must really run.
        config.rate_limits.default = "100000000/60".parse().unwrap_or(config.rate_limits.default);
        config.rate_limits.auth = "100000000/60".parse().unwrap_or(config.rate_limits.auth);
        config.rate_limits.principal = "100000000/60"
            .parse()
            .unwrap_or(config.rate_limits.principal);
        let app = App::build(&config)
            .await
            .unwrap_or_else(|e| panic!("app: {e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let base = format!(
            "http://{}",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        tokio::spawn(charter::http::serve(listener, app));
        base
    });

    let client_runtime = runtime("client", 1);
    let client = reqwest::Client::new();
    let login = json!({"email": "bench@example.com", "password": PASSWORD});
    let token = client_runtime.block_on(async {
        let register =
            json!({"email": "bench@example.com", "password": PASSWORD, "full_name": "Bench"});
        client
            .post(format!("{base}/api/v2/auth/register"))
            .json(&register)
            .send()
            .await
            .unwrap_or_else(|e| panic!("register: {e}"));
        let tokens: serde_json::Value = client
            .post(format!("{base}/api/v2/auth/login"))
            .json(&login)
            .send()
            .await
            .unwrap_or_else(|e| panic!("login: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("login body: {e}"));
        tokens["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    });

    client_runtime.block_on(measure(&client, &base, &token, samples / 10)); // warm-up

    // Quiet and flooded phases alternate, so drift in the machine's speed
    // over the run weighs on both alike; each phase's samples are pooled.
    let per_round = (samples / ROUNDS).max(1);
    let (mut quiet, mut flooded) = (Vec::new(), Vec::new());
    let (mut logins_total, mut flood_time) = (0, Duration::ZERO);
    for _ in 0..ROUNDS {
        quiet.extend(client_runtime.block_on(measure(&client, &base, &token, per_round)));
        let (stop, logins, flood) = start_flood(&base, &login);
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        flooded.extend(client_runtime.block_on(measure(&client, &base, &token, per_round)));
        flood_time += started.elapsed();
        stop.store(true, Ordering::Relaxed);
        let _ = flood.join();
        logins_total += logins.load(Ordering::Relaxed);
    }
    quiet.sort();
    flooded.sort();

    println!(
        "cheap authenticated GET /api/v2/me, quiet vs {FLOODERS} login clients, {ROUNDS} alternating rounds"
    );
    let quiet_p99 = report("quiet", &quiet);
    let flooded_p99 = report("under login flood", &flooded);
    println!(
        "logins served during the flooded phases: {logins_total} ({:.0}/s)",
        logins_total as f64 / flood_time.as_secs_f64()
    );
    println!(
        "p99 under flood / quiet p99: {:.2}",
        flooded_p99.as_secs_f64() / quiet_p99.as_secs_f64()
    );
    drop(server_runtime);
    let _ = std::fs::remove_dir_all(dir);
}
