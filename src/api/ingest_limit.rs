//! The per-tenant ingest rate limit of `POST /api/events`: a token bucket per tenant
//! (governor), with the IETF `RateLimit-*` headers on every answer.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// `None` inside when the limit is 0 (unlimited).
pub struct IngestLimiter {
    limiter: Option<Keyed>,
    per_sec: u32,
}

/// What to tell the client.
pub struct Decision {
    pub allowed: bool,
    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (+ `Retry-After` when refused).
    pub headers: Vec<(&'static str, String)>,
}

impl IngestLimiter {
    /// `per_sec` events per second per tenant, bursts of up to two seconds' worth.
    pub fn new(per_sec: u32) -> IngestLimiter {
        let limiter = NonZeroU32::new(per_sec).map(|rate| {
            let burst = NonZeroU32::new(per_sec.saturating_mul(2)).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
                .with_middleware::<StateInformationMiddleware>()
        });
        IngestLimiter { limiter, per_sec }
    }

    /// Take one token for this tenant.
    pub fn check(&self, tenant_id: &str) -> Decision {
        let Some(limiter) = &self.limiter else {
            return Decision {
                allowed: true,
                headers: Vec::new(),
            };
        };
        let burst = self.per_sec.saturating_mul(2);
        match limiter.check_key(&tenant_id.to_string()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = burst.saturating_sub(remaining);
                // Seconds until the bucket is full again.
                let reset = (used as f64 / self.per_sec as f64).ceil() as u64;
                Decision {
                    allowed: true,
                    headers: vec![
                        ("ratelimit-limit", burst.to_string()),
                        ("ratelimit-remaining", remaining.to_string()),
                        ("ratelimit-reset", reset.to_string()),
                    ],
                }
            }
            Err(not_until) => {
                let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                Decision {
                    allowed: false,
                    headers: vec![
                        ("ratelimit-limit", burst.to_string()),
                        ("ratelimit-remaining", "0".into()),
                        ("ratelimit-reset", secs.to_string()),
                        ("retry-after", secs.to_string()),
                    ],
                }
            }
        }
    }

    /// Forget idle tenants' buckets (memory in proportion to active tenants).
    pub fn shrink(&self) {
        if let Some(l) = &self.limiter {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_burst_with_retry_after() {
        let l = IngestLimiter::new(2);
        let decisions: Vec<bool> = (0..6).map(|_| l.check("ten_a").allowed).collect();
        assert_eq!(decisions, vec![true, true, true, true, false, false]);
        let refused = l.check("ten_a");
        assert!(refused.headers.iter().any(|(k, _)| *k == "retry-after"));
        assert!(l.check("ten_b").allowed, "tenants have separate buckets");
    }
}
