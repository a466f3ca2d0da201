//! Attacks on the abuse limits and transport hygiene, over HTTP against the
//! real server: login floods, spoofed forwarding headers, address floods,
//! cross-origin calls, oversize bodies, content negotiation, and secrets in
//! logs.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use charter::Config;
use common::{Backend, PASSWORD, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn limit(text: &str) -> charter::ratelimit::Limit {
    text.parse().expect("limit")
}

async fn login_attempt(server: &TestServer, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = server
        .raw()
        .post(server.url("/api/v2/auth/login"))
        .json(&json!({"email": "nobody@example.com", "password": "guess-guess"}));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.expect("login request")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header in {response:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_flood_is_refused_with_429_and_rate_limit_fields() {
    common::run_with(
        Backend::Sqlite,
        |config: &mut Config| config.rate_limits.auth = limit("3/60"),
        |server| async move {
            for attempt in 0..3 {
                let response = login_attempt(&server, None).await;
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
                assert_eq!(header(&response, "ratelimit-policy"), "\"auth\";q=3;w=60");
                assert!(
                    header(&response, "ratelimit").starts_with(&format!("\"auth\";r={};t=", 2 - attempt)),
                    "{}",
                    header(&response, "ratelimit")
                );
            }
            let refused = login_attempt(&server, None).await;
            assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
            let retry: u64 = header(&refused, "retry-after").parse().expect("seconds");
            assert!((1..=60).contains(&retry), "Retry-After {retry}");
            assert_eq!(header(&refused, "ratelimit-policy"), "\"auth\";q=3;w=60");
            assert_eq!(header(&refused, "ratelimit"), format!("\"auth\";r=0;t={retry}"));
            assert_eq!(header(&refused, "content-type"), "application/problem+json");
            let body: Value = refused.json().await.expect("problem");
            assert_eq!(body["status"], 429);
            assert_eq!(body["code"], "RATE_LIMITED");

            // Registration shares the stricter class; other operations do not.
            let register = server
                .raw()
                .post(server.url("/api/v2/auth/register"))
                .json(&json!({"email": "late@example.com", "password": PASSWORD, "full_name": "Late"}))
                .send()
                .await
                .expect("register");
            assert_eq!(register.status(), StatusCode::TOO_MANY_REQUESTS);
            let listing = server.raw().get(server.url("/api/v2/users")).send().await.expect("list");
            assert_eq!(listing.status(), StatusCode::UNAUTHORIZED, "default class still open");
            assert_eq!(header(&listing, "ratelimit-policy"), "\"default\";q=1000000;w=60");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_and_api_key_has_its_own_allowance() {
    common::run_with(
        Backend::Sqlite,
        |config: &mut Config| config.rate_limits.principal = limit("4/60"),
        |server| async move {
            let alice = server.user("Alice").await;
            let bob = server.user("Bob").await;
            let key = alice
                .client
                .create_api_key()
                .body(common::types::CreateApiKeyRequest {
                    name: "ci".parse().expect("name"),
                    scopes: vec![common::types::ApiKeyScope::Read],
                })
                .send()
                .await
                .expect("key")
                .into_inner()
                .key
                .to_string();
            // create_api_key used one of Alice's four requests.
            for _ in 0..3 {
                alice
                    .client
                    .list_users()
                    .send()
                    .await
                    .expect("within allowance");
            }
            let refused = alice.client.list_users().send().await;
            common::problem(refused, 429, "RATE_LIMITED");
            // Same address, other user: untouched.
            bob.client
                .list_users()
                .send()
                .await
                .expect("bob's own allowance");
            // Alice's API key is limited apart from her tokens.
            let keyed = server.with(charter_client::Credentials::ApiKey(key));
            keyed
                .list_users()
                .send()
                .await
                .expect("the key's own allowance");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_from_untrusted_peers_are_ignored() {
    common::run_with(
        Backend::Sqlite,
        |config: &mut Config| config.rate_limits.auth = limit("2/60"),
        |server| async move {
            // A client rotating X-Forwarded-For is still one client.
            let mut statuses = Vec::new();
            for i in 0..3 {
                let spoofed = format!("198.51.100.{i}");
                statuses.push(login_attempt(&server, Some(&spoofed)).await.status());
            }
            assert_eq!(
                statuses,
                [
                    StatusCode::UNAUTHORIZED,
                    StatusCode::UNAUTHORIZED,
                    StatusCode::TOO_MANY_REQUESTS
                ]
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_from_trusted_proxies_name_the_client() {
    common::run_with(
        Backend::Sqlite,
        |config: &mut Config| {
            config.rate_limits.auth = limit("2/60");
            config.rate_limits.trusted_proxies = vec!["127.0.0.0/8".parse().expect("network")];
        },
        |server| async move {
            // Behind a trusted proxy, distinct clients have distinct allowances...
            for i in 0..3 {
                let client = format!("198.51.100.{i}");
                let response = login_attempt(&server, Some(&client)).await;
                assert_eq!(
                    response.status(),
                    StatusCode::UNAUTHORIZED,
                    "client {client}"
                );
            }
            // ...and one client is limited however the proxy chain is written:
            // the nearest untrusted hop counts, not what the client claims.
            let chains = [
                "203.0.113.9",
                "10.9.9.9, 203.0.113.9",
                "1.1.1.1, 203.0.113.9",
            ];
            let mut statuses = Vec::new();
            for chain in chains {
                statuses.push(login_attempt(&server, Some(chain)).await.status());
            }
            assert_eq!(
                statuses,
                [
                    StatusCode::UNAUTHORIZED,
                    StatusCode::UNAUTHORIZED,
                    StatusCode::TOO_MANY_REQUESTS
                ]
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limiter_memory_stays_bounded_under_an_address_flood() {
    common::run_with(
        Backend::Sqlite,
        |config: &mut Config| {
            config.rate_limits.trusted_proxies = vec!["127.0.0.1".parse().expect("network")];
            config.rate_limits.max_tracked = 50;
        },
        |server| async move {
            let client = server.raw();
            for i in 0..600u32 {
                let address = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
                let response = client
                    .get(server.url("/api/v2/users"))
                    .header("x-forwarded-for", address)
                    .send()
                    .await
                    .expect("request");
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            }
            let tracked = server.app.limits.tracked();
            assert!(tracked <= 50 * 3, "{tracked} clients tracked");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_access_only_for_configured_origins() {
    async fn preflight(server: &TestServer, origin: &str) -> reqwest::Response {
        server
            .raw()
            .request(reqwest::Method::OPTIONS, server.url("/api/v2/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .expect("preflight")
    }
    // Default: no origin is allowed.
    common::run(Backend::Sqlite, |server| async move {
        let response = preflight(&server, "https://app.example.com").await;
        assert!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
    })
    .await;
    common::run_with(
        Backend::Sqlite,
        |config: &mut Config| config.cors_origins = vec!["https://app.example.com".to_owned()],
        |server| async move {
            let allowed = preflight(&server, "https://app.example.com").await;
            assert_eq!(
                header(&allowed, "access-control-allow-origin"),
                "https://app.example.com"
            );
            let evil = preflight(&server, "https://evil.example").await;
            assert!(evil.headers().get("access-control-allow-origin").is_none());
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_and_unacceptable_media_types_are_refused() {
    common::run_with(
        Backend::Sqlite,
        |config: &mut Config| config.max_body_bytes = 2048,
        |server| async move {
            let alice = server.user("Alice").await;
            // Bigger than the limit, streamed without a Content-Length.
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                (0..8).map(|_| Ok(vec![b' '; 1024])).collect();
            let response = server
                .raw()
                .post(server.url("/api/v2/channels"))
                .bearer_auth(&alice.access_token)
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
            assert_eq!(
                header(&response, "content-type"),
                "application/problem+json"
            );

            let response = server
                .raw()
                .get(server.url("/api/v2/me"))
                .bearer_auth(&alice.access_token)
                .header("accept", "text/html")
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
            let body: Value = response.json().await.expect("problem");
            assert_eq!(body["code"], "NOT_ACCEPTABLE");
            let response = server
                .raw()
                .get(server.url("/api/v2/me"))
                .bearer_auth(&alice.access_token)
                .header("accept", "text/html, application/json;q=0.5")
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), StatusCode::OK);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_are_cut_off_with_a_problem() {
    common::run_with(
        Backend::Sqlite,
        // A login verifies a password hash: far slower than a millisecond.
        |config: &mut Config| config.request_timeout = std::time::Duration::from_millis(1),
        |server| async move {
            let response = login_attempt(&server, None).await;
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                header(&response, "content-type"),
                "application/problem+json"
            );
            assert_eq!(header(&response, "retry-after"), "1");
            let body: Value = response.json().await.expect("problem");
            assert_eq!(body["status"], 503);
            assert_eq!(body["code"], "PROCESSING_TIMEOUT", "{body}");
            assert_eq!(body["title"], "Request timed out");
            assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
            assert_eq!(body["instance"], "/api/v2/auth/login");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    common::run(Backend::Sqlite, |server| async move {
        let alice = server.user("Alice").await;
        let ok = server
            .raw()
            .get(server.url("/api/v2/me"))
            .bearer_auth(&alice.access_token)
            .send()
            .await
            .expect("ok");
        let problem = server
            .raw()
            .get(server.url("/nowhere"))
            .send()
            .await
            .expect("404");
        for response in [&ok, &problem] {
            assert_eq!(header(response, "x-content-type-options"), "nosniff");
            assert_eq!(header(response, "cache-control"), "no-store");
            assert_eq!(header(response, "x-frame-options"), "DENY");
            assert_eq!(header(response, "referrer-policy"), "no-referrer");
            assert!(header(response, "content-security-policy").contains("default-src 'none'"));
        }
    })
    .await;
}

/// Everything the server logs in this test binary.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .try_init();
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_token_or_key_reaches_the_logs_or_error_bodies() {
    let logs = captured_logs();
    common::run(Backend::Sqlite, |server| async move {
        let alice = server.user("Alice").await;
        let key = alice
            .client
            .create_api_key()
            .body(common::types::CreateApiKeyRequest {
                name: "logged?".parse().expect("name"),
                scopes: vec![common::types::ApiKeyScope::Read],
            })
            .send()
            .await
            .expect("key")
            .into_inner()
            .key
            .to_string();
        let refreshed = server
            .raw()
            .post(server.url("/api/v2/auth/refresh"))
            .json(&json!({"refresh_token": alice.refresh_token}))
            .send()
            .await
            .expect("refresh");
        let refreshed: Value = refreshed.json().await.expect("pair");
        // Failures that carry secrets in the request.
        let wrong_password = "hunter2-hunter2-wrong";
        let mut bodies = Vec::new();
        for request in [
            server
                .raw()
                .post(server.url("/api/v2/auth/login"))
                .json(&json!({"email": alice.email, "password": wrong_password})),
            server.raw().post(server.url("/api/v2/auth/register")).json(
                &json!({"email": "short@example.com", "password": "x9Q!z", "full_name": "S"}),
            ),
            server
                .raw()
                .get(server.url("/api/v2/me"))
                .bearer_auth(format!("{}x", alice.access_token)),
            server
                .raw()
                .get(server.url("/api/v2/users"))
                .header("x-api-key", format!("{key}x")),
            server
                .raw()
                .post(server.url("/api/v2/auth/refresh"))
                .json(&json!({"refresh_token": alice.refresh_token})),
        ] {
            let response = request.send().await.expect("request");
            assert!(response.status().is_client_error());
            bodies.push(response.text().await.expect("body"));
        }
        let secrets = [
            PASSWORD.to_owned(),
            wrong_password.to_owned(),
            "x9Q!z".to_owned(),
            alice.access_token.clone(),
            alice.refresh_token.clone(),
            refreshed["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            refreshed["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            key.clone(),
        ];
        let logged = String::from_utf8_lossy(&logs.lock().map(|b| b.clone()).unwrap_or_default())
            .into_owned();
        assert!(
            !logged.is_empty(),
            "the server logged nothing; the capture is broken"
        );
        for secret in &secrets {
            assert!(!secret.is_empty());
            assert!(
                !logged.contains(secret.as_str()),
                "a secret reached the logs"
            );
            for body in &bodies {
                assert!(
                    !body.contains(secret.as_str()),
                    "a secret reached an error body: {body}"
                );
            }
        }
    })
    .await;
}
