//! Latency of a cheap authenticated GET while 64 clients hammer login.
//!
//! Starts the real server (embedded SQLite, in a temporary directory) on
//! 127.0.0.1, measures `GET /api/v2/me` alone, then again while 64 concurrent
//! clients post logins (each costs an argon2id verification), in one run.
//! Prints p50/p99 of both phases and the ratio of the p99s.
//!
//! Run: `cargo bench --bench login_flood` (`BENCH_SAMPLES` sets the number of
//! GETs per phase).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use charter::{App, Config};
use serde_json::json;

const PASSWORD: &str = "correct horse battery";
const FLOODERS: usize = 64;

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
    latencies.sort();
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
        .unwrap_or(1000);
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

    let quiet = client_runtime.block_on(async {
        measure(&client, &base, &token, samples / 10).await; // warm-up
        measure(&client, &base, &token, samples).await
    });

    let stop = Arc::new(AtomicBool::new(false));
    let logins = Arc::new(AtomicU64::new(0));
    let flood = {
        let (stop, logins, base, login) =
            (stop.clone(), logins.clone(), base.clone(), login.clone());
        std::thread::spawn(move || {
            runtime("flood", 1).block_on(async move {
                let mut flooders = Vec::new();
                for i in 0..FLOODERS {
                    let (stop, logins, base) = (stop.clone(), logins.clone(), base.clone());
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
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let flooded = client_runtime.block_on(measure(&client, &base, &token, samples));
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = flood.join();

    println!("cheap authenticated GET /api/v2/me, {FLOODERS} login clients in the second phase");
    let quiet_p99 = report("quiet", &quiet);
    let flooded_p99 = report("under login flood", &flooded);
    println!(
        "logins served during the flood: {} ({:.0}/s)",
        logins.load(Ordering::Relaxed),
        logins.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
    );
    println!(
        "p99 under flood / quiet p99: {:.2}",
        flooded_p99.as_secs_f64() / quiet_p99.as_secs_f64()
    );
    drop(server_runtime);
    let _ = std::fs::remove_dir_all(dir);
}
