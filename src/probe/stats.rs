//! Loss and round-trip figures the way iputils ping reports them (pure):
//! shared by `vnet ping`, the `--all --count N` matrix and `vnet perf`.

use serde::Serialize;

/// min/avg/max/mdev of round-trip times, in milliseconds. `mdev` is the
/// population standard deviation, as iputils computes it
/// (sqrt(mean of squares − square of mean)).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RttSummary {
    pub min: f64,
    pub avg: f64,
    pub max: f64,
    pub mdev: f64,
}

impl RttSummary {
    /// None when there is nothing to summarise (no reply came).
    pub fn of(rtts_ms: &[f64]) -> Option<RttSummary> {
        if rtts_ms.is_empty() {
            return None;
        }
        let n = rtts_ms.len() as f64;
        let sum: f64 = rtts_ms.iter().sum();
        let sum2: f64 = rtts_ms.iter().map(|r| r * r).sum();
        let avg = sum / n;
        // Rounding can make the difference a hair below zero.
        let mdev = (sum2 / n - avg * avg).max(0.0).sqrt();
        Some(RttSummary {
            min: rtts_ms.iter().copied().fold(f64::INFINITY, f64::min),
            avg,
            max: rtts_ms.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            mdev,
        })
    }

    /// "rtt min/avg/max/mdev = 0.045/0.061/0.078/0.013 ms", as iputils says it.
    pub fn line(&self) -> String {
        format!(
            "rtt min/avg/max/mdev = {:.3}/{:.3}/{:.3}/{:.3} ms",
            self.min, self.avg, self.max, self.mdev
        )
    }
}

/// The share of `sent` that did not come back, in percent (100 when nothing
/// was sent: nothing came back).
pub fn loss_percent(sent: u64, received: u64) -> f64 {
    if sent == 0 {
        return 100.0;
    }
    100.0 * sent.saturating_sub(received) as f64 / sent as f64
}

/// A number as C's `%g` prints it (six significant digits, no trailing
/// zeros): iputils prints packet loss so — `20%`, `33.3333%`, `0.5%`.
pub fn g(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let exp = v.abs().log10().floor() as i32;
    if !(-4..6).contains(&exp) {
        return format!("{v:e}");
    }
    let decimals = (5 - exp).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_summary_is_iputils_arithmetic() {
        assert_eq!(RttSummary::of(&[]), None);
        let s = RttSummary::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!((s.min, s.avg, s.max), (1.0, 2.5, 4.0));
        // Population deviation: sqrt((1+4+9+16)/4 - 2.5²) = sqrt(1.25).
        assert!((s.mdev - 1.25f64.sqrt()).abs() < 1e-12, "{}", s.mdev);
        let one = RttSummary::of(&[0.042]).unwrap();
        assert_eq!(one.mdev, 0.0);
        assert_eq!(
            one.line(),
            "rtt min/avg/max/mdev = 0.042/0.042/0.042/0.000 ms"
        );
    }

    #[test]
    fn loss_is_a_share_of_what_was_sent() {
        assert_eq!(loss_percent(50, 40), 20.0);
        assert_eq!(loss_percent(3, 3), 0.0);
        assert_eq!(loss_percent(0, 0), 100.0);
        assert_eq!(
            loss_percent(2, 5),
            0.0,
            "duplicates never make loss negative"
        );
    }

    #[test]
    fn percentages_print_like_printf_g() {
        assert_eq!(g(20.0), "20");
        assert_eq!(g(0.0), "0");
        assert_eq!(g(100.0), "100");
        assert_eq!(g(100.0 / 3.0), "33.3333");
        assert_eq!(g(0.5), "0.5");
        assert_eq!(g(2.0 / 3.0), "0.666667");
        assert_eq!(g(99.999_999), "100");
        assert_eq!(g(12.5), "12.5");
    }
}
