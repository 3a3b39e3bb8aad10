//! Concurrency: different labs up and down in parallel rounds, all correct
//! and leaving nothing; the same lab twice at once (the second waits, or
//! with --no-wait refuses), never a mixture; `down` during `up` of the same
//! lab gives the whole lab or nothing.

use crate::crash::knob;
use crate::sandbox::Sandbox;
use crate::state::{self, differences};
use crate::{Rng, mixed_lab, timed_up};

/// Run each command in the background at once; their exit codes and outputs.
pub fn together(sb: &Sandbox, cmds: &[String]) -> Vec<(i32, String)> {
    let mut script = String::new();
    for (i, c) in cmds.iter().enumerate() {
        script.push_str(&format!("( {c} ) >/run/t/out{i} 2>&1 & p{i}=$!\n"));
    }
    for i in 0..cmds.len() {
        script.push_str(&format!("wait $p{i}; echo \"$?\"\n"));
    }
    let codes = sb.sh(&script).ok().stdout;
    codes
        .lines()
        .enumerate()
        .map(|(i, c)| {
            let out = sb.sh(&format!("cat /run/t/out{i}")).ok().stdout;
            (c.trim().parse().unwrap_or(-1), out)
        })
        .collect()
}

pub fn four_labs_in_parallel_rounds_are_each_whole_and_leave_nothing() {
    let sb = Sandbox::new();
    let labs: Vec<(String, String)> = ["a-", "b-", "c-", "d-"]
        .iter()
        .zip([10, 20, 30, 40])
        .map(|(p, base)| mixed_lab(&sb, 8, p, base))
        .collect();
    // The four labs built one after the other: what every round must give.
    for (path, _) in &labs {
        sb.vnet(&format!("up -q {path}")).ok();
    }
    let whole = state::read(&sb).shape();
    for (_, name) in &labs {
        sb.vnet(&format!("down -q {name}")).ok();
    }
    let base = state::read(&sb);
    let rounds = knob("VNET_ROUNDS", 4);
    let ups: Vec<String> = labs
        .iter()
        .map(|(p, _)| format!("\"$VNET\" up -q {p}"))
        .collect();
    let downs: Vec<String> = labs
        .iter()
        .map(|(_, n)| format!("\"$VNET\" down -q {n}"))
        .collect();
    for round in 0..rounds {
        for (code, out) in together(&sb, &ups) {
            assert_eq!(code, 0, "round {round}: {out}");
        }
        let diff = differences(&whole, &state::read(&sb).shape());
        assert!(diff.is_empty(), "round {round}: {diff:#?}");
        for (code, out) in together(&sb, &downs) {
            assert_eq!(code, 0, "round {round}: {out}");
        }
        let leaks = state::read(&sb).leaks(&base);
        assert!(leaks.is_empty(), "round {round}: {leaks:#?}");
    }
    eprintln!(
        "reliability: concurrency: 4 labs × {rounds} rounds in parallel: {} ups and {} downs, all whole, leaks: 0",
        4 * rounds,
        4 * rounds
    );
}

pub fn the_same_lab_twice_at_once_waits_or_refuses_and_never_mixes() {
    let sb = Sandbox::new();
    let (path, name) = mixed_lab(&sb, 40, "", 0);
    sb.vnet(&format!("up -q {path}")).ok();
    let whole = state::read(&sb).shape();
    sb.vnet(&format!("down -q {name}")).ok();
    let rounds = knob("VNET_SAME_ROUNDS", 3);
    for round in 0..rounds {
        // Waiting: one builds, the other then finds nothing to do.
        let up = format!("\"$VNET\" up -q {path}");
        let outs = together(&sb, &[up.clone(), up]);
        assert!(outs.iter().all(|(c, _)| *c == 0), "round {round}: {outs:?}");
        let built = outs.iter().filter(|(_, o)| o.contains(": up in ")).count();
        let idle = outs
            .iter()
            .filter(|(_, o)| o.contains("nothing to do"))
            .count();
        assert_eq!((built, idle), (1, 1), "round {round}: {outs:?}");
        assert!(differences(&whole, &state::read(&sb).shape()).is_empty());
        sb.vnet(&format!("down -q {name}")).ok();

        // Not waiting: the second refuses, naming the holder, or comes after.
        let up = format!("\"$VNET\" up -q --no-wait {path}");
        let outs = together(&sb, &[up.clone(), up]);
        for (c, o) in &outs {
            assert!(
                *c == 0 || (*c == 1 && o.contains("is working on this lab")),
                "round {round}: {outs:?}"
            );
        }
        assert!(outs.iter().any(|(c, _)| *c == 0));
        assert!(differences(&whole, &state::read(&sb).shape()).is_empty());
        sb.vnet(&format!("down -q {name}")).ok();
    }
    eprintln!(
        "reliability: concurrency: the same lab twice at once, {rounds} rounds waiting and {rounds} with --no-wait: 0 mixed"
    );
}

pub fn down_during_up_leaves_the_whole_lab_or_nothing() {
    let sb = Sandbox::new();
    let (path, name) = mixed_lab(&sb, 40, "", 0);
    let full = timed_up(&sb, &path);
    let whole = state::read(&sb).shape();
    sb.vnet(&format!("down -q {name}")).ok();
    let base = state::read(&sb);
    let mut rng = Rng::new("down during up");
    let (mut nothing, mut all) = (0, 0);
    let rounds = knob("VNET_SAME_ROUNDS", 3);
    for round in 0..rounds {
        let delay = rng.unit() * full;
        let outs = together(
            &sb,
            &[
                format!("\"$VNET\" up -q {path}"),
                format!("sleep {delay:.3}; \"$VNET\" down -q {name}"),
            ],
        );
        assert!(outs.iter().all(|(c, _)| *c == 0), "round {round}: {outs:?}");
        let now = state::read(&sb);
        if now.leaks(&base).is_empty() {
            nothing += 1;
        } else {
            let diff = differences(&whole, &now.shape());
            assert!(
                diff.is_empty(),
                "round {round}: neither whole nor nothing: {diff:#?}"
            );
            all += 1;
            sb.vnet(&format!("down -q {name}")).ok();
        }
    }
    eprintln!(
        "reliability: concurrency: down during up, {rounds} rounds: {nothing} ended with nothing, {all} with the whole lab, 0 mixed"
    );
}

pub fn first_runs_at_once_make_run_netns_a_mount_point_once() {
    // On a machine where /run/netns is not yet a mount point, each `up`
    // makes it one (as `ip netns add` does); several starting together must
    // not stack one bind mount per run.
    let sb = Sandbox::new();
    let labs: Vec<String> = ["a-", "b-", "c-", "d-"]
        .iter()
        .zip([10, 20, 30, 40])
        .map(|(p, base)| mixed_lab(&sb, 5, p, base).0)
        .collect();
    let count = "awk '$5 == \"/run/netns\"' /proc/self/mountinfo | wc -l";
    assert_eq!(sb.sh(count).ok().stdout.trim(), "0");
    let ups: Vec<String> = labs
        .iter()
        .map(|p| format!("\"$VNET\" up -q {p}"))
        .collect();
    for (code, out) in together(&sb, &ups) {
        assert_eq!(code, 0, "{out}");
    }
    assert_eq!(
        sb.sh(count).ok().stdout.trim(),
        "1",
        "one mount of /run/netns"
    );
}
