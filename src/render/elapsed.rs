//! How long something took, in the unit a person reads at a glance: a
//! small lab's `up` takes milliseconds, and "0.00 s" says nothing.

use std::time::Duration;

pub fn elapsed(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_unit() {
        assert_eq!(elapsed(Duration::from_micros(4_260)), "4.3 ms");
        assert_eq!(elapsed(Duration::from_micros(151_400)), "151 ms");
        assert_eq!(elapsed(Duration::from_millis(1_104)), "1.10 s");
    }
}
