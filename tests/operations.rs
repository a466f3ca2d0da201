//! Operations: metrics, probes, request ids, logs, trace export, the docs
//! portal and graceful shutdown, through the real HTTP interface. The tests
//! that need a process of their own (signals, the global log subscriber,
//! OTLP export) run the `charter` binary.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::process::Process;
use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// One sample's value in Prometheus text: the line starting with `series`
/// (name and labels exactly as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(server: &TestServer) -> String {
    let response = http()
        .get(format!("{}/metrics", server.admin_base))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        response.headers()
    );
    response.text().await.expect("metrics text")
}

/// `promtool check metrics` on `text` when `PROMTOOL` names the tool (CI
/// sets it); it must then run and accept the text.
fn promtool_accepts(text: &str) {
    let Some(promtool) = std::env::var_os("PROMTOOL").filter(|v| !v.is_empty()) else {
        eprintln!("PROMTOOL is not set: the exposition is not checked by promtool");
        return;
    };
    let mut child = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("PROMTOOL={promtool:?} cannot run: {e}"));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("promtool stdin");
        stdin.write_all(text.as_bytes()).expect("feed promtool");
    }
    let output = child.wait_with_output().expect("promtool");
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

contract_test!(metrics_follow_the_requests, |server| {
    let before = scrape(&server).await;
    promtool_accepts(&before);
    let me_ok =
        r#"charter_http_requests_total{method="GET",operation_id="getMe",status_class="2xx"}"#;
    let me_denied =
        r#"charter_http_requests_total{method="GET",operation_id="getMe",status_class="4xx"}"#;
    let auth_failed = r#"charter_auth_failures_total{credential="bearer",operation_id="getMe"}"#;
    let login_failed = r#"charter_auth_failures_total{credential="password",operation_id="login"}"#;
    let ok_before = sample(&before, me_ok).unwrap_or(0.0);

    let ada = server.user("Ada").await;
    for _ in 0..3 {
        ada.client.get_me().send().await.expect("me");
    }
    let stranger = server.with(charter_client::Credentials::Bearer("not-a-token".into()));
    let _ = stranger.get_me().send().await;
    let _ = server
        .anonymous()
        .login()
        .body(types::LoginRequest {
            email: ada.email.parse().expect("email"),
            password: "wrong password!".parse().expect("password"),
        })
        .send()
        .await;
    let _ = http()
        .get(format!("{}/no/such/path", server.base))
        .send()
        .await
        .expect("404");

    let after = scrape(&server).await;
    promtool_accepts(&after);
    assert_eq!(sample(&after, me_ok), Some(ok_before + 3.0), "{after}");
    assert_eq!(sample(&after, me_denied), Some(1.0));
    assert_eq!(sample(&after, auth_failed), Some(1.0));
    assert_eq!(sample(&after, login_failed), Some(1.0));
    assert!(
        sample(
            &after,
            r#"charter_http_requests_total{method="GET",operation_id="unmatched",status_class="4xx"}"#
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert_eq!(
        sample(
            &after,
            r#"charter_http_request_duration_seconds_count{method="GET",operation_id="getMe",status_class="2xx"}"#
        ),
        Some(ok_before + 3.0)
    );
    // The scrape itself is not an API request; nothing else is in flight.
    assert_eq!(sample(&after, "charter_http_requests_in_flight"), Some(0.0));
    assert_eq!(sample(&after, "charter_db_up"), Some(1.0));
    assert!(sample(&after, "charter_db_pool_max_connections").is_some_and(|n| n >= 1.0));
    assert!(sample(&after, r#"charter_db_pool_connections{state="idle"}"#).is_some());
    assert_eq!(
        sample(&after, r#"charter_live_connections{kind="sse"}"#),
        Some(0.0)
    );

    // A live stream shows up while open.
    let channel = channel(&ada, "ops", types::ChannelVisibility::Public).await;
    let stream = ada
        .client
        .stream_channel_events()
        .channel_id(channel.id)
        .send()
        .await
        .expect("stream");
    let during = scrape(&server).await;
    assert_eq!(
        sample(&during, r#"charter_live_connections{kind="sse"}"#),
        Some(1.0),
        "{during}"
    );
    drop(stream);

    // The public listener does not serve the figures.
    let public = http()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("public /metrics");
    assert_eq!(public.status(), 404);
});

contract_test!(
    rate_limit_rejections_are_counted,
    config = |config: &mut charter::Config| {
        config.rate_limits.auth = "1/60".parse().expect("limit");
    },
    |server| {
        for _ in 0..3 {
            let _ = server
                .anonymous()
                .login()
                .body(types::LoginRequest {
                    email: "nobody@example.com".parse().expect("email"),
                    password: "whatever-password".parse().expect("password"),
                })
                .send()
                .await;
        }
        let text = scrape(&server).await;
        promtool_accepts(&text);
        assert_eq!(
            sample(&text, r#"charter_rate_limited_total{operation_id="login"}"#),
            Some(2.0),
            "{text}"
        );
    }
);

contract_test!(probes_report_health_and_readiness, |server| {
    for base in [&server.base, &server.admin_base] {
        let health = http()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("healthz");
        assert_eq!(health.status(), 200);
        let ready = http()
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz");
        assert_eq!(ready.status(), 200);
        let body: Value = ready.json().await.expect("readyz body");
        assert_eq!(body["status"], "ready");
    }
    server.app.health.start_draining();
    let draining = http()
        .get(format!("{}/readyz", server.admin_base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(draining.status(), 503);
    assert_eq!(
        draining
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let body: Value = draining.json().await.expect("problem");
    assert_eq!(body["code"], "SHUTTING_DOWN");
    // Still alive while draining.
    let health = http()
        .get(format!("{}/healthz", server.admin_base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
});

contract_test!(request_ids_are_taken_or_assigned, |server| {
    let client = http();
    let echoed = client
        .get(format!("{}/api/v2/me", server.base))
        .header("x-request-id", "trace-me.42:abc_DEF")
        .send()
        .await
        .expect("me");
    assert_eq!(
        echoed
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("trace-me.42:abc_DEF")
    );
    let problem: Value = echoed.json().await.expect("problem");
    assert_eq!(problem["request_id"], "trace-me.42:abc_DEF");

    // An id that could garble logs is replaced by a fresh one.
    for odd in ["has space", "quote\"", &"x".repeat(129)] {
        let response = client
            .get(format!("{}/api/v2/me", server.base))
            .header("x-request-id", odd)
            .send()
            .await
            .expect("me");
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(!id.is_empty() && id != odd, "{odd:?} -> {id:?}");
        let problem: Value = response.json().await.expect("problem");
        assert_eq!(problem["request_id"], id.as_str());
    }
});

contract_test!(the_docs_portal_is_served_from_the_binary, |server| {
    let client = http();
    let page = client
        .get(format!("{}/docs/", server.base))
        .send()
        .await
        .expect("docs");
    assert_eq!(page.status(), 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html}");
    // Every asset the page loads is served here, none from elsewhere.
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    ] {
        assert!(html.contains(asset), "the page does not load {asset}");
        let response = client
            .get(format!("{}/docs/{asset}", server.base))
            .send()
            .await
            .expect("asset");
        assert_eq!(response.status(), 200, "{asset}");
    }
    assert!(
        !html.contains("https://"),
        "the page refers to another site"
    );
    let initializer = client
        .get(format!("{}/docs/swagger-initializer.js", server.base))
        .send()
        .await
        .expect("initializer")
        .text()
        .await
        .expect("initializer text");
    assert!(initializer.contains("/openapi/v2.json"));
    assert!(initializer.contains("/openapi/v1.json"));
    for version in ["v1", "v2"] {
        let spec: Value = client
            .get(format!("{}/openapi/{version}.json", server.base))
            .send()
            .await
            .expect("spec")
            .json()
            .await
            .expect("spec json");
        assert_eq!(spec["openapi"], "3.0.3");
    }
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_requests_closes_live_sessions_then_exits_zero() {
    let mut process = Process::start(&[]);
    let address = process.base.trim_start_matches("http://").to_owned();
    // A live WebSocket session, to be closed with 1001 ("going away").
    let account = serde_json::json!({
        "email": "live@example.com",
        "password": PASSWORD,
        "full_name": "Live Listener",
    });
    let register = http()
        .post(format!("{}/api/v2/auth/register", process.base))
        .json(&account)
        .send()
        .await
        .expect("register");
    assert_eq!(register.status(), 201);
    let tokens: Value = http()
        .post(format!("{}/api/v2/auth/login", process.base))
        .json(&serde_json::json!({"email": account["email"], "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("tokens");
    let token = tokens["access_token"].as_str().expect("access token");
    let mut session = charter_client::live::Session::connect(
        &charter_client::ClientBuilder::new(&process.base)
            .v2()
            .expect("client"),
        token,
    )
    .await
    .expect("a WebSocket session");
    // A registration whose body arrives slowly, straddling the signal.
    let body = serde_json::json!({
        "email": "slow@example.com",
        "password": PASSWORD,
        "full_name": "Slow Sender",
    })
    .to_string();
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v2/auth/register HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let (first, rest) = body.split_at(body.len() / 2);
    stream
        .write_all(first.as_bytes())
        .await
        .expect("first half");
    tokio::time::sleep(Duration::from_millis(300)).await;

    process.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Draining: not ready, and the API port takes no new connections.
    let ready = http()
        .get(format!("{}/readyz", process.admin_base))
        .send()
        .await
        .expect("readyz while draining");
    assert_eq!(ready.status(), 503);
    let problem: Value = ready.json().await.expect("problem");
    assert_eq!(problem["code"], "SHUTTING_DOWN");
    assert!(
        tokio::net::TcpStream::connect(&address).await.is_err(),
        "a new connection was accepted while draining"
    );

    // The request in flight still completes.
    stream
        .write_all(rest.as_bytes())
        .await
        .expect("second half");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the response came before the drain deadline")
        .expect("read");
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "the slow request did not finish: {response}"
    );
    let closed = tokio::time::timeout(Duration::from_secs(10), session.closed())
        .await
        .expect("the session was closed in time")
        .expect("a close frame");
    assert_eq!(closed.code, 1001, "{closed:?}");

    let status = process.wait(Duration::from_secs(15));
    assert!(status.success(), "exit status {status:?}");
    let lines = process.drain_lines(Duration::from_millis(200));
    assert!(
        lines
            .iter()
            .any(|line| line["fields"]["message"] == "stopped"),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_an_idle_server_cleanly() {
    let mut process = Process::start(&[]);
    let health = http()
        .get(format!("{}/healthz", process.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    process.signal(libc::SIGINT);
    let status = process.wait(Duration::from_secs(15));
    assert!(status.success(), "exit status {status:?}");
}

/// What an OTLP/HTTP collector received: each request body, decoded.
type Exports = tokio::sync::mpsc::UnboundedReceiver<
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
>;

/// An OTLP/HTTP trace receiver on 127.0.0.1:0; its base URL.
async fn otlp_receiver() -> (String, Exports) {
    use axum::body::Bytes;
    use prost::Message;
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let router = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let sender = sender.clone();
            async move {
                let request = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(body)
                    .expect("an OTLP protobuf export");
                let _ = sender.send(request);
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, receiver)
}

fn attribute(
    span: &opentelemetry_proto::tonic::trace::v1::Span,
    key: &str,
) -> Option<opentelemetry_proto::tonic::common::v1::any_value::Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_export_continues_the_callers_trace() {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Attr;

    let (collector, mut exports) = otlp_receiver().await;
    let mut process = Process::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_SERVICE_NAME", "charter-under-test"),
    ]);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let response = http()
        .get(format!("{}/api/v2/me", process.base))
        .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
        .header("x-request-id", "otlp-test-1")
        .send()
        .await
        .expect("me");
    assert_eq!(response.status(), 401);

    let deadline = Instant::now() + Duration::from_secs(20);
    let span = loop {
        let export = tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            exports.recv(),
        )
        .await
        .expect("no span arrived at the collector")
        .expect("collector closed");
        let found = export.resource_spans.iter().find_map(|resource| {
            let service = resource.resource.as_ref().and_then(|r| {
                r.attributes
                    .iter()
                    .find(|kv| kv.key == "service.name")
                    .and_then(|kv| kv.value.clone())
                    .and_then(|v| v.value)
            });
            assert_eq!(
                service,
                Some(Attr::StringValue("charter-under-test".to_owned()))
            );
            resource
                .scope_spans
                .iter()
                .flat_map(|scope| scope.spans.iter())
                .find(|span| {
                    attribute(span, "request_id")
                        == Some(Attr::StringValue("otlp-test-1".to_owned()))
                })
                .cloned()
        });
        if let Some(span) = found {
            break span;
        }
    };
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(
        hex(&span.trace_id),
        trace_id,
        "the span is not in the caller's trace"
    );
    assert_eq!(
        hex(&span.parent_span_id),
        parent_id,
        "the span's parent is not the caller's"
    );
    assert_eq!(span.name, "GET /api/v2/me");
    assert_eq!(
        attribute(&span, "operation_id"),
        Some(Attr::StringValue("getMe".to_owned()))
    );
    assert_eq!(
        attribute(&span, "http.route"),
        Some(Attr::StringValue("/api/v2/me".to_owned()))
    );
    assert_eq!(
        attribute(&span, "http.response.status_code"),
        Some(Attr::IntValue(401))
    );

    // The log lines of the request carry its request id and trace id.
    process.signal(libc::SIGTERM);
    assert!(process.wait(Duration::from_secs(15)).success());
    let lines = process.drain_lines(Duration::from_millis(200));
    let answered = lines
        .iter()
        .find(|line| {
            line["fields"]["message"] == "answered" && line["span"]["request_id"] == "otlp-test-1"
        })
        .unwrap_or_else(|| panic!("no log line of the request: {lines:?}"));
    assert_eq!(answered["span"]["trace_id"], trace_id);
    assert_eq!(answered["span"]["operation_id"], "getMe");
    assert_eq!(answered["span"]["http.route"], "/api/v2/me");
    assert_eq!(answered["span"]["http.response.status_code"], 401);
    assert_eq!(answered["span"]["http.request.method"], "GET");
}

#[test]
fn help_documents_the_settings_and_bad_settings_fail_clearly() {
    let binary = env!("CARGO_BIN_EXE_charter");
    let help = std::process::Command::new(binary)
        .arg("--help")
        .output()
        .expect("charter --help");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for setting in [
        "--database-url",
        "--admin-listen",
        "--drain-timeout",
        "CHARTER_LOG_FORMAT",
    ] {
        assert!(text.contains(setting), "--help lacks {setting}");
    }
    let bad = std::process::Command::new(binary)
        .args(["serve", "--drain-timeout", "soon"])
        .output()
        .expect("charter with a bad flag");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--drain-timeout"));
    let short_secret = std::process::Command::new(binary)
        .arg("migrate")
        .env("CHARTER_TOKEN_SECRET", "short-secret")
        .output()
        .expect("charter with a short secret");
    assert_eq!(short_secret.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&short_secret.stderr);
    assert!(
        stderr.contains("CHARTER_TOKEN_SECRET") && !stderr.contains("short-secret"),
        "{stderr}"
    );
    let spec = std::process::Command::new(binary)
        .args(["openapi", "v1", "--format", "json"])
        .output()
        .expect("charter openapi");
    assert!(spec.status.success());
    let spec: Value = serde_json::from_slice(&spec.stdout).expect("a JSON spec");
    // Exactly the document the server publishes at /openapi/v1.json.
    let published: Value = serde_json::from_str(charter::api::V1_JSON).expect("bundled spec");
    assert_eq!(spec, published);
    assert!(spec["paths"]["/api/v1/me"].is_object());
}
