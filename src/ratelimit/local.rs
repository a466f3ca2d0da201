//! Allowances kept in this process: one keyed GCRA limiter (governor) per
//! policy, bounded in the number of clients it tracks.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use governor::RateLimiter;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use uuid::Uuid;

use super::{Limit, Settings, Verdict};

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// One keyed GCRA limiter.
struct Bucket<K: Hash + Eq + Clone> {
    limit: Limit,
    limiter: Keyed<K>,
    overflow: K,
    max_tracked: usize,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    fn new(limit: Limit, overflow: K, max_tracked: usize) -> Self {
        Bucket {
            limit,
            limiter: RateLimiter::dashmap(limit.quota())
                .with_middleware::<StateInformationMiddleware>(),
            overflow,
            max_tracked,
        }
    }

    /// Takes one request from `key`'s allowance.
    fn check(&self, key: K) -> Verdict {
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
        match self.limiter.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = self.limit.requests.get().saturating_sub(remaining);
                let reset = self.limit.window.as_secs_f64() * f64::from(used)
                    / f64::from(self.limit.requests.get());
                Verdict::Allowed {
                    remaining,
                    reset_seconds: reset.ceil() as u64,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Verdict::Refused {
                    retry_seconds: seconds.max(1),
                }
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

/// Every allowance of this process: per address and class, per principal.
pub struct LocalLimits {
    by_address: HashMap<&'static str, Bucket<IpAddr>>,
    by_principal: Bucket<Uuid>,
}

impl LocalLimits {
    pub fn new(settings: &Settings) -> Self {
        let unspecified = IpAddr::from([0, 0, 0, 0]);
        let mut by_address = HashMap::new();
        for (class, limit) in [("default", settings.default), ("auth", settings.auth)] {
            by_address.insert(class, Bucket::new(limit, unspecified, settings.max_tracked));
        }
        LocalLimits {
            by_address,
            by_principal: Bucket::new(settings.principal, Uuid::nil(), settings.max_tracked),
        }
    }

    pub fn address(&self, class: &'static str, address: IpAddr) -> Verdict {
        match self.by_address.get(class) {
            Some(bucket) => bucket.check(address),
            None => Verdict::Unlimited,
        }
    }

    pub fn principal(&self, key: Uuid) -> Verdict {
        self.by_principal.check(key)
    }

    /// Clients currently tracked, over all limiters.
    pub fn tracked(&self) -> usize {
        self.by_address.values().map(Bucket::tracked).sum::<usize>() + self.by_principal.tracked()
    }

    /// Forgets clients whose allowance is full again.
    pub fn forget_idle(&self) {
        for bucket in self.by_address.values() {
            bucket.forget_idle();
        }
        self.by_principal.forget_idle();
    }
}
