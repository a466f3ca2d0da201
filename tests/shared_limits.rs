//! Rate limits shared through Redis: two instances together admit what one
//! would, per client address and per principal, with the same fields as
//! the local limiter; with Redis gone each instance judges on its own after
//! a bounded wait, counts it, stays ready, and shares again once Redis is
//! back.

mod common;

use std::time::{Duration, Instant};

use charter::Config;
use charter::ratelimit::Shared;
use common::redis::{RedisServer, TestRedis};
use common::{Backend, TestServer};

fn shared(url: String, prefix: &str) -> Shared {
    Shared {
        url,
        timeout: Duration::from_millis(500),
        prefix: prefix.to_owned(),
    }
}

fn prefix() -> String {
    format!("charter-test-{}", uuid::Uuid::new_v4())
}

async fn keys(url: &str, prefix: &str) -> Vec<String> {
    let client = redis::Client::open(url).expect("redis url");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis answers");
    redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut connection)
        .await
        .expect("KEYS")
}

/// `GET /api/v2/me` on `base`, with `token` if given: the status and the
/// `RateLimit` field.
async fn me(server: &TestServer, base: &str, token: Option<&str>) -> (u16, String) {
    let mut request = server.raw().get(format!("{base}/api/v2/me"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let field = response
        .headers()
        .get_all("ratelimit")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    (response.status().as_u16(), field)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_admit_one_address_allowance_together() {
    let redis = TestRedis::get();
    let (url, prefix) = (redis.url(), prefix());
    let tweak_prefix = prefix.clone();
    common::run_with(
        Backend::Sqlite,
        move |config: &mut Config| {
            config.rate_limits.default = "10/60".parse().expect("limit");
            config.rate_limits.shared = Some(shared(url, &tweak_prefix));
        },
        move |server| async move {
            let (_b, b_base, _serving) = server.second_instance().await;
            let mut statuses = Vec::new();
            for i in 0..14 {
                let base = if i % 2 == 0 { &server.base } else { &b_base };
                statuses.push(me(&server, base, None).await);
            }
            let refused = statuses.iter().filter(|(s, _)| *s == 429).count();
            let answered = statuses.iter().filter(|(s, _)| *s == 401).count();
            assert_eq!((answered, refused), (10, 4), "{statuses:?}");
            assert!(
                statuses[..10].iter().all(|(s, _)| *s == 401),
                "{statuses:?}"
            );
            // The fields read as the local limiter writes them.
            assert_eq!(statuses[0].1, "\"default\";r=9;t=6", "{statuses:?}");
            assert!(
                statuses[13].1.starts_with("\"default\";r=0;t="),
                "{statuses:?}"
            );
            let kept = keys(
                &server
                    .config
                    .rate_limits
                    .shared
                    .as_ref()
                    .expect("shared")
                    .url,
                &prefix,
            )
            .await;
            assert_eq!(kept, [format!("{prefix}:rl:default:127.0.0.1")]);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_admit_one_principal_allowance_together_in_one_trip() {
    let redis = TestRedis::get();
    let (url, prefix) = (redis.url(), prefix());
    let tweak_prefix = prefix.clone();
    common::run_with(
        Backend::Sqlite,
        move |config: &mut Config| {
            config.rate_limits.default = "1000/60".parse().expect("limit");
            config.rate_limits.principal = "8/60".parse().expect("limit");
            config.rate_limits.shared = Some(shared(url, &tweak_prefix));
        },
        move |server| async move {
            let alice = server.user("Alice").await;
            let (_b, b_base, _serving) = server.second_instance().await;
            let mut statuses = Vec::new();
            for i in 0..12 {
                let base = if i % 2 == 0 { &server.base } else { &b_base };
                statuses.push(me(&server, base, Some(&alice.access_token)).await);
            }
            let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
            assert_eq!(ok, 8, "{statuses:?}");
            assert!(statuses[8..].iter().all(|(s, _)| *s == 429), "{statuses:?}");
            // Both allowances, address first, were taken by one script.
            assert!(
                statuses[0].1.starts_with("\"default\";r=")
                    && statuses[0].1.contains("\"principal\";r=7;t="),
                "{statuses:?}"
            );
            // A refused credential still counts against its address.
            let (status, field) = me(&server, &b_base, Some("not-a-token")).await;
            assert_eq!(status, 401);
            assert!(field.starts_with("\"default\";r="), "{field}");
            let url = &server
                .config
                .rate_limits
                .shared
                .as_ref()
                .expect("shared")
                .url;
            let mut kept = keys(url, &prefix).await;
            kept.sort();
            assert_eq!(
                kept,
                [
                    format!("{prefix}:rl:default:127.0.0.1"),
                    format!("{prefix}:rl:principal:{}", alice.id),
                ]
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_each_instance_limits_alone_and_stays_ready() {
    let mut redis = RedisServer::start();
    let (url, prefix) = (redis.url(), prefix());
    let tweak_url = url.clone();
    let tweak_prefix = prefix.clone();
    common::run_with(
        Backend::Sqlite,
        move |config: &mut Config| {
            config.rate_limits.default = "100/60".parse().expect("limit");
            config.rate_limits.shared = Some(Shared {
                url: tweak_url,
                timeout: Duration::from_millis(100),
                prefix: tweak_prefix,
            });
        },
        move |server| async move {
            let (status, _) = me(&server, &server.base, None).await;
            assert_eq!(status, 401);
            assert_eq!(
                keys(&url, &prefix).await.len(),
                1,
                "shared while Redis is up"
            );

            redis.stop();
            for _ in 0..5 {
                let started = Instant::now();
                let (status, field) = me(&server, &server.base, None).await;
                assert_eq!(status, 401, "judged locally, not failed");
                assert!(field.starts_with("\"default\";r="), "{field}");
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "the wait is bounded"
                );
            }
            let ready = server
                .raw()
                .get(format!("{}/readyz", server.admin_base))
                .send()
                .await
                .expect("readyz");
            assert_eq!(
                ready.status().as_u16(),
                200,
                "readiness does not depend on Redis"
            );
            let metrics = server
                .raw()
                .get(format!("{}/metrics", server.admin_base))
                .send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("text");
            let fallbacks: f64 = metrics
                .lines()
                .find_map(|l| l.strip_prefix("charter_rate_limit_local_fallbacks_total "))
                .and_then(|v| v.trim().parse().ok())
                .expect("the fallback counter");
            assert!(fallbacks >= 5.0, "{fallbacks}");

            redis.resume();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let (status, _) = me(&server, &server.base, None).await;
                assert_eq!(status, 401);
                if !keys(&url, &prefix).await.is_empty() {
                    break;
                }
                assert!(Instant::now() < deadline, "shared again once Redis is back");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        },
    )
    .await;
}
