//! Crash anywhere: `vnet up` of a 50-node lab killed with SIGKILL at a
//! random moment. After it, `down` leaves the sandbox as if vnet never ran
//! (no namespace, interface, mount, state file or lock), and `up` again
//! leaves the lab exactly as a clean `up` does. (`bench/chaos.sh` does the
//! same 200 times on a 200-node lab.)

use crate::sandbox::Sandbox;
use crate::state::{self, differences};
use crate::{Rng, mixed_lab, timed_up};

/// Start `vnet up`, SIGKILL it after `delay` seconds; true when it was
/// still running then (false: it had finished first).
pub fn kill_up_after(sb: &Sandbox, path: &str, delay: f64) -> bool {
    let out = sb
        .sh(&format!(
            "\"$VNET\" up -q {path} >/dev/null 2>&1 & pid=$!; sleep {delay:.4}; kill -KILL $pid 2>/dev/null; wait $pid; echo rc=$?"
        ))
        .ok();
    out.stdout.contains("rc=137")
}

/// A number from the environment (the long runs of `bench/chaos.sh` set
/// them), or the CI default.
pub fn knob(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn a_killed_up_leaves_nothing_after_down_and_a_whole_lab_after_up() {
    let sb = Sandbox::new();
    let kills = knob("VNET_KILLS", 8);
    let (path, name) = mixed_lab(&sb, knob("VNET_CRASH_NODES", 50), "", 0);
    // What a clean `up` builds, and the sandbox once it is down again (the
    // first `up` makes /run/netns a shared mount point, as `ip netns add`
    // does; that mount is the machine's, not the lab's, and stays).
    let full = timed_up(&sb, &path);
    let whole = state::read(&sb);
    sb.vnet(&format!("down -q {name}")).ok();
    let base = state::read(&sb);
    assert!(base.netns.is_empty() && base.files.is_empty(), "{base:?}");

    let mut rng = Rng::new("crash");
    let (mut killed, mut whole_again) = (0, 0);
    let mut leaks = Vec::new();
    for i in 0..kills {
        let delay = rng.unit() * full * 1.2;
        killed += usize::from(kill_up_after(&sb, &path, delay));
        if i % 2 == 0 {
            sb.vnet(&format!("down -q {name}")).ok();
            let left = state::read(&sb).leaks(&base);
            if !left.is_empty() {
                leaks.push(format!("kill {i} after {delay:.3} s, then down: {left:?}"));
            }
        } else {
            sb.vnet(&format!("up -q {path}")).ok();
            let now = state::read(&sb);
            let diff = differences(&whole.shape(), &now.shape());
            // Whole: the same shape, the same files, and it forwards
            // (g1 reaches h1 through the router and both bridges).
            let pings = sb.pings("g1", "10.1.0.2");
            if diff.is_empty() && now.files == whole.files && pings {
                whole_again += 1;
            } else {
                leaks.push(format!(
                    "kill {i} after {delay:.3} s, then up: {diff:?}, files {:?}, ping {pings}",
                    now.files
                ));
            }
            sb.vnet(&format!("down -q {name}")).ok();
            let left = state::read(&sb).leaks(&base);
            if !left.is_empty() {
                leaks.push(format!("kill {i} after {delay:.3} s, up, down: {left:?}"));
            }
        }
    }
    eprintln!(
        "reliability: crash: {kills} SIGKILLs of `vnet up` of a {}-node lab ({killed} while it ran, at 0–{:.0} ms; a full up takes {:.0} ms); {} followed by down, {} by up again ({whole_again} whole); leaks found: {}/{kills}",
        whole.netns.len(),
        full * 1200.0,
        full * 1000.0,
        kills.div_ceil(2),
        kills / 2,
        leaks.len()
    );
    assert!(leaks.is_empty(), "{leaks:#?}");
}

pub fn a_killed_down_is_finished_by_the_next_down_or_undone_by_up() {
    let sb = Sandbox::new();
    let kills = knob("VNET_DOWN_KILLS", 4);
    let (path, name) = mixed_lab(&sb, knob("VNET_CRASH_NODES", 50), "", 0);
    sb.vnet(&format!("up -q {path}")).ok();
    let whole = state::read(&sb);
    let t = std::time::Instant::now();
    sb.vnet(&format!("down -q {name}")).ok();
    let full = t.elapsed().as_secs_f64();
    let base = state::read(&sb);
    let mut rng = Rng::new("crash in down");
    let mut leaks = Vec::new();
    for i in 0..kills {
        sb.vnet(&format!("up -q {path}")).ok();
        let delay = rng.unit() * full * 1.2;
        sb.sh(&format!(
            "\"$VNET\" down -q {name} >/dev/null 2>&1 & pid=$!; sleep {delay:.4}; kill -KILL $pid 2>/dev/null; wait $pid; true"
        ))
        .ok();
        if i % 2 == 1 {
            sb.vnet(&format!("up -q {path}")).ok();
            let diff = differences(&whole.shape(), &state::read(&sb).shape());
            if !diff.is_empty() || !sb.pings("g1", "10.1.0.2") {
                leaks.push(format!("kill {i} after {delay:.3} s, then up: {diff:?}"));
            }
        }
        sb.vnet(&format!("down -q {name}")).ok();
        let left = state::read(&sb).leaks(&base);
        if !left.is_empty() {
            leaks.push(format!("kill {i} after {delay:.3} s, then down: {left:?}"));
        }
    }
    eprintln!(
        "reliability: crash: {kills} SIGKILLs of `vnet down` (at 0–{:.0} ms), then down or up again: leaks found: {}/{kills}",
        full * 1200.0,
        leaks.len()
    );
    assert!(leaks.is_empty(), "{leaks:#?}");
}
