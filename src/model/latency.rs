//! A fixed log-scale latency histogram: 80 bins, four per doubling, so any attempt
//! duration from 1 ms to about 12 minutes lands in a bin at most 19 % wide. Percentiles
//! read from it are within that bin's width of the exact value, whatever the volume, and
//! two histograms add bin by bin (hourly buckets sum into windows).

/// How many bins a histogram has.
pub const LATENCY_BINS: usize = 80;

/// The bin of a duration: 0 for 0 ms; bin `k ≥ 1` holds `[2^((k-1)/4), 2^(k/4))` ms; the
/// last bin also holds everything longer.
pub fn latency_bin(ms: u64) -> usize {
    if ms == 0 {
        return 0;
    }
    let k = ((ms as f64).log2() * 4.0).floor() as usize + 1;
    k.min(LATENCY_BINS - 1)
}

/// The value a bin stands for: the geometric middle of its bounds, in whole ms.
pub fn bin_value_ms(bin: usize) -> u64 {
    if bin == 0 {
        return 0;
    }
    (2f64.powf((bin as f64 - 0.5) / 4.0)).round() as u64
}

/// The `p`-quantile (0 < p ≤ 1) of the durations counted in `hist`; `None` when empty.
pub fn percentile_ms(hist: &[u64], p: f64) -> Option<u64> {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    // The smallest value with at least p of all values at or below it.
    let rank = ((p * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    for (bin, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(bin_value_ms(bin));
        }
    }
    hist.len().checked_sub(1).map(bin_value_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_a_fifth_of_a_doubling_wide_and_cover_zero_to_minutes() {
        assert_eq!(latency_bin(0), 0);
        assert_eq!(latency_bin(1), 1);
        assert_eq!(latency_bin(2), 5);
        assert_eq!(latency_bin(u64::MAX), LATENCY_BINS - 1);
        for ms in [1u64, 3, 12, 100, 999, 4_321, 30_000, 300_000] {
            let v = bin_value_ms(latency_bin(ms)) as f64;
            let err = (v - ms as f64).abs() / ms as f64;
            assert!(err <= 0.2, "{ms} ms reads as {v} ms");
        }
    }

    #[test]
    fn percentiles_come_from_the_counts() {
        let mut hist = vec![0u64; LATENCY_BINS];
        assert_eq!(percentile_ms(&hist, 0.5), None);
        for _ in 0..90 {
            hist[latency_bin(10)] += 1;
        }
        for _ in 0..10 {
            hist[latency_bin(1_000)] += 1;
        }
        assert_eq!(
            percentile_ms(&hist, 0.5),
            Some(bin_value_ms(latency_bin(10)))
        );
        assert_eq!(
            percentile_ms(&hist, 0.9),
            Some(bin_value_ms(latency_bin(10)))
        );
        assert_eq!(
            percentile_ms(&hist, 0.95),
            Some(bin_value_ms(latency_bin(1_000)))
        );
    }
}
