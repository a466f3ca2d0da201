//! When a request is sent again: a 429 or 503 answer, honouring its
//! `Retry-After`, for a request that is safe to repeat, within a bound on
//! attempts and on total time.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};

/// How the client retries a request the server asked it to repeat later
/// (429 Too Many Requests, 503 Service Unavailable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all, the first included; 1 never retries.
    pub max_attempts: u32,
    /// No retry starts later than this after the first attempt.
    pub max_total: Duration,
    /// The longest single wait; an answer asking for more is returned as is.
    pub max_delay: Duration,
}

impl Default for Retry {
    /// Three attempts within 20 s, waiting at most 10 s at a time.
    fn default() -> Self {
        Retry {
            max_attempts: 3,
            max_total: Duration::from_secs(20),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl Retry {
    /// Every answer is returned as it comes.
    pub fn never() -> Self {
        Retry {
            max_attempts: 1,
            ..Retry::default()
        }
    }

    /// How long to wait before attempt `attempt + 1`, or `None` to return
    /// the answer: not a status that invites a retry, a request not safe to
    /// repeat, or a wait beyond the bounds.
    pub(crate) fn delay(
        &self,
        attempt: u32,
        started: Instant,
        request: (&Method, &HeaderMap),
        status: StatusCode,
        answer: &HeaderMap,
    ) -> Option<Duration> {
        if !matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) || !safe_to_repeat(request.0, request.1)
            || attempt >= self.max_attempts
        {
            return None;
        }
        let wait = retry_after(answer).unwrap_or_else(|| backoff(attempt));
        let fits = wait <= self.max_delay && started.elapsed() + wait <= self.max_total;
        fits.then_some(wait)
    }
}

/// GET, HEAD, PUT, DELETE and OPTIONS are idempotent by definition (RFC 9110
/// §9.2.2); a POST or PATCH is repeated only under an `Idempotency-Key`,
/// which makes the server answer a repeat with the first answer.
pub(crate) fn safe_to_repeat(method: &Method, headers: &HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    ) || headers.contains_key("idempotency-key")
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let from_now = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(from_now.to_std().unwrap_or(Duration::ZERO))
}

/// Without `Retry-After`: 0.5 s, 1 s, 2 s, ... with up to 50 % jitter, so
/// that clients refused together do not return together.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(500).saturating_mul(1 << attempt.saturating_sub(1).min(10));
    base.mul_f64(1.0 + rand::random::<f64>() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn answer(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(retry_after).unwrap());
        headers
    }

    fn keyed() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("idempotency-key", HeaderValue::from_static("k1"));
        headers
    }

    #[test]
    fn repeats_only_what_is_safe_to_repeat() {
        let none = HeaderMap::new();
        for method in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
            assert!(safe_to_repeat(&method, &none), "{method}");
        }
        assert!(!safe_to_repeat(&Method::POST, &none));
        assert!(!safe_to_repeat(&Method::PATCH, &none));
        assert!(safe_to_repeat(&Method::POST, &keyed()));
    }

    #[test]
    fn waits_as_asked_within_bounds() {
        let retry = Retry::default();
        let now = Instant::now();
        let get = (&Method::GET, &HeaderMap::new());
        let status = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(
            retry.delay(1, now, get, status, &answer("2")),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry.delay(1, now, get, StatusCode::SERVICE_UNAVAILABLE, &answer("1")),
            Some(Duration::from_secs(1))
        );
        // Beyond the single wait, the total, or the attempts: no retry.
        assert_eq!(retry.delay(1, now, get, status, &answer("11")), None);
        assert_eq!(retry.delay(3, now, get, status, &answer("1")), None);
        let late = now - Duration::from_secs(19);
        assert_eq!(retry.delay(1, late, get, status, &answer("2")), None);
        // Other statuses and unsafe requests: no retry.
        assert_eq!(
            retry.delay(1, now, get, StatusCode::BAD_GATEWAY, &answer("1")),
            None
        );
        let post = (&Method::POST, &HeaderMap::new());
        assert_eq!(retry.delay(1, now, post, status, &answer("1")), None);
        assert_eq!(
            Retry::never().delay(1, now, get, status, &answer("1")),
            None
        );
    }

    #[test]
    fn reads_an_http_date_and_backs_off_without_one() {
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc2822();
        let wait = retry_after(&answer(&soon)).unwrap();
        assert!(wait <= Duration::from_secs(3) && wait >= Duration::from_secs(1));
        assert_eq!(retry_after(&answer("soon")), None);
        let first = backoff(1);
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_millis(750));
        let third = backoff(3);
        assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(3));
    }
}
