//! Rate limiting with GCRA: per client address before authentication, per
//! user or API key after it, with a stricter class for the operations the
//! spec marks `x-rate-limit: auth` (login, registration, token refresh).
//! Responses carry the IETF `RateLimit-Policy` and `RateLimit` fields; a
//! refusal is a 429 problem with `Retry-After`.
//!
//! Allowances live in this process (`local.rs`, governor) or, with
//! `--redis-url`, in Redis, shared by every instance (`shared.rs`), with
//! the local limiter standing in while Redis does not answer. Both judge
//! the same policies the same way; `address.rs` finds the client address
//! behind trusted proxies.

mod address;
mod local;
mod settings;
mod shared;

use std::net::IpAddr;

use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use prometheus::IntCounter;
use uuid::Uuid;

use charter_runtime::{Problem, RequestContext};

pub use settings::{Limit, Network, Settings, Shared};

use local::LocalLimits;
use shared::{SharedLimits, Take};

/// What one allowance says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed {
        remaining: u32,
        reset_seconds: u64,
    },
    Refused {
        retry_seconds: u64,
    },
    /// No policy applies.
    Unlimited,
}

/// A published policy: its name, limit and `RateLimit-Policy` field.
#[derive(Debug, Clone)]
struct Policy {
    name: &'static str,
    limit: Limit,
    field: Option<HeaderValue>,
}

impl Policy {
    fn new(name: &'static str, limit: Limit) -> Self {
        let field = format!(
            "\"{name}\";q={};w={}",
            limit.requests,
            limit.window.as_secs()
        );
        Policy {
            name,
            limit,
            field: HeaderValue::from_str(&field).ok(),
        }
    }
}

/// All limiters of the service.
pub struct RateLimits {
    local: LocalLimits,
    shared: Option<SharedLimits>,
    default: Policy,
    auth: Policy,
    principal: Policy,
    trusted_proxies: Vec<Network>,
}

impl RateLimits {
    /// `fallbacks` counts the requests judged locally because the shared
    /// store did not answer.
    pub fn new(settings: &Settings, fallbacks: IntCounter) -> Result<Self, redis::RedisError> {
        let shared = match &settings.shared {
            Some(shared) => Some(SharedLimits::new(shared, fallbacks)?),
            None => None,
        };
        Ok(RateLimits {
            local: LocalLimits::new(settings),
            shared,
            default: Policy::new("default", settings.default),
            auth: Policy::new("auth", settings.auth),
            principal: Policy::new("principal", settings.principal),
            trusted_proxies: settings.trusted_proxies.clone(),
        })
    }

    /// Whether allowances are shared with other instances (each check then
    /// costs a round trip, so a caller should make one check per request).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// The client's address: the peer, or behind trusted proxies the
    /// nearest address they forwarded for.
    pub fn client_address(&self, parts: &Parts) -> IpAddr {
        address::client_address(&self.trusted_proxies, parts)
    }

    /// Takes the request from the client address's allowance for the
    /// operation's class and from the principal's, whichever are given, in
    /// that order, stopping at the first refusal: one round trip when
    /// shared.
    pub async fn admit(
        &self,
        ctx: &RequestContext,
        address: Option<IpAddr>,
        principal: Option<Uuid>,
    ) -> Result<(), Problem> {
        let class = if ctx.operation.rate_limit == "auth" {
            &self.auth
        } else {
            &self.default
        };
        let checks = [
            address.map(|address| (class, Key::Address(address))),
            principal.map(|principal| (&self.principal, Key::Principal(principal))),
        ];
        let checks = checks.iter().flatten();
        if let Some(shared) = &self.shared {
            let takes: Vec<Take> = checks
                .clone()
                .map(|(policy, key)| Take {
                    key: format!("{}:rl:{}:{key}", shared.prefix, policy.name),
                    interval_micros: policy.limit.window.as_secs_f64() * 1e6
                        / f64::from(policy.limit.requests.get()),
                    burst: policy.limit.requests.get(),
                })
                .collect();
            if let Some(verdicts) = shared.take(&takes).await {
                for ((policy, _), verdict) in checks.zip(verdicts) {
                    publish(ctx, policy, verdict)?;
                }
                return Ok(());
            }
        }
        for (policy, key) in checks {
            let verdict = match key {
                Key::Address(address) => self.local.address(policy.name, *address),
                Key::Principal(principal) => self.local.principal(*principal),
            };
            publish(ctx, policy, verdict)?;
        }
        Ok(())
    }

    /// Clients currently tracked by the local limiters.
    pub fn tracked(&self) -> usize {
        self.local.tracked()
    }

    /// Forgets clients whose local allowance is full again (run periodically).
    pub fn forget_idle(&self) {
        self.local.forget_idle();
    }
}

/// What an allowance is kept by.
#[derive(Debug, Clone, Copy)]
enum Key {
    Address(IpAddr),
    Principal(Uuid),
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Address(address) => write!(f, "{address}"),
            Key::Principal(principal) => write!(f, "{principal}"),
        }
    }
}

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Adds the policy's fields to the response; a refusal is a 429 problem.
fn publish(ctx: &RequestContext, policy: &Policy, verdict: Verdict) -> Result<(), Problem> {
    let (remaining, reset) = match verdict {
        Verdict::Unlimited => return Ok(()),
        Verdict::Allowed {
            remaining,
            reset_seconds,
        } => (remaining, reset_seconds),
        Verdict::Refused { retry_seconds } => (0, retry_seconds),
    };
    if let Some(field) = &policy.field {
        ctx.add_response_header(RATELIMIT_POLICY, field.clone());
    }
    if let Ok(value) =
        HeaderValue::from_str(&format!("\"{}\";r={remaining};t={reset}", policy.name))
    {
        ctx.add_response_header(RATELIMIT, value);
    }
    match verdict {
        Verdict::Refused { retry_seconds } => {
            Err(Problem::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
                .with_title("Too many requests")
                .with_detail(format!(
                    "Rate limit `{}` exceeded; retry in {retry_seconds} s.",
                    policy.name
                ))
                .with_header(header::RETRY_AFTER, HeaderValue::from(retry_seconds)))
        }
        _ => Ok(()),
    }
}
