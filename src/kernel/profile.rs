//! `VNET_PROFILE=1`: each phase of an operation on stderr with its time and
//! the process's resident memory, for benchmarks and the curious.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("VNET_PROFILE").is_some_and(|v| v != "0"))
}

fn start() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Note that a phase ended.
pub(crate) fn mark(phase: &str) {
    if enabled() {
        let t = start().elapsed().as_secs_f64() * 1000.0;
        eprintln!("profile: {t:9.1} ms  rss {:6} KiB  {phase}", rss_kib());
    }
}
