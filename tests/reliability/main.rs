//! The reliability suite, fast part (runs in CI with `cargo test`): crashes
//! at random moments, a fault at every kernel operation, look-alike objects
//! that are not the lab's, concurrent runs, vnet's own files, and long
//! up/down cycles. Every case runs in its own sandbox and is judged on the
//! kernel's state as iproute2 reads it. The long runs, with figures, are
//! `bench/chaos.sh`.

#[macro_use]
#[path = "../sandbox/mod.rs"]
mod sandbox;

mod concurrency;
mod crash;
mod cycles;
mod faults;
mod files;
mod foreign;
mod state;

use sandbox::Sandbox;

/// Write the mixed lab (`bench/mixed.py N PREFIX BASE`) into the sandbox;
/// returns its path and the lab's name.
pub fn mixed_lab(sb: &Sandbox, nodes: usize, prefix: &str, base: u32) -> (String, String) {
    let path = format!("/run/t/{prefix}mixed{nodes}.yaml");
    sb.sh(&format!(
        "mkdir -p /run/t && python3 bench/mixed.py {nodes} '{prefix}' {base} > {path}"
    ))
    .ok();
    (path, format!("{prefix}mixed{nodes}"))
}

/// Random numbers for moments and orders: seeded from the clock, printed,
/// and taken from VNET_SEED when set, so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(what: &str) -> Rng {
        let seed = std::env::var("VNET_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("{what}: VNET_SEED={seed}");
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Run `vnet up PATH` and measure how long it takes (seconds).
pub fn timed_up(sb: &Sandbox, path: &str) -> f64 {
    let t = std::time::Instant::now();
    sb.vnet(&format!("up -q {path}")).ok();
    t.elapsed().as_secs_f64()
}
