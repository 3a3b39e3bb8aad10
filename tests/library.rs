//! vnet as a library (`vnet::Lab`), as a test suite uses it. The library's
//! calls run in this test binary itself, started again inside a sandbox
//! (`child!` functions, run by name); the test around each one judges the
//! sandbox afterwards with iproute2: no namespace, no interface left.

#[macro_use]
mod sandbox;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;

use sandbox::{Out, Sandbox};

const ROUTER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/router.yaml");
const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/seed-bridge.yaml");

/// Run the `child!` test `name` inside `sb`; its output.
fn in_sandbox(sb: &Sandbox, name: &str) -> Out {
    let me = std::env::current_exe().unwrap();
    sb.sh_env(
        &format!("\"$ME\" --ignored --exact {name} --nocapture --test-threads=1"),
        &[("ME", me.to_str().unwrap())],
    )
}

/// The word a child printed after `key` (on a line of the test runner's).
fn printed(out: &Out, key: &str) -> String {
    out.stdout
        .split(&format!("{key} "))
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {key} in:\n{}\n{}", out.stdout, out.stderr))
        .to_string()
}

/// The process `pid` is gone (the sandbox shares the machine's pids).
#[track_caller]
fn gone(pid: &str) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(!stat.contains("600"), "process {pid} still runs: {stat:?}");
}

/// The sandbox holds nothing but its loopback interface.
#[track_caller]
fn nothing_left(sb: &Sandbox) {
    assert_eq!(sb.netns(), Vec::<String>::new(), "namespaces left");
    assert_eq!(sb.links(""), ["lo"], "host interfaces left");
    let records = sb.sh("ls /run/vnet 2>/dev/null | grep json || true").ok();
    assert_eq!(records.stdout.trim(), "", "state records left");
}

/// A lab of `n` namespaces on one bridge, 10.0.0.1… (in code).
fn star(name: &str, n: usize) -> vnet::Lab {
    let mut b = vnet::Lab::builder(name).bridge("br0");
    for i in 1..=n {
        b = b.node(&format!("h{i}")).link(
            vnet::End::new(&format!("h{i}:eth0")).ip(&format!("10.0.0.{i}/24")),
            format!("br0:p{i}").as_str(),
        );
    }
    b.build().unwrap()
}

// ---- needs nothing -------------------------------------------------------

fn a_built_lab_is_the_same_model_as_its_file() {
    let built = vnet::Lab::builder("router")
        .node("h1")
        .node("h2")
        .router("r1")
        .route("h1", "default via 10.0.1.1")
        .route("h1", "default via 2001:db8:1::1")
        .route("h2", "default via 10.0.2.1")
        .route("h2", "default via 2001:db8:2::1")
        .link(
            vnet::End::new("h1:eth0")
                .ip("10.0.1.2/24")
                .ip("2001:db8:1::2/64"),
            vnet::End::new("r1:eth1")
                .ip("10.0.1.1/24")
                .ip("2001:db8:1::1/64"),
        )
        .link(
            vnet::End::new("h2:eth0")
                .ip("10.0.2.2/24")
                .ip("2001:db8:2::2/64"),
            vnet::End::new("r1:eth2")
                .ip("10.0.2.1/24")
                .ip("2001:db8:2::1/64"),
        )
        .build()
        .unwrap();
    let file = vnet::Lab::from_file(ROUTER).unwrap();
    assert_eq!(built.model(), file.model());
    assert_eq!(file.nodes(), ["h1", "h2", "r1"]);
}

fn bad_labs_are_refused_with_the_place_and_the_reason() {
    let e = vnet::Lab::from_yaml("name: x\nnodes:\n  h1: { kind: router }\n").unwrap_err();
    let text = e.to_string();
    assert!(text.contains("lab.yaml:3:"), "{text}");
    assert!(matches!(e, vnet::Error::LabFile(_)));
    let e = vnet::Lab::builder("x")
        .node("h1")
        .link("h1:eth0", "nowhere:eth0")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");
    let e = vnet::Lab::from_file("/nonexistent/lab.yaml").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot read /nonexistent/lab.yaml"),
        "{e}"
    );
}

// ---- run inside the sandbox by the tests below ------------------------------

pub fn run_spawn_enter_probe_child() {
    let net = vnet::Lab::from_file(ROUTER).unwrap().up().unwrap();
    assert!(net.name().starts_with("router-"), "{}", net.name());
    let h1 = net.node("h1");
    assert!(h1.netns().unwrap().ends_with(".h1"));

    // run: a real program in the node, its output and exit status.
    let out = h1.run(["ping", "-c1", "-W2", "10.0.2.2"]).unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = h1.run(["ip", "-j", "addr", "show", "dev", "eth0"]).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("10.0.1.2"));
    // The node's own /sys.
    let out = h1.run(["ls", "/sys/class/net"]).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["eth0", "lo"]
    );
    assert_eq!(
        h1.run(["sh", "-c", "exit 3"]).unwrap().status.code(),
        Some(3)
    );
    assert!(matches!(
        h1.run(["/nonexistent/program"]),
        Err(vnet::Error::Io { .. })
    ));
    assert!(matches!(
        net.node("nope").run(["true"]),
        Err(vnet::Error::Usage(_))
    ));

    // spawn: killed at teardown.
    let mut sleeper = net
        .node("h2")
        .spawn({
            let mut c = Command::new("sleep");
            c.arg("600");
            c
        })
        .unwrap();
    println!("SLEEPER {}", sleeper.id());

    // enter: sockets made in the node stay there; a TCP exchange across r1.
    let listener = net
        .node("h2")
        .enter(|| TcpListener::bind("10.0.2.2:0"))
        .unwrap()
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    // Not reachable from the sandbox's own namespace (no such address here).
    assert!(TcpStream::connect(("10.0.2.2", port)).is_err());
    let server = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"pong!").unwrap();
        (peer, buf)
    });
    let reply = net
        .node("h1")
        .enter(move || {
            let mut s = TcpStream::connect(("10.0.2.2", port)).unwrap();
            s.write_all(b"ping!").unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            buf
        })
        .unwrap();
    assert_eq!(&reply, b"pong!");
    let (peer, got) = server.join().unwrap();
    assert_eq!(&got, b"ping!");
    assert_eq!(peer.ip().to_string(), "10.0.1.2");
    // A panic in the closure goes on in the caller.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        net.node("h1").enter(|| panic!("inside h1"))
    }));
    assert!(caught.is_err());

    // The probes, in the file's names.
    let m = net.ping_all().unwrap();
    assert!(m.all_reachable(), "{m}");
    assert!(m.ok());
    // 3 nodes, each pinging 2 addresses (v4, v6) of each address of the others.
    assert!(
        m.pairs()
            .iter()
            .any(|p| p.from == "h1" && p.to == "h2" && p.reachable)
    );
    assert!(
        m.pairs()
            .iter()
            .all(|p| ["h1", "h2", "r1"].contains(&p.from.as_str()))
    );
    let t = net.trace("h1", "h2").unwrap();
    assert!(t.answered);
    let d = net.doctor("h1", "h2").unwrap();
    assert!(d.works(), "{d}");
    assert_eq!(d.json()["status"], "works");

    // Break one thing: the doctor names it.
    let out = net
        .node("h2")
        .run(["ip", "link", "set", "eth0", "down"])
        .unwrap();
    assert!(out.status.success());
    let d = net.doctor("h1", "h2").unwrap();
    assert!(!d.works());
    assert!(d.rules().contains(&"link.down"), "{d}");
    assert!(!net.ping_all().unwrap().all_reachable());

    // Explicit teardown: the spawned program is killed first.
    net.down().unwrap();
    let status = sleeper.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));
    println!("LIBRARY DONE");
}

pub fn a_panic_with_a_lab_up_child() {
    let net = vnet::Lab::from_file(SEED).unwrap().up().unwrap();
    let sleeper = net
        .node("ns1")
        .spawn({
            let mut c = Command::new("sleep");
            c.arg("600");
            c
        })
        .unwrap();
    println!("SLEEPER {}", sleeper.id());
    // Never waited for here: the lab's teardown kills it.
    std::mem::forget(sleeper);
    assert!(net.ping_all().unwrap().all_reachable());
    panic!("a test failing with lab {} up", net.name());
}

pub fn sixteen_labs_in_parallel_child() {
    let threads: Vec<_> = (0..16)
        .map(|t| {
            std::thread::spawn(move || {
                let net = star("star", 10).up().unwrap();
                let m = net.ping_all().unwrap();
                assert!(m.all_reachable(), "thread {t}: {m}");
                assert_eq!(m.pairs().len(), 90);
                let out = net
                    .node("h10")
                    .run(["ping", "-c1", "-W2", "10.0.0.1"])
                    .unwrap();
                assert!(out.status.success(), "thread {t}: {out:?}");
                net.name().to_string()
            })
        })
        .collect();
    let mut names: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 16);
    println!("LIBRARY DONE");
}

pub fn dies_with_a_lab_up_child() {
    let net = star("orphan", 3).up().unwrap();
    println!("LAB {}", net.name());
    // Killed: no destructor runs.
    std::process::abort();
}

pub fn reaps_orphans_child() {
    let net = star("next", 2).up().unwrap();
    assert!(net.ping_all().unwrap().all_reachable());
    println!("LIBRARY DONE");
}

pub fn exact_names_child() {
    let net = vnet::Lab::from_file(SEED)
        .unwrap()
        .exact_names()
        .up()
        .unwrap();
    assert_eq!(net.name(), "seed-bridge");
    assert_eq!(net.node("ns1").netns().unwrap(), "ns1");
    assert_eq!(net.host_interface("br0-veth0"), Some("br0-veth0"));
    assert!(net.ping_all().unwrap().all_reachable());
    println!("LIBRARY DONE");
}

// ---- the tests -------------------------------------------------------------

fn run_spawn_enter_and_probes_work_and_down_leaves_nothing() {
    let sb = Sandbox::new();
    let out = in_sandbox(&sb, "run_spawn_enter_probe_child");
    assert!(
        out.stdout.contains("LIBRARY DONE"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    nothing_left(&sb);
    gone(&printed(&out, "SLEEPER"));
}

fn a_panic_with_a_lab_up_leaves_nothing() {
    let sb = Sandbox::new();
    let out = in_sandbox(&sb, "a_panic_with_a_lab_up_child");
    assert_ne!(out.code, 0);
    assert!(
        out.stdout.contains("a test failing with lab seed-bridge-")
            || out.stderr.contains("a test failing with lab seed-bridge-"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    nothing_left(&sb);
    gone(&printed(&out, "SLEEPER"));
}

fn sixteen_ten_node_labs_in_parallel_leave_nothing() {
    let sb = Sandbox::new();
    let out = in_sandbox(&sb, "sixteen_labs_in_parallel_child");
    assert!(
        out.stdout.contains("LIBRARY DONE"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    nothing_left(&sb);
}

fn a_dead_owners_lab_goes_at_the_next_start_or_with_down_orphans() {
    let sb = Sandbox::new();
    // The first process dies with its lab up: the lab stays, recognisable.
    let out = in_sandbox(&sb, "dies_with_a_lab_up_child");
    assert_ne!(out.code, 0);
    let lab = printed(&out, "LAB");
    assert_eq!(sb.netns().len(), 3);
    let rec = sb.sh(&format!("cat /run/vnet/{lab}.json")).ok();
    assert!(rec.stdout.contains("\"owner\""), "{}", rec.stdout);
    // The next process that brings a lab up removes it first.
    let out = in_sandbox(&sb, "reaps_orphans_child");
    assert!(
        out.stdout.contains("LIBRARY DONE"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    nothing_left(&sb);
    // And `vnet down --orphans` does too.
    in_sandbox(&sb, "dies_with_a_lab_up_child");
    assert_eq!(sb.netns().len(), 3);
    let out = sb.vnet("down --orphans").ok();
    assert!(out.stdout.contains("orphan-"), "{}", out.stdout);
    nothing_left(&sb);
}

fn exact_names_are_the_files_and_drop_removes_them() {
    let sb = Sandbox::new();
    let out = in_sandbox(&sb, "exact_names_child");
    assert!(
        out.stdout.contains("LIBRARY DONE"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    nothing_left(&sb);
}

fn main() -> std::process::ExitCode {
    sandbox::harness::run(vec![
        plain!(a_built_lab_is_the_same_model_as_its_file),
        plain!(bad_labs_are_refused_with_the_place_and_the_reason),
        child!(run_spawn_enter_probe_child),
        child!(a_panic_with_a_lab_up_child),
        child!(sixteen_labs_in_parallel_child),
        child!(dies_with_a_lab_up_child),
        child!(reaps_orphans_child),
        child!(exact_names_child),
        kernel!(run_spawn_enter_and_probes_work_and_down_leaves_nothing),
        kernel!(a_panic_with_a_lab_up_leaves_nothing),
        kernel!(sixteen_ten_node_labs_in_parallel_leave_nothing),
        kernel!(a_dead_owners_lab_goes_at_the_next_start_or_with_down_orphans),
        kernel!(exact_names_are_the_files_and_drop_removes_them),
    ])
}
