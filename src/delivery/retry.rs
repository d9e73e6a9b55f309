//! When to try again: the schedule, ±10 % jitter, and a receiver's `Retry-After`.
//!
//! Every result is bounded by [`super::MAX_TIMER_DELAY_MS`] and every sum saturates, whatever
//! the inputs: a receiver chooses its `Retry-After`, and a delay that overflowed would
//! either wrap into the past (a retry storm) or panic the scheduler's timer.

use rand::Rng;

use super::MAX_TIMER_DELAY_MS;

/// Delay before the attempt after attempt number `made` (1-based) failed, or `None` when
/// the schedule is exhausted (the delivery is `failed`). `retry_after` (from a 429/503) wins
/// when it is longer, bounded by `max_retry_after`. Never more than
/// [`MAX_TIMER_DELAY_MS`].
pub fn next_delay_ms(
    schedule: &[f64],
    made: u32,
    retry_after_secs: Option<f64>,
    max_retry_after_secs: f64,
) -> Option<u64> {
    let base = *schedule.get(made.checked_sub(1)? as usize)?;
    let jitter = rand::thread_rng().gen_range(0.9..=1.1);
    let mut delay = base * jitter;
    if let Some(ra) = retry_after_secs {
        delay = delay.max(ra.min(max_retry_after_secs));
    }
    // `as` saturates (and maps NaN and negatives to 0); the bound keeps timers valid.
    Some(((delay * 1000.0).round() as u64).min(MAX_TIMER_DELAY_MS))
}

/// When a retry `delay_ms` after `now_ms` is due, saturating instead of overflowing.
pub fn due_after(now_ms: u64, delay_ms: u64) -> u64 {
    now_ms.saturating_add(delay_ms.min(MAX_TIMER_DELAY_MS))
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<f64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs as f64);
    }
    let date = jiff::fmt::rfc2822::parse(value).ok()?;
    let at = date.timestamp().as_millisecond();
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    Some((at.saturating_sub(now).max(0) as f64) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_the_schedule_with_ten_percent_jitter() {
        let s = [60.0, 300.0];
        for _ in 0..100 {
            let d = next_delay_ms(&s, 1, None, 3600.0).unwrap();
            assert!((54_000..=66_000).contains(&d), "{d}");
        }
        assert!(next_delay_ms(&s, 2, None, 3600.0).is_some());
        assert_eq!(
            next_delay_ms(&s, 3, None, 3600.0),
            None,
            "schedule exhausted"
        );
    }

    #[test]
    fn longer_retry_after_wins_and_is_bounded() {
        let d = next_delay_ms(&[1.0], 1, Some(30.0), 3600.0).unwrap();
        assert_eq!(d, 30_000);
        let d = next_delay_ms(&[1.0], 1, Some(1e9), 120.0).unwrap();
        assert_eq!(d, 120_000);
        let d = next_delay_ms(&[100.0], 1, Some(1.0), 3600.0).unwrap();
        assert!(d >= 90_000);
    }

    #[test]
    fn huge_or_odd_inputs_give_a_bounded_delay_and_never_overflow() {
        let max = MAX_TIMER_DELAY_MS;
        let d = next_delay_ms(&[1.0], 1, Some(99_999_999_999.0), 1e300).unwrap();
        assert_eq!(d, max);
        assert_eq!(next_delay_ms(&[f64::MAX], 1, None, 0.0), Some(max));
        assert_eq!(
            next_delay_ms(&[1.0], 1, Some(f64::INFINITY), f64::INFINITY),
            Some(max)
        );
        assert_eq!(next_delay_ms(&[f64::NAN], 1, None, 0.0), Some(0));
        let huge = parse_retry_after("18446744073709551615", 0).unwrap();
        assert_eq!(next_delay_ms(&[1.0], 1, Some(huge), huge), Some(max));
        assert_eq!(due_after(u64::MAX - 5, 10), u64::MAX);
        assert_eq!(due_after(1_000, u64::MAX), 1_000 + max);
    }

    #[test]
    fn retry_after_dates_far_away_do_not_overflow() {
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 10:30:10 GMT", u64::MAX),
            Some(0.0)
        );
        let far = parse_retry_after("Thu, 30 Dec 9999 00:00:00 GMT", 0).unwrap();
        assert!(far > 2.5e11, "{far}");
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("7", 0), Some(7.0));
        let now = 1_795_343_400_000; // 2026-11-22T10:30:00Z
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 10:30:10 GMT", now),
            Some(10.0)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
