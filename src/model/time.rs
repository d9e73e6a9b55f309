//! Time as milliseconds since the Unix epoch, rendered as RFC 3339 with milliseconds
//! (`2026-11-22T10:30:00.000Z`), the form the contract shows.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in ms since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `2026-11-22T10:30:00.000Z`.
pub fn format_ms(ms: u64) -> String {
    match jiff::Timestamp::from_millisecond(ms as i64) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => String::from("1970-01-01T00:00:00.000Z"),
    }
}

/// Parse an RFC 3339 timestamp (any offset) into ms since the epoch.
pub fn parse_rfc3339_ms(s: &str) -> Option<u64> {
    let ts: jiff::Timestamp = s.parse().ok()?;
    u64::try_from(ts.as_millisecond()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_and_z() {
        assert_eq!(format_ms(1_795_343_400_123), "2026-11-22T10:30:00.123Z");
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        assert_eq!(
            parse_rfc3339_ms("2026-11-22T10:30:00.123Z"),
            Some(1_795_343_400_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-22T11:30:00+01:00"),
            Some(1_795_343_400_000)
        );
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }
}
