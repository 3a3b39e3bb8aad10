//! Memory and file descriptors: hundreds of up/down cycles of a small lab
//! in one process (the library, as a long-lived program would use it),
//! with its resident memory, open descriptors, threads and the sandbox's
//! mounts sampled after a warm-up and at the end. The test binary runs
//! itself inside the sandbox for this (an in-process loop must be in the
//! sandbox's namespaces from the start). VNET_CYCLES sets the count
//! (default 200; `bench/chaos.sh` runs 1000).

use std::sync::atomic::AtomicBool;

use crate::sandbox::Sandbox;

use vnet::engine::{Hooks, down, up};

/// The process's figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    rss_kib: u64,
    fds: usize,
    threads: u64,
    mounts: usize,
}

fn status_field(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn sample() -> Sample {
    Sample {
        rss_kib: status_field("VmRSS:"),
        fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count()),
        threads: status_field("Threads:"),
        mounts: std::fs::read_to_string("/proc/self/mountinfo").map_or(0, |m| m.lines().count()),
    }
}

/// The loop itself; run only inside the sandbox, by the test below.
pub fn cycles_child() {
    let cycles: usize = std::env::var("VNET_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(200);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/seed-bridge.yaml");
    let lab = vnet::model::parse_lab(path, &std::fs::read_to_string(path).unwrap()).unwrap();
    let cancel = AtomicBool::new(false);
    let opts = up::UpOptions::default();
    let warm_up = 20.min(cycles);
    let mut first = None;
    let mut warm = None;
    // RSS after each further quarter of the run: flat, or growing?
    let mut quarters = Vec::new();
    let quarter = (cycles - warm_up).div_ceil(4).max(1);
    let started = std::time::Instant::now();
    for i in 0..cycles {
        if i == 0 {
            first = Some(sample());
        }
        if i == warm_up {
            warm = Some(sample());
        }
        if i > warm_up && (i - warm_up).is_multiple_of(quarter) {
            quarters.push(format!("{} → ", sample().rss_kib));
        }
        up::up(&lab, &opts, &Hooks::silent(), &cancel)
            .unwrap_or_else(|e| panic!("cycle {i}: up: {e}"));
        down::down(&lab.name, &Hooks::silent(), true)
            .unwrap_or_else(|e| panic!("cycle {i}: down: {e}"));
    }
    let end = sample();
    let (first, warm) = (first.unwrap(), warm.unwrap_or(end));
    println!(
        "CYCLES {cycles} up/down cycles in {:.1} s: rss {} → {} → {}{} KiB (at the start, after {warm_up}, then each quarter), fds {} → {} → {}, threads {} → {} → {}, mounts {} → {} → {}",
        started.elapsed().as_secs_f64(),
        first.rss_kib,
        warm.rss_kib,
        quarters.concat(),
        end.rss_kib,
        first.fds,
        warm.fds,
        end.fds,
        first.threads,
        warm.threads,
        end.threads,
        first.mounts,
        warm.mounts,
        end.mounts,
    );
    assert_eq!(
        (warm.fds, warm.threads, warm.mounts),
        (end.fds, end.threads, end.mounts)
    );
    // Flat: the allocator may keep a little more, never a share per cycle.
    assert!(end.rss_kib <= warm.rss_kib + 1024, "{warm:?} → {end:?}");
}

pub fn in_process_cycles_keep_memory_fds_and_mounts_flat() {
    let sb = Sandbox::new();
    let me = std::env::current_exe().unwrap();
    let out = sb
        .sh_env(
            "\"$ME\" --ignored --exact cycles::cycles_child --nocapture --test-threads=1",
            &[("ME", me.to_str().unwrap())],
        )
        .ok();
    let line = out
        .stdout
        .lines()
        .find_map(|l| l.split_once("CYCLES ").map(|(_, figures)| figures))
        .unwrap_or_else(|| panic!("{}{}", out.stdout, out.stderr));
    eprintln!("reliability: memory: {line}");
    assert!(sb.netns().is_empty());
    assert_eq!(sb.links(""), ["lo"]);
}
