//! Rootless mode, tried as a new user would: every command run as the
//! sandbox's unprivileged user (uid 65534 under root; uid 0 without
//! capabilities in a user namespace), with a HOME and runtime directory of
//! its own. The sandbox's own network namespace and /run/netns must not
//! change, and after `down` no process is left in the user namespace vnet
//! made. Also: a killed holder is reported and cleaned up by the next
//! command; VNET_ROOTLESS=1 and `--rootless` work for root too.

#[macro_use]
mod sandbox;

use sandbox::Sandbox;

/// What the sandbox itself holds: its interfaces and /run/netns.
fn outside(sb: &Sandbox) -> (Vec<String>, String) {
    (sb.links(""), sb.sh("ls -A /run/netns").ok().stdout)
}

/// The holder's pid and user namespace, read from the runtime directory.
fn holder(sb: &Sandbox, xdg: &str) -> (String, String) {
    let pid = sb
        .sh(&format!("cat {xdg}/vnet/holder.pid"))
        .ok()
        .stdout
        .trim()
        .to_string();
    let ns = sb
        .sh(&format!("readlink /proc/{pid}/ns/user"))
        .ok()
        .stdout
        .trim()
        .to_string();
    (pid, ns)
}

/// Processes still in user namespace `ns` (pid, command line). A zombie
/// is not one: it has ended and let go of its namespaces, and only waits
/// for init to collect its exit status.
fn left_in(sb: &Sandbox, ns: &str) -> String {
    sb.sh(&format!(
        "for p in /proc/[0-9]*; do [ \"$(readlink $p/ns/user 2>/dev/null)\" = '{ns}' ] && ! grep -q '^State:.Z' $p/status 2>/dev/null && echo \"${{p#/proc/}} $(tr '\\0' ' ' < $p/cmdline)\"; done; true"
    ))
    .ok()
    .stdout
}

fn the_seed_walk_as_an_unprivileged_user() {
    let sb = Sandbox::new();
    let before = outside(&sb);
    let up = sb.vnet_as_user("up examples/seed-bridge.yaml").ok();
    assert!(up.stdout.contains("seed-bridge: up"), "{}", up.stdout);
    assert_eq!(outside(&sb), before, "up changed the sandbox's own network");
    let (pid, ns) = holder(&sb, "/run/user/65534");
    assert!(!ns.is_empty(), "no holder after up");

    let ping = sb.vnet_as_user("ping ns1 ns2").ok();
    assert!(ping.stdout.contains("3 received"), "{}", ping.stdout);
    let addr = sb.vnet_as_user("exec ns1 -- ip -br addr").ok();
    assert!(addr.stdout.contains("192.168.1.1/24"), "{}", addr.stdout);
    let status = sb.vnet_as_user("status").ok();
    assert!(
        status
            .stdout
            .starts_with(&format!("mode: rootless (uid {})\n", sb.user_uid())),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("seed-bridge  up"),
        "{}",
        status.stdout
    );
    let trace = sb.vnet_as_user("trace ns1 ns2").ok();
    assert!(
        trace.stdout.contains("delivered in ns2"),
        "{}",
        trace.stdout
    );
    let all = sb.vnet_as_user("ping --all").ok();
    assert!(all.stdout.contains("2/2 pairs reachable"), "{}", all.stdout);
    let shell = sb.sh("echo 'ip -br link show veth0' | SHELL=/bin/sh $AS_USER \"$VNET\" shell ns1");
    assert!(shell.ok().stdout.starts_with("veth0@"), "vnet shell ns1");

    sb.vnet_as_user("exec ns2 -- ip link set veth1 down").ok();
    let doctor = sb.vnet_as_user("doctor ns1 ns2").expect(1);
    assert!(
        doctor.stdout.contains("cause: ns2:veth1 is down"),
        "{}",
        doctor.stdout
    );
    assert!(
        doctor
            .stdout
            .contains("the kernel's drop records (tracefs) belong to the real host's root"),
        "the doctor says what it could not check:\n{}",
        doctor.stdout
    );
    assert_eq!(outside(&sb), before, "the sandbox's own network changed");

    let down = sb.vnet_as_user("down seed-bridge").ok();
    assert!(down.stdout.contains("2 namespaces"), "{}", down.stdout);
    assert_eq!(outside(&sb), before);
    assert_eq!(left_in(&sb, &ns), "", "processes left after down");
    assert!(
        sb.sh(&format!(
            "test -e /proc/{pid} && ! grep -q '^State:.Z' /proc/{pid}/status"
        ))
        .code
            != 0,
        "the holder (pid {pid}) is still there"
    );
    let files = sb
        .sh("ls -A /run/user/65534/vnet/netns /run/user/65534/vnet/state")
        .ok();
    assert!(
        !files.stdout.contains(".json") && !files.stdout.contains("ns1"),
        "{}",
        files.stdout
    );
}

fn a_killed_holder_is_reported_and_cleaned_up() {
    let sb = Sandbox::new();
    sb.vnet_as_user("up examples/seed-bridge.yaml").ok();
    let (pid, ns) = holder(&sb, "/run/user/65534");
    sb.sh(&format!("kill -9 {pid}")).ok();
    let status = sb.vnet_as_user("status").ok();
    assert!(
        status.stderr.contains(&format!(
            "the rootless holder (pid {pid}) had ended: its labs went with it (seed-bridge); removed what was left"
        )),
        "{}",
        status.stderr
    );
    assert!(status.stdout.contains("no labs"), "{}", status.stdout);
    // Nothing is left of the lab, and the holder `status` started for
    // itself ended with it, there being no lab.
    let files = sb
        .sh("ls -A /run/user/65534/vnet/netns /run/user/65534/vnet/state /run/user/65534/vnet")
        .ok();
    assert!(
        !files.stdout.contains("seed-bridge.json")
            && !files.stdout.contains("ns1")
            && !files.stdout.contains("holder.pid"),
        "{}",
        files.stdout
    );
    assert_eq!(left_in(&sb, &ns), "");
    // And the next lab comes up as on a fresh machine.
    sb.vnet_as_user("up examples/seed-bridge.yaml").ok();
    sb.vnet_as_user("ping ns1 ns2 -c 1").ok();
    sb.vnet_as_user("down seed-bridge").ok();
}

fn forced_rootless_works_for_root_too() {
    let sb = Sandbox::new();
    let before = outside(&sb);
    let xdg = "XDG_RUNTIME_DIR=/run/user/0";
    sb.sh(&format!(
        "{xdg} VNET_ROOTLESS=1 \"$VNET\" up examples/seed-bridge.yaml"
    ))
    .ok();
    assert_eq!(outside(&sb), before, "rootless up touched the sandbox");
    let status = sb.sh(&format!("{xdg} \"$VNET\" --rootless status")).ok();
    assert!(
        status.stdout.starts_with("mode: rootless (uid 0)\n"),
        "{}",
        status.stdout
    );
    // Root without the flag sees the machine's (sandbox's) own labs: none.
    let plain = sb.vnet("status").ok();
    assert_eq!(plain.stdout.trim(), "no labs");
    sb.sh(&format!(
        "{xdg} VNET_ROOTLESS=1 \"$VNET\" ping ns1 ns2 -c 1"
    ))
    .ok();
    let (_, ns) = holder(&sb, "/run/user/0");
    sb.sh(&format!("{xdg} VNET_ROOTLESS=1 \"$VNET\" down seed-bridge"))
        .ok();
    assert_eq!(left_in(&sb, &ns), "");
    assert_eq!(outside(&sb), before);
}

fn a_lab_that_needs_the_real_host_is_refused() {
    let sb = Sandbox::new();
    // An interface of the (sandbox's) real host, and a lab that names it
    // in its host namespace.
    sb.sh("ip link add real0 type veth peer name real1").ok();
    let lab = "name: needs-host\nnodes:\n  n1: {}\nlinks:\n  - endpoints: [\"n1:eth0\", \"host:real0\"]\n";
    sb.sh(&format!(
        "cat > /run/user/65534/home/lab.yaml <<'EOF'\n{lab}EOF\nchmod 644 /run/user/65534/home/lab.yaml"
    ))
    .ok();
    let out = sb
        .vnet_as_user("up /run/user/65534/home/lab.yaml")
        .expect(1);
    assert!(
        out.stderr
            .contains("the lab uses real0 in the host namespace, an interface of the real host"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("run it as root"), "{}", out.stderr);
    // Nothing left: no lab, and the holder ended (no lab in it).
    let status = sb.vnet_as_user("status").ok();
    assert!(status.stdout.contains("no labs"), "{}", status.stdout);
    assert!(
        sb.sh("test -e /run/user/65534/vnet/holder.pid").code != 0,
        "a holder is left"
    );
}

fn main() -> std::process::ExitCode {
    sandbox::harness::run(vec![
        kernel!(the_seed_walk_as_an_unprivileged_user),
        kernel!(a_killed_holder_is_reported_and_cleaned_up),
        kernel!(forced_rootless_works_for_root_too),
        kernel!(a_lab_that_needs_the_real_host_is_refused),
    ])
}
