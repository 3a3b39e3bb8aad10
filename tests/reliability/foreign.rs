//! Never touch what is not ours. The sandbox holds look-alikes of the lab's
//! objects; `up` refuses a name held by one (before changing anything) and
//! works around the rest, and `up`, reconcile, `status`, crash recovery and
//! `down` leave every foreign object as it was, checked object by object
//! with `ip -j` (index, kind, state, MTU, MAC, group, alias, addresses).

use crate::crash::{kill_up_after, knob};
use crate::sandbox::Sandbox;
use crate::state::{self, State};
use crate::{Rng, mixed_lab, timed_up};

/// Foreign host interfaces (names sharing the lab's prefixes, one with the
/// lab's device group but not its mark, one with another lab's mark, veth
/// pairs, and `fport`, later attached to the lab's bridge). Bridges and
/// veths only: a kernel without the dummy module has them all the same.
const HOST: &[&str] = &[
    "br0-h99", "br0x", "h1-a", "h1-b", "grp0", "oth0", "fport", "fport-p", "fv0",
];
/// Foreign namespaces: one named with a node's prefix, one holding the
/// other end of a foreign veth.
const SPACES: &[&str] = &["h1x", "fns"];

fn plant(sb: &Sandbox, group: u32) {
    sb.sh(&format!(
        "set -e
ip link add br0-h99 type bridge
ip link add br0x type bridge
ip link add h1-a type veth peer name h1-b
ip link set h1-a up
ip addr add 192.0.2.1/24 dev h1-a
ip link add grp0 type bridge
ip link set grp0 group {group}
ip link add oth0 type bridge
ip link set oth0 alias vnet:other-lab
ip link add fport type veth peer name fport-p
ip link set fport-p up
ip link set fport up
ip netns add h1x
ip -n h1x link add d0 type bridge
ip netns add fns
ip link add fv0 type veth peer name fv1 netns fns
ip -n fns addr add 198.51.100.1/24 dev fv1"
    ))
    .ok();
}

/// Every foreign object that differs from `before`, in words. `fport` may
/// have lost its master: the lab's bridge it was attached to is gone.
fn changed(before: &State, now: &State) -> Vec<String> {
    let mut out = Vec::new();
    for name in HOST {
        let (Some(b), Some(n)) = (before.host.get(*name), now.host.get(*name)) else {
            out.push(format!("host interface {name}: gone"));
            continue;
        };
        let mut n = n.clone();
        if *name == "fport" {
            n.master.clone_from(&b.master);
        }
        if *b != n {
            out.push(format!("host interface {name}: {b:?} → {n:?}"));
        }
    }
    for ns in SPACES {
        match (before.spaces.get(*ns), now.spaces.get(*ns)) {
            (Some(b), Some(n)) if b == n => {}
            (b, n) => out.push(format!("namespace {ns}: {b:?} → {n:?}")),
        }
    }
    out
}

/// Objects compared: host interfaces, namespaces and the interfaces in them.
fn objects(s: &State) -> usize {
    HOST.len()
        + SPACES
            .iter()
            .map(|n| 1 + s.spaces[*n].as_ref().map_or(0, |i| i.len()))
            .sum::<usize>()
}

#[track_caller]
fn refused(sb: &Sandbox, path: &str, setup: &str, undo: &str, says: &str) {
    sb.sh(setup).ok();
    let before = state::read(sb);
    let out = sb.vnet(&format!("up -q {path}")).expect(1);
    assert!(
        out.stderr.contains("refusing to change anything"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(says),
        "`{says}` missing in {}",
        out.stderr
    );
    let leaks = state::read(sb).leaks(&before);
    assert!(leaks.is_empty(), "{setup}: the refusal changed {leaks:#?}");
    sb.sh(undo).ok();
}

pub fn look_alikes_are_refused_or_worked_around_and_never_touched() {
    let sb = Sandbox::new();
    let (path, name) = mixed_lab(&sb, 10, "", 0);
    plant(&sb, vnet::model::owner::group(&name));

    // Names the lab needs, held by others: refused before any change.
    refused(
        &sb,
        &path,
        "ip link add br0 type bridge",
        "ip link del br0",
        "interface br0 in the host namespace (bridge) — owned by not managed by vnet",
    );
    refused(
        &sb,
        &path,
        "ip link add br0-h1 type veth peer name zz0",
        "ip link del br0-h1",
        "interface br0-h1 in the host namespace (veth) — owned by not managed by vnet",
    );
    refused(
        &sb,
        &path,
        "ip netns add h2",
        "ip netns del h2",
        "namespace h2 — owned by not managed by vnet",
    );
    refused(
        &sb,
        &path,
        "ip netns add g2 && ip -n g2 link set lo alias vnet:other-lab",
        "ip netns del g2",
        "namespace g2 — owned by lab other-lab",
    );
    refused(
        &sb,
        &path,
        "touch /run/netns/g1",
        "rm /run/netns/g1",
        "/run/netns/g1 — owned by a file that is not a namespace",
    );

    // The rest is worked around: the lab comes up beside it.
    let planted = state::read(&sb);
    let full = timed_up(&sb, &path);
    let mut checks = vec![("up", changed(&planted, &state::read(&sb)))];
    // A foreign port on the lab's bridge, a foreign interface inside a lab
    // namespace: a reconcile leaves both.
    sb.sh("ip link set fport master br0 && ip -n h1 link add fin0 type bridge && ip link set br0-h2 nomaster")
        .ok();
    let attached = state::read(&sb);
    let out = sb.vnet(&format!("up {path}")).ok();
    assert!(
        out.stdout.contains("1 changed"),
        "only the drift is fixed: {}",
        out.stdout
    );
    let now = state::read(&sb);
    assert_eq!(now.host["fport"].master.as_deref(), Some("br0"));
    assert!(
        now.spaces["h1"]
            .as_ref()
            .is_some_and(|i| i.contains_key("fin0"))
    );
    checks.push(("reconcile", changed(&attached, &now)));
    sb.vnet(&format!("status {name}")).ok();
    checks.push(("status", changed(&attached, &state::read(&sb))));
    sb.vnet(&format!("down -q {name}")).ok();
    checks.push(("down", changed(&attached, &state::read(&sb))));

    // Crash recovery: a killed `up`, then `down`; a killed `up`, then `up`.
    let mut rng = Rng::new("foreign");
    let kills = knob("VNET_FOREIGN_KILLS", 3);
    for i in 0..kills {
        let then = if i % 2 == 1 { "up" } else { "down" };
        kill_up_after(&sb, &path, rng.unit() * full);
        let arg = if then == "up" { &path } else { &name };
        sb.vnet(&format!("{then} -q {arg}")).ok();
        checks.push(("kill -9, then that", changed(&attached, &state::read(&sb))));
    }
    if kills.is_multiple_of(2) {
        sb.vnet(&format!("down -q {name}")).ok();
    }
    let after = state::read(&sb);
    assert!(
        after.leaks(&planted).is_empty(),
        "{:#?}",
        after.leaks(&planted)
    );
    for (when, diff) in &checks {
        assert!(diff.is_empty(), "after {when}: {diff:#?}");
    }
    let n = objects(&attached);
    eprintln!(
        "reliability: foreign objects preserved: {n}/{n} (checked after 5 refusals, up, reconcile, status, down and {kills} kills with recovery: {} checks)",
        checks.len() + 5
    );
}
