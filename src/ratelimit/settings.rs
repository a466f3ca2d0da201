//! What the limits are: a number of requests per window, the networks of
//! trusted proxies, and where the allowance is kept.

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::Quota;

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
    pub(super) fn quota(self) -> Quota {
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
    /// Where instances share their allowances; `None` keeps them in this
    /// process.
    pub shared: Option<Shared>,
}

/// A Redis server holding the allowances of every instance.
#[derive(Clone)]
pub struct Shared {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Longest wait for Redis before a request is judged locally.
    pub timeout: Duration,
    /// Prefix of every key, so several deployments may share one server.
    pub prefix: String,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            // The URL may carry a password.
            .field("url", &"<set>")
            .field("timeout", &self.timeout)
            .field("prefix", &self.prefix)
            .finish()
    }
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
            shared: None,
        }
    }
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
}
