//! Allowances shared by every instance, kept in Redis. One request costs
//! one round trip: a Lua script (sent once, then run by its digest) takes
//! the request from each allowance it names, in order, atomically on the
//! server and by the server's clock, and stops at the first refusal. Keys
//! expire when their allowance is full again.
//!
//! When Redis does not answer within the configured timeout, the request
//! is judged by this process's own limiter instead, and for a second after
//! that every request is (so an outage costs each request nothing); a
//! counter says how many were, and a log line says when Redis was lost and
//! when it came back. Readiness does not depend on Redis.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use prometheus::IntCounter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Shared, Verdict};

/// GCRA over microseconds of the server's clock. KEYS: the allowances;
/// ARGV: per key, its emission interval (µs) and burst. Returns per key
/// taken: allowed (1/0), remaining, microseconds until full, microseconds
/// until allowed; nothing after the first refusal.
const GCRA: &str = r"
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local out = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local next_tat = tat + interval
  local allowed_at = next_tat - interval * burst
  if now < allowed_at then
    table.insert(out, 0)
    table.insert(out, 0)
    table.insert(out, tat - now)
    table.insert(out, allowed_at - now)
    return out
  end
  redis.call('SET', KEYS[i], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
  table.insert(out, 1)
  table.insert(out, math.floor((now + interval * burst - next_tat) / interval))
  table.insert(out, next_tat - now)
  table.insert(out, 0)
end
return out
";

/// How long every request is judged locally after Redis failed one.
const LOCAL_AFTER_FAILURE: Duration = Duration::from_secs(1);

pub struct SharedLimits {
    connection: ConnectionManager,
    script: redis::Script,
    timeout: Duration,
    pub prefix: String,
    fallbacks: IntCounter,
    local_until: Mutex<Option<Instant>>,
    lost: AtomicBool,
}

/// One allowance to take a request from.
pub struct Take {
    pub key: String,
    pub interval_micros: f64,
    pub burst: u32,
}

impl SharedLimits {
    /// Connects lazily: a Redis that is down at startup only means local
    /// limits until it is up.
    pub fn new(settings: &Shared, fallbacks: IntCounter) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(settings.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        Ok(SharedLimits {
            connection: ConnectionManager::new_lazy_with_config(client, config)?,
            script: redis::Script::new(GCRA),
            timeout: settings.timeout,
            prefix: settings.prefix.clone(),
            fallbacks,
            local_until: Mutex::new(None),
            lost: AtomicBool::new(false),
        })
    }

    /// The verdict of each allowance taken, in order, up to the first
    /// refusal; `None` when Redis did not answer (judge locally).
    pub async fn take(&self, takes: &[Take]) -> Option<Vec<Verdict>> {
        if self.judging_locally() {
            self.fallbacks.inc();
            return None;
        }
        let mut invocation = self.script.prepare_invoke();
        for take in takes {
            invocation.key(&take.key);
        }
        for take in takes {
            invocation
                .arg(format!("{:.3}", take.interval_micros))
                .arg(take.burst);
        }
        let mut connection = self.connection.clone();
        let answer = tokio::time::timeout(
            self.timeout,
            invocation.invoke_async::<Vec<i64>>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok(values)) => {
                if self.lost.swap(false, Ordering::Relaxed) {
                    tracing::warn!("Redis answers again: rate limits are shared across instances");
                }
                Some(values.chunks_exact(4).map(verdict).collect())
            }
            Ok(Err(error)) => {
                self.failed(&error.to_string());
                None
            }
            Err(_) => {
                self.failed("no answer within the timeout");
                None
            }
        }
    }

    fn judging_locally(&self) -> bool {
        let Ok(mut until) = self.local_until.lock() else {
            return false;
        };
        match *until {
            Some(at) if Instant::now() < at => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    fn failed(&self, why: &str) {
        self.fallbacks.inc();
        if let Ok(mut until) = self.local_until.lock() {
            *until = Some(Instant::now() + LOCAL_AFTER_FAILURE);
        }
        if !self.lost.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                reason = why,
                "Redis is unreachable: rate limits are kept per instance until it answers"
            );
        }
    }
}

fn verdict(values: &[i64]) -> Verdict {
    let seconds = |micros: i64| (micros.max(0) as u64).div_ceil(1_000_000);
    match values {
        [1, remaining, until_full, _] => Verdict::Allowed {
            remaining: u32::try_from(*remaining).unwrap_or(0),
            reset_seconds: seconds(*until_full),
        },
        [_, _, _, until_allowed] => Verdict::Refused {
            retry_seconds: seconds(*until_allowed).max(1),
        },
        _ => Verdict::Unlimited,
    }
}
