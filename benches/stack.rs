//! The full production stack next to bare axum, measured side by side.
//!
//! Starts, each as a process of its own: a bare axum + sqlx server written for
//! this benchmark (this binary, re-executed with `--bare-server`), the real
//! `charter` binary on SQLite (a temporary directory) and on PostgreSQL (a
//! database of its own on `TEST_DATABASE_URL`), with production defaults and
//! every layer on (only the rate limits are raised, in number). Seeds a user,
//! a channel and 50 messages through the API, then drives each Charter route
//! and its baseline with `wrk` over loopback, in interleaved rounds, plus
//! `pgbench -S -M prepared` as PostgreSQL's own ceiling for a point read.
//!
//! Prints, per measurement, req/s, p50/p99 latency, non-2xx responses and the
//! server's CPU µs per request (from `/proc`); then, per route, the median of
//! the per-round ratios Charter/baseline next to the targets. Exits non-zero
//! only if the tool fails (a server does not start, wrk is missing and cannot
//! be installed, a route answers errors); no target is asserted.
//!
//! Run: `cargo bench --bench stack` (3 rounds of 8 s per measurement, 64
//! connections). `-- --smoke` (or `STACK_BENCH_SMOKE=1`): 1 round of 1 s, 8
//! connections, for CI. `STACK_BENCH_ROUNDS`, `STACK_BENCH_SECONDS`,
//! `STACK_BENCH_CONNECTIONS` override those; `STACK_BENCH_ONLY=text` keeps
//! the routes whose name contains `text`.

#[path = "stack/bare.rs"]
mod bare;
#[path = "stack/load.rs"]
mod load;
#[path = "stack/plan.rs"]
mod plan;
#[path = "stack/report.rs"]
mod report;
#[path = "stack/servers.rs"]
mod servers;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use load::Target;
use plan::{On, Route};
use report::Pair;
use servers::Server;

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const MESSAGE: &str = r#"{"body":"A message of a typical length, posted under load."}"#;

struct Settings {
    rounds: usize,
    seconds: u32,
    connections: u32,
    smoke: bool,
    only: Option<String>,
}

fn from_env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

impl Settings {
    fn read(args: &[String]) -> Settings {
        let smoke = args.iter().any(|arg| arg == "--smoke")
            || std::env::var("STACK_BENCH_SMOKE").is_ok_and(|v| v == "1");
        let (rounds, seconds, connections) = if smoke { (1, 1, 8) } else { (3, 8, 64) };
        Settings {
            rounds: from_env("STACK_BENCH_ROUNDS", rounds),
            seconds: from_env("STACK_BENCH_SECONDS", seconds),
            connections: from_env("STACK_BENCH_CONNECTIONS", connections),
            smoke,
            only: std::env::var("STACK_BENCH_ONLY")
                .ok()
                .filter(|v| !v.is_empty()),
        }
    }
}

/// The three servers and the benchmark user's current tokens.
struct Stack {
    bare: Server,
    sqlite: Server,
    postgres: Server,
    sqlite_token: String,
    postgres_token: String,
}

impl Stack {
    fn target(&self, route: &Route) -> (&Server, Target) {
        let (server, token) = match route.on {
            On::Bare => (&self.bare, None),
            On::Sqlite => (&self.sqlite, Some(&self.sqlite_token)),
            On::Postgres => (&self.postgres, Some(&self.postgres_token)),
        };
        let target = Target {
            url: format!("{}{}", server.base, route.path),
            method: route.method,
            token: token.filter(|_| route.auth).cloned(),
            body: (route.method == "POST").then(|| MESSAGE.to_owned()),
        };
        (server, target)
    }

    fn login(&mut self, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        self.sqlite_token = runtime.block_on(servers::login(&client, &self.sqlite.base))?;
        self.postgres_token = runtime.block_on(servers::login(&client, &self.postgres.base))?;
        Ok(())
    }
}

/// One request to `target` before the load, so a misrouted or refused
/// request stops the run with the server's answer.
async fn probe(client: &reqwest::Client, target: &Target) -> anyhow::Result<()> {
    let method = target.method.parse().context("method")?;
    let mut request = client.request(method, &target.url);
    if let Some(token) = &target.token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = &target.body {
        request = request
            .header("content-type", "application/json")
            .body(body.clone());
    }
    let response = request.send().await?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("{} {} answers {status}: {body}", target.method, target.url);
    }
    Ok(())
}

fn run(
    settings: &Settings,
    scratch: &Path,
    databases: &mut servers::Databases,
) -> anyhow::Result<bool> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let pgbench = load::find_pgbench();
    if pgbench.is_none() {
        println!("!!! pgbench not found (PATH, /usr/lib/postgresql/*/bin): no database ceiling");
    }
    let charter_url = runtime.block_on(databases.create("charter"))?;
    let bare_url = runtime.block_on(databases.create("bare"))?;
    let (bare, bare_user) =
        servers::start_bare(&bare_url, &scratch.join("bare.db").to_string_lossy())?;
    let sqlite_url = format!("sqlite:{}", scratch.join("charter.db").display());
    let mut stack = Stack {
        bare,
        sqlite: servers::start_charter("charter-sqlite", &sqlite_url)?,
        postgres: servers::start_charter("charter-pg", &charter_url)?,
        sqlite_token: String::new(),
        postgres_token: String::new(),
    };
    let client = reqwest::Client::new();
    let seeded_sqlite = runtime.block_on(servers::seed(&client, &stack.sqlite.base))?;
    let seeded_pg = runtime.block_on(servers::seed(&client, &stack.postgres.base))?;
    stack.login(&runtime)?;
    let mut plans = plan::plans(&seeded_sqlite, &seeded_pg, &bare_user);
    if let Some(only) = &settings.only {
        plans.retain(|plan| plan.route.contains(only.as_str()));
    }
    for plan in &plans {
        for route in [&plan.bare, &plan.charter] {
            runtime.block_on(probe(&client, &stack.target(route).1))?;
        }
    }
    // The PostgreSQL point read is the one pgbench's ceiling applies to.
    let point_read = plans
        .iter()
        .position(|plan| plan.route.contains("users/{id}`, PostgreSQL"));
    let pgbench = match (pgbench, point_read) {
        (Some(pgbench), Some(_)) => {
            let url = runtime.block_on(databases.create("pgbench"))?;
            load::pgbench_init(&pgbench, &url)?;
            Some((pgbench, url))
        }
        _ => None,
    };
    let measure = |route: &Route, stack: &Stack, seconds| {
        let (server, target) = stack.target(route);
        let measured = load::wrk(
            &target,
            server.pid(),
            settings.connections,
            seconds,
            scratch,
        )?;
        anyhow::Ok((server.name, measured))
    };
    if !settings.smoke {
        // Pools filled, caches and allocator warm before anything counts.
        for plan in &plans {
            measure(&plan.bare, &stack, 1)?;
            measure(&plan.charter, &stack, 1)?;
        }
    }
    let mut pairs: Vec<Pair> = plans
        .iter()
        .map(|plan| Pair {
            route: plan.route,
            baseline: plan.baseline,
            target: plan.target,
            charter: Vec::new(),
            bare: Vec::new(),
        })
        .collect();
    let mut tps = Vec::new();
    let mut clean = true;
    for round in 0..settings.rounds {
        println!("\nround {}/{}", round + 1, settings.rounds);
        stack.login(&runtime)?;
        for (index, (plan, pair)) in plans.iter().zip(&mut pairs).enumerate() {
            // Which side goes first alternates, so drift favours neither.
            let bare_first = (round + index) % 2 == 0;
            for charter_side in [!bare_first, bare_first] {
                let (route, label) = if charter_side {
                    (&plan.charter, plan.route)
                } else {
                    (&plan.bare, plan.baseline)
                };
                let (server, measured) = measure(route, &stack, settings.seconds)?;
                report::line(server, label, &measured);
                clean &= !measured.failed();
                if charter_side {
                    pair.charter.push(measured);
                } else {
                    pair.bare.push(measured);
                }
            }
        }
        if let Some((pgbench, url)) = &pgbench {
            let measured = load::pgbench(pgbench, url, settings.seconds)?;
            println!(
                "  {:<15} {:<44} {measured:>9.0} TPS",
                "postgresql", "pgbench -S -M prepared -c16 -j2"
            );
            tps.push(measured);
        }
    }
    let ceiling = point_read
        .filter(|_| !tps.is_empty())
        .map(|i| (&pairs[i], tps.as_slice()));
    report::summary(&pairs, ceiling);
    for server in [&stack.bare, &stack.sqlite, &stack.postgres] {
        let lines = server.log_lines.load(std::sync::atomic::Ordering::Relaxed);
        if lines > 0 {
            let last = server
                .last_log_line
                .lock()
                .map(|l| l.clone())
                .unwrap_or_default();
            println!(
                "note: {} logged {lines} line(s) while serving, the last: {last}",
                server.name
            );
        }
    }
    Ok(clean)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|arg| arg == "--bare-server") {
        return match bare::main(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("bare server: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    let settings = Settings::read(&args);
    let started = Instant::now();
    println!(
        "stack benchmark: {} round(s) of {} s per measurement, wrk -t2 -c{}, {} cores, {} build",
        settings.rounds,
        settings.seconds,
        settings.connections,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "debug (figures not representative)"
        } else {
            "optimised"
        },
    );
    if let Err(error) = load::ensure_wrk() {
        eprintln!("stack benchmark: {error:#}");
        return ExitCode::FAILURE;
    }
    let admin_url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    let scratch = std::env::temp_dir().join(format!("charter-stack-{}", uuid::Uuid::new_v4()));
    let mut databases = servers::Databases::new(&admin_url);
    let outcome = std::fs::create_dir_all(&scratch)
        .map_err(anyhow::Error::from)
        .and_then(|()| run(&settings, &scratch, &mut databases));
    // The servers are stopped by now (dropped in `run`).
    if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        runtime.block_on(databases.drop_all());
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!("\nfinished in {:.1} s", started.elapsed().as_secs_f64());
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("stack benchmark: some routes answered errors (flagged !!! above)");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("stack benchmark failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}
