//! Client connections are bounded (the real binary, raw sockets): a client
//! that sends nothing, sends its head slowly or idles on a kept-alive
//! connection is closed after the header-read timeout; heads that are too
//! large or malformed get a problem document; beyond the connection cap a
//! new connection gets a 503 problem at once while the operator listener
//! stays reachable; an unfinished head holds little memory.

mod common;

use std::time::{Duration, Instant};

use common::process::{Launch, Process};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn launch(args: &[&str]) -> Process {
    Process::launch(Launch {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        ..Launch::default()
    })
}

/// Reads until the server closes the connection; what it sent and how long
/// that took. Fails after `limit`.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let reading = async {
        let mut buf = [0_u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, reading)
        .await
        .unwrap_or_else(|_| panic!("the server kept the connection open for {limit:?}"));
    (received, started.elapsed())
}

/// The status line and JSON body of one raw HTTP/1.1 response.
fn parse_response(bytes: &[u8]) -> (String, Vec<String>, Value) {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_owned();
    let headers = lines.map(str::to_ascii_lowercase).collect();
    (
        status,
        headers,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_silent_connections_are_closed_after_the_header_timeout() {
    let process = launch(&["--header-read-timeout", "1s"]);
    let address = process.address();

    // A head that never ends.
    let mut slow = TcpStream::connect(&address).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-a: ")
        .await
        .expect("write");
    // A connection that sends nothing at all.
    let mut silent = TcpStream::connect(&address).await.expect("connect");
    // A kept-alive connection that goes idle after one request.
    let mut idle = TcpStream::connect(&address).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");

    let (sent, after) = read_to_close(&mut slow, Duration::from_secs(5)).await;
    assert!(
        after >= Duration::from_millis(900),
        "closed early: {after:?}"
    );
    assert!(sent.is_empty() || sent.starts_with(b"HTTP/1.1 4"));
    let (sent, _) = read_to_close(&mut silent, Duration::from_secs(5)).await;
    assert!(
        sent.is_empty(),
        "nothing is sent to a client that sent nothing"
    );
    let (sent, _) = read_to_close(&mut idle, Duration::from_secs(5)).await;
    assert!(
        sent.starts_with(b"HTTP/1.1 200 OK"),
        "the request was answered before the idle connection was closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_hyper_refuses_are_answered_with_problem_documents() {
    let process = launch(&["--max-header-bytes", "8192", "--max-headers", "20"]);
    let address = process.address();
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            format!(
                "GET /healthz HTTP/1.1\r\nHost: x\r\nX-a: {}\r\n\r\n",
                "a".repeat(9000)
            )
            .into_bytes(),
            "431",
            "HEADERS_TOO_LARGE",
        ),
        (
            format!(
                "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
                (0..30).map(|i| format!("X-{i}: v\r\n")).collect::<String>()
            )
            .into_bytes(),
            "431",
            "HEADERS_TOO_LARGE",
        ),
        (
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "p".repeat(10_000)).into_bytes(),
            "431",
            "HEADERS_TOO_LARGE",
        ),
        (
            b"POST /api/v2/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n"
                .to_vec(),
            "400",
            "MALFORMED_REQUEST",
        ),
        (
            b"GET /he\x01lthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            "400",
            "MALFORMED_REQUEST",
        ),
    ];
    for (request, status, code) in cases {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        stream.write_all(&request).await.expect("write");
        let (sent, _) = read_to_close(&mut stream, Duration::from_secs(5)).await;
        let (status_line, headers, problem) = parse_response(&sent);
        assert!(
            status_line.starts_with(&format!("HTTP/1.1 {status} ")),
            "{status_line} for {code}"
        );
        assert!(
            headers.contains(&"content-type: application/problem+json".to_owned()),
            "{headers:?}"
        );
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(problem["status"].as_u64(), status.parse().ok());
        assert!(
            problem["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );
    }
    // Ordinary requests on the same listener are unaffected.
    let response = reqwest::get(format!("{}/healthz", process.base))
        .await
        .expect("healthz");
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_connection_cap_new_connections_are_refused_at_once() {
    const CAP: usize = 40;
    let process = launch(&[
        "--max-connections",
        &CAP.to_string(),
        "--header-read-timeout",
        "60s",
    ]);
    let address = process.address();
    let mut held = Vec::new();
    for _ in 0..CAP {
        held.push(TcpStream::connect(&address).await.expect("connect"));
    }
    // Each one holds its place (the server has accepted them all).
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let mut refused = TcpStream::connect(&address).await.expect("connect");
    let (sent, _) = read_to_close(&mut refused, Duration::from_secs(2)).await;
    let answered_after = started.elapsed();
    let (status_line, headers, problem) = parse_response(&sent);
    assert!(status_line.starts_with("HTTP/1.1 503 "), "{status_line}");
    assert!(
        headers.contains(&"retry-after: 1".to_owned()),
        "{headers:?}"
    );
    assert_eq!(problem["code"], "TOO_MANY_CONNECTIONS");
    eprintln!("a connection beyond the cap of {CAP} was refused in {answered_after:?}");

    // The operator listener is not affected by the API listener's cap.
    let client = reqwest::Client::new();
    let ready = client
        .get(format!("{}/readyz", process.admin_base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let metrics = client
        .get(format!("{}/metrics", process.admin_base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(&format!(
            "charter_connections_open{{listener=\"api\"}} {CAP}"
        )),
        "{metrics}"
    );
    let refused_total = metrics
        .lines()
        .find_map(|l| l.strip_prefix("charter_connections_refused_total{listener=\"api\"} "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("refusal counter");
    assert!(refused_total >= 1);
    let logged = process.drain_lines(Duration::from_millis(300));
    assert!(
        logged.iter().any(|line| line["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("connection cap"))),
        "the refusal is logged"
    );

    // Places freed are taken again.
    held.truncate(CAP - 5);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = client
        .get(format!("{}/healthz", process.base))
        .send()
        .await
        .expect("healthz once places are free");
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_head_holds_little_memory() {
    const CONNECTIONS: usize = 300;
    let process = launch(&["--header-read-timeout", "60s"]);
    let address = process.address();
    // Warm the allocator with one request first.
    let warm = reqwest::get(format!("{}/healthz", process.base))
        .await
        .expect("healthz");
    assert_eq!(warm.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = process.rss_kib();
    // Connections that send nothing...
    let mut held = Vec::new();
    for _ in 0..CONNECTIONS {
        held.push(TcpStream::connect(&address).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_idle = process.rss_kib();
    // ...and connections that send most of a 16 KiB head (the default
    // limit) and stop.
    let partial = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-a: {}",
        "a".repeat(15_000)
    );
    for _ in 0..CONNECTIONS {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        stream.write_all(partial.as_bytes()).await.expect("write");
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_heads = process.rss_kib();
    let per = |from: u64, to: u64| to.saturating_sub(from) as f64 / CONNECTIONS as f64;
    let (idle, unfinished) = (per(before, with_idle), per(with_idle, with_heads));
    eprintln!(
        "RSS {before} KiB; +{CONNECTIONS} idle connections: {with_idle} KiB \
         ({idle:.1} KiB each); +{CONNECTIONS} unfinished 15 KB heads: {with_heads} KiB \
         ({unfinished:.1} KiB each)"
    );
    assert!(idle < 32.0, "{idle:.1} KiB per idle connection");
    assert!(unfinished < 96.0, "{unfinished:.1} KiB per unfinished head");
}
