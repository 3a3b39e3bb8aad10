//! Fail anywhere: `VNET_FAULT_AT=k` makes the k-th kernel operation fail.
//! For every k of a bring-up, `up` says which step failed and rolls back to
//! nothing; for every k of a `down`, what is left is named and the next
//! `down` removes it; a reconcile that fails converges on the next `up`.

use crate::crash::knob;
use crate::mixed_lab;
use crate::sandbox::Sandbox;
use crate::state::{self, differences};

/// Kernel operations `vnet ARGS` performs (VNET_FAULT_COUNT), run for real.
pub fn operations(sb: &Sandbox, args: &str) -> u64 {
    let out = sb
        .sh_env(&format!("\"$VNET\" {args}"), &[("VNET_FAULT_COUNT", "1")])
        .ok();
    out.stderr
        .lines()
        .find_map(|l| l.strip_prefix("vnet: kernel operations: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count in: {}", out.stderr))
}

fn with_fault(sb: &Sandbox, args: &str, k: u64) -> crate::sandbox::Out {
    sb.sh_env(
        &format!("\"$VNET\" {args}"),
        &[("VNET_FAULT_AT", &k.to_string())],
    )
}

pub fn a_fault_at_every_operation_of_up_rolls_back_to_nothing() {
    let sb = Sandbox::new();
    let (path, name) = mixed_lab(&sb, knob("VNET_FAULT_NODES", 6), "", 0);
    let total = operations(&sb, &format!("up -q {path}"));
    let whole = state::read(&sb).shape();
    sb.vnet(&format!("down -q {name}")).ok();
    let base = state::read(&sb);
    assert!(total > 20, "{total} operations");
    for k in 1..=total {
        let out = with_fault(&sb, &format!("up -q {path}"), k);
        let err = &out.stderr;
        assert_eq!(out.code, 1, "k={k}: {}{err}", out.stdout);
        assert!(
            err.contains(&format!("fault injected at kernel operation {k} ")),
            "k={k}: {err}"
        );
        assert!(
            err.contains(" failed: ") && err.contains("\n  step: "),
            "k={k}: names the step: {err}"
        );
        assert!(
            err.contains("rolled back: nothing of this run is left"),
            "k={k}: {err}"
        );
        let leaks = state::read(&sb).leaks(&base);
        assert!(leaks.is_empty(), "k={k}: {err}\n{leaks:#?}");
    }
    // Past the last operation nothing fails: the lab comes up whole.
    with_fault(&sb, &format!("up -q {path}"), total + 1).ok();
    assert!(differences(&whole, &state::read(&sb).shape()).is_empty());
    eprintln!(
        "reliability: faults in up of a {}-node lab: {total}/{total} operations covered, each rolled back to nothing and named its step",
        whole.len() - 1
    );
}

pub fn a_fault_at_every_operation_of_down_is_named_and_the_next_down_finishes() {
    let sb = Sandbox::new();
    let (path, name) = mixed_lab(&sb, 6, "", 0);
    sb.vnet(&format!("up -q {path}")).ok();
    let total = operations(&sb, &format!("down -q {name}"));
    let base = state::read(&sb);
    assert!(total >= 7, "{total} operations");
    for k in 1..=total {
        sb.vnet(&format!("up -q {path}")).ok();
        let out = with_fault(&sb, &format!("down -q {name}"), k);
        assert_eq!(out.code, 1, "k={k}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("could not remove:"),
            "k={k}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("fault injected"),
            "k={k}: {}",
            out.stderr
        );
        sb.vnet(&format!("down -q {name}")).ok();
        let leaks = state::read(&sb).leaks(&base);
        assert!(leaks.is_empty(), "k={k}: {leaks:#?}");
    }
    eprintln!(
        "reliability: faults in down: {total}/{total} operations covered, each named what was left, the next down removed it"
    );
}

pub fn a_reconcile_that_fails_anywhere_converges_on_the_next_up() {
    let sb = Sandbox::new();
    let (small, name) = mixed_lab(&sb, 6, "", 0);
    // The same lab grown by two nodes, with an address moved: a reconcile
    // that creates, changes and removes.
    sb.sh(&format!(
        "python3 bench/mixed.py 8 > /run/t/grown.yaml && sed -i 's/^name: .*/name: {name}/; s/10.1.0.2\\/16/10.1.0.77\\/16/' /run/t/grown.yaml"
    ))
    .ok();
    sb.vnet("up -q /run/t/grown.yaml").ok();
    let grown = state::read(&sb).shape();
    sb.vnet(&format!("down -q {name}")).ok();
    sb.vnet(&format!("up -q {small}")).ok();
    let total = operations(&sb, "up -q /run/t/grown.yaml");
    for k in 1..=total {
        sb.vnet(&format!("up -q {small}")).ok();
        let out = with_fault(&sb, "up -q /run/t/grown.yaml", k);
        assert_eq!(out.code, 1, "k={k}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("\n  step: "), "k={k}: {}", out.stderr);
        sb.vnet("up -q /run/t/grown.yaml").ok();
        let diff = differences(&grown, &state::read(&sb).shape());
        assert!(diff.is_empty(), "k={k}: {diff:#?}");
    }
    eprintln!(
        "reliability: faults in a reconcile: {total}/{total} operations covered, the next up converged each time"
    );
}
