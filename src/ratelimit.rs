//! Rate limiting with GCRA (governor): per client address before
//! authentication, per user or API key after it, with a stricter class for
//! the operations the spec marks `x-rate-limit: auth` (login, registration,
//! token refresh). Responses carry the IETF `RateLimit-Policy` and `RateLimit`
//! fields; a refusal is a 429 problem with `Retry-After`.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

use charter_runtime::{Problem, RequestContext};

/// How many requests a client may make in a window, e.g. `600/60`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub requests: NonZeroU32,
    pub window: Duration,
}

impl FromStr for Limit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (requests, seconds) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not REQUESTS/SECONDS"))?;
        let requests: u32 = requests
            .trim()
            .parse()
            .map_err(|_| format!("`{requests}` is not a number of requests"))?;
        let seconds: u64 = seconds
            .trim()
            .parse()
            .map_err(|_| format!("`{seconds}` is not a number of seconds"))?;
        let requests =
            NonZeroU32::new(requests).ok_or("the number of requests must be positive")?;
        if seconds == 0 {
            return Err("the window must be at least one second".to_owned());
        }
        Ok(Limit {
            requests,
            window: Duration::from_secs(seconds),
        })
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.requests, self.window.as_secs())
    }
}

impl Limit {
    fn quota(self) -> Quota {
        // `requests` per `window`, all of which may come at once.
        let period = self.window / self.requests.get();
        Quota::with_period(period.max(Duration::from_nanos(1)))
            .map(|q| q.allow_burst(self.requests))
            .unwrap_or_else(|| Quota::per_second(self.requests))
    }
}

/// A network (address and prefix length) whose peers are trusted proxies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("`{address}` is not an IP address"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{prefix}` is not a prefix length up to {max}"))?,
            None => max,
        };
        Ok(Network { address, prefix })
    }
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Rate-limit settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Operations without `x-rate-limit`, per client address.
    pub default: Limit,
    /// Operations marked `x-rate-limit: auth`, per client address.
    pub auth: Limit,
    /// Every authenticated request, per user or API key.
    pub principal: Limit,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers are believed.
    pub trusted_proxies: Vec<Network>,
    /// Most clients tracked per limiter; beyond it new clients share one
    /// bucket, so memory stays bounded however many addresses appear.
    pub max_tracked: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default: Limit {
                requests: NonZeroU32::new(600).unwrap_or(NonZeroU32::MIN),
                window: Duration::from_secs(60),
            },
            auth: Limit {
                requests: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
                window: Duration::from_secs(60),
            },
            principal: Limit {
                requests: NonZeroU32::new(600).unwrap_or(NonZeroU32::MIN),
                window: Duration::from_secs(60),
            },
            trusted_proxies: Vec::new(),
            max_tracked: 100_000,
        }
    }
}

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// One keyed GCRA limiter with the policy it publishes.
struct Bucket<K: Hash + Eq + Clone> {
    policy: &'static str,
    limit: Limit,
    limiter: Keyed<K>,
    overflow: K,
    max_tracked: usize,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    fn new(policy: &'static str, limit: Limit, overflow: K, max_tracked: usize) -> Self {
        Bucket {
            policy,
            limit,
            limiter: RateLimiter::dashmap(limit.quota())
                .with_middleware::<StateInformationMiddleware>(),
            overflow,
            max_tracked,
        }
    }

    /// Takes one request from `key`'s allowance.
    fn check(&self, key: K, ctx: &RequestContext) -> Result<(), Problem> {
        let key = if self.limiter.len() >= self.max_tracked {
            // Drop idle clients first; if it is still full, a new client
            // shares the overflow bucket instead of growing the table.
            self.limiter.retain_recent();
            if self.limiter.len() >= self.max_tracked {
                self.overflow.clone()
            } else {
                key
            }
        } else {
            key
        };
        let policy = format!(
            "\"{}\";q={};w={}",
            self.policy,
            self.limit.requests,
            self.limit.window.as_secs()
        );
        match self.limiter.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = self.limit.requests.get().saturating_sub(remaining);
                let reset = self.limit.window.as_secs_f64() * f64::from(used)
                    / f64::from(self.limit.requests.get());
                add(ctx, &policy, self.policy, remaining, reset.ceil() as u64);
                Ok(())
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let seconds = seconds.max(1);
                add(ctx, &policy, self.policy, 0, seconds);
                Err(Problem::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
                    .with_title("Too many requests")
                    .with_detail(format!(
                        "Rate limit `{}` exceeded; retry in {seconds} s.",
                        self.policy
                    ))
                    .with_header(header::RETRY_AFTER, HeaderValue::from(seconds)))
            }
        }
    }

    fn tracked(&self) -> usize {
        self.limiter.len()
    }

    fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

fn add(ctx: &RequestContext, policy: &str, name: &str, remaining: u32, reset: u64) {
    if let Ok(value) = HeaderValue::from_str(policy) {
        ctx.add_response_header(RATELIMIT_POLICY, value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("\"{name}\";r={remaining};t={reset}")) {
        ctx.add_response_header(RATELIMIT, value);
    }
}

/// All limiters of the service.
pub struct RateLimits {
    by_address: HashMap<&'static str, Bucket<IpAddr>>,
    by_principal: Bucket<Uuid>,
    trusted_proxies: Vec<Network>,
}

impl RateLimits {
    pub fn new(settings: &Settings) -> Self {
        let unspecified = IpAddr::from([0, 0, 0, 0]);
        let mut by_address = HashMap::new();
        by_address.insert(
            "default",
            Bucket::new(
                "default",
                settings.default,
                unspecified,
                settings.max_tracked,
            ),
        );
        by_address.insert(
            "auth",
            Bucket::new("auth", settings.auth, unspecified, settings.max_tracked),
        );
        RateLimits {
            by_address,
            by_principal: Bucket::new(
                "principal",
                settings.principal,
                Uuid::nil(),
                settings.max_tracked,
            ),
            trusted_proxies: settings.trusted_proxies.clone(),
        }
    }

    /// Before authentication: the client address's allowance for the
    /// operation's class.
    pub fn admit_address(&self, ctx: &RequestContext, parts: &Parts) -> Result<(), Problem> {
        let bucket = self
            .by_address
            .get(ctx.operation.rate_limit)
            .or_else(|| self.by_address.get("default"));
        match bucket {
            Some(bucket) => bucket.check(self.client_address(parts), ctx),
            None => Ok(()),
        }
    }

    /// After authentication: the user's or API key's allowance.
    pub fn admit_principal(&self, ctx: &RequestContext, key: Uuid) -> Result<(), Problem> {
        self.by_principal.check(key, ctx)
    }

    /// The client's address: the peer, unless the peer is a trusted proxy,
    /// in which case the nearest untrusted address it forwarded for.
    pub fn client_address(&self, parts: &Parts) -> IpAddr {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
        if !self.is_trusted(peer) {
            return peer;
        }
        // Walk the chain from the nearest hop; the first untrusted hop is
        // the client as far as anyone trustworthy can tell.
        let chain = forwarded_chain(&parts.headers);
        chain
            .into_iter()
            .rev()
            .find(|ip| !self.is_trusted(*ip))
            .unwrap_or(peer)
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(ip))
    }

    /// Clients currently tracked, over all limiters.
    pub fn tracked(&self) -> usize {
        self.by_address.values().map(Bucket::tracked).sum::<usize>() + self.by_principal.tracked()
    }

    /// Forgets clients whose allowance is full again (run periodically).
    pub fn forget_idle(&self) {
        for bucket in self.by_address.values() {
            bucket.forget_idle();
        }
        self.by_principal.forget_idle();
    }
}

/// Addresses from `Forwarded: for=` (RFC 7239) or else `X-Forwarded-For`,
/// nearest hop last.
fn forwarded_chain(headers: &axum::http::HeaderMap) -> Vec<IpAddr> {
    let forwarded: Vec<IpAddr> = headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                if !key.eq_ignore_ascii_case("for") {
                    return None;
                }
                parse_node(value.trim().trim_matches('"'))
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| parse_node(item.trim()))
        .collect()
}

/// An address as forwarding headers write it: `1.2.3.4`, `1.2.3.4:80`,
/// `[::1]`, `[::1]:80`.
fn parse_node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    text.parse::<SocketAddr>().ok().map(|s| s.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_networks_parse() {
        assert_eq!(
            "10/60".parse::<Limit>().map(|l| l.to_string()),
            Ok("10/60".to_owned())
        );
        assert!("0/60".parse::<Limit>().is_err());
        assert!("10/0".parse::<Limit>().is_err());
        assert!("ten".parse::<Limit>().is_err());
        let net: Network = "10.0.0.0/8".parse().unwrap_or(Network {
            address: IpAddr::from([0, 0, 0, 0]),
            prefix: 32,
        });
        assert!(net.contains("10.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(!net.contains("11.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(
            net.contains(
                "::ffff:10.0.0.1"
                    .parse()
                    .unwrap_or(IpAddr::from([0, 0, 0, 0]))
            )
        );
        assert!("300.0.0.0/8".parse::<Network>().is_err());
        assert!("10.0.0.0/33".parse::<Network>().is_err());
    }

    #[test]
    fn forwarding_headers_are_read_nearest_last() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, 10.0.0.2"),
        );
        assert_eq!(
            forwarded_chain(&headers),
            vec![IpAddr::from([203, 0, 113, 7]), IpAddr::from([10, 0, 0, 2])]
        );
        headers.insert(
            header::FORWARDED,
            HeaderValue::from_static("for=\"[2001:db8::1]:4711\", for=198.51.100.9;proto=https"),
        );
        assert_eq!(
            forwarded_chain(&headers),
            vec![
                "2001:db8::1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
                IpAddr::from([198, 51, 100, 9])
            ]
        );
    }
}
