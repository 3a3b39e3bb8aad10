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

fn main() -> std::process::ExitCode {
    sandbox::harness::run(vec![
        kernel!(concurrency::four_labs_in_parallel_rounds_are_each_whole_and_leave_nothing),
        kernel!(concurrency::the_same_lab_twice_at_once_waits_or_refuses_and_never_mixes),
        kernel!(concurrency::down_during_up_leaves_the_whole_lab_or_nothing),
        kernel!(concurrency::first_runs_at_once_make_run_netns_a_mount_point_once),
        kernel!(crash::a_killed_up_leaves_nothing_after_down_and_a_whole_lab_after_up),
        kernel!(crash::a_killed_down_is_finished_by_the_next_down_or_undone_by_up),
        child!(cycles::cycles_child),
        kernel!(cycles::in_process_cycles_keep_memory_fds_and_mounts_flat),
        kernel!(faults::a_fault_at_every_operation_of_up_rolls_back_to_nothing),
        kernel!(faults::a_fault_at_every_operation_of_down_is_named_and_the_next_down_finishes),
        kernel!(faults::a_reconcile_that_fails_anywhere_converges_on_the_next_up),
        kernel!(files::state_files_are_private_and_root_owned_whatever_the_umask),
        host_root!(
            files::a_state_directory_owned_by_someone_else_is_refused,
            "it gives /run/vnet to uid 65534, which is not mapped in a user namespace"
        ),
        kernel!(files::symlinks_planted_in_run_vnet_are_never_followed),
        kernel!(files::a_symlink_at_run_netns_is_refused_and_junk_inside_is_left_alone),
        kernel!(files::without_privilege_nothing_changes_and_nothing_is_created),
        kernel!(files::a_node_name_that_is_a_path_never_reaches_the_file_system),
        kernel!(foreign::look_alikes_are_refused_or_worked_around_and_never_touched),
    ])
}
