//! `vnet import` without root: the seed's scripts give the example labs,
//! vnet's own dry runs (shell and batch) import back to the lab they came
//! from, every line that is not carried over is reported with its number,
//! bad inputs give line-numbered errors, and no input makes it panic.

use std::process::Command;

use proptest::prelude::*;
use vnet::import::{self, NoteKind, Source};
use vnet::model::{Lab, parse_lab};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn example(name: &str) -> Lab {
    let path = format!("{}/examples/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    parse_lab(&path, &std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Import a fixture; its lab file must parse back to the same lab.
fn imported(name: &str) -> import::Imported {
    let text = fixture(name);
    let source = import::detect(name, &text);
    let i = import::import(name, &text, source, None).unwrap();
    let back = parse_lab("out.yaml", &i.yaml).unwrap_or_else(|e| panic!("{e:?}\n{}", i.yaml));
    assert_eq!(back, i.lab, "{}", i.yaml);
    i
}

fn renamed(mut lab: Lab, name: &str) -> Lab {
    lab.name = name.to_string();
    lab
}

#[test]
fn the_seed_scripts_import_to_the_example_labs() {
    let veth = imported("seed-veth.sh");
    assert_eq!(veth.lab, renamed(example("seed-veth"), "seed-veth"));
    // `ip netns exec ns1 ip link show` builds nothing, and is said so, with its line.
    assert_eq!(veth.notes.len(), 1, "{:?}", veth.notes);
    assert_eq!(veth.notes[0].line, 13);
    assert_eq!(veth.notes[0].kind, NoteKind::NothingToBuild);
    assert!(
        veth.yaml
            .contains("#   line 13: sudo ip netns exec ns1 ip link show\n"),
        "{}",
        veth.yaml
    );

    let bridge = imported("seed-bridge.sh");
    assert_eq!(bridge.lab, renamed(example("seed-bridge"), "seed-bridge"));
    assert!(bridge.notes.is_empty(), "{:?}", bridge.notes);
    insta::assert_snapshot!("seed_bridge_sh", bridge.yaml);
    insta::assert_snapshot!("seed_veth_sh", veth.yaml);
}

#[test]
fn a_batch_file_imports_like_the_script() {
    let b = imported("seed-bridge.batch");
    assert_eq!(b.lab, renamed(example("seed-bridge"), "seed-bridge"));
    assert!(b.notes.is_empty(), "{:?}", b.notes);
}

#[test]
fn a_messy_script_keeps_what_a_lab_can_hold_and_reports_the_rest() {
    let m = imported("messy.sh");
    insta::assert_snapshot!("messy_sh", m.yaml);
    let lines: Vec<(usize, NoteKind)> = m.notes.iter().map(|n| (n.line, n.kind)).collect();
    assert_eq!(
        lines,
        [
            (3, NoteKind::NothingToBuild),
            (17, NoteKind::NotRepresented),
            (17, NoteKind::NotRepresented),
            (17, NoteKind::NotRepresented),
            (25, NoteKind::NothingToBuild),
            (26, NoteKind::NotRepresented),
            (27, NoteKind::NotRepresented),
            (27, NoteKind::Differs),
            (28, NoteKind::NotRepresented),
            (29, NoteKind::NotRepresented),
        ]
    );
}

#[test]
fn vnet_dry_runs_import_back_to_their_lab() {
    for name in ["seed-veth", "seed-bridge", "router"] {
        let lab = example(name);
        let plan = vnet::engine::up::plan_fresh(&lab);
        let sh = vnet::plan::script::render(&plan);
        let from_sh = import::import("plan.sh", &sh, Source::Shell, Some(name)).unwrap();
        assert_eq!(from_sh.lab, lab, "{sh}\n{}", from_sh.yaml);
        let batch = vnet::plan::script::render_batch(&plan).unwrap();
        let from_batch = import::import(
            "plan.batch",
            &batch,
            import::detect("plan.batch", &batch),
            Some(name),
        )
        .unwrap();
        assert_eq!(from_batch.lab, lab, "{batch}\n{}", from_batch.yaml);
        // The ownership marks are vnet's own; they are mentioned, never copied.
        assert!(
            from_batch
                .notes
                .iter()
                .all(|n| n.reason.contains("ownership marks")),
            "{:?}",
            from_batch.notes
        );
    }
}

#[test]
fn a_containerlab_file_becomes_namespaces_and_a_bridge() {
    let c = imported("two-nodes.clab.yml");
    insta::assert_snapshot!("two_nodes_clab", c.yaml);
    assert!(
        c.notes
            .iter()
            .any(|n| n.line == 10 && n.reason.contains("image ignored")),
        "{:?}",
        c.notes
    );
}

#[test]
fn containerlab_link_forms_and_unsupported_kinds() {
    let text = "name: x\ntopology:\n  defaults:\n    kind: linux\n  nodes:\n    a: {}\n    b:\n      exec: [\"ip addr add 2001:db8::2/64 dev e1\", \"ip -6 route add default via 2001:db8::1\"]\n    s: { kind: nokia_srlinux }\n  links:\n    - type: veth\n      endpoints:\n        - { node: a, interface: e1, mac: \"02:00:00:00:00:0a\" }\n        - { node: b, interface: e1 }\n    - endpoints: [\"a:e2\", \"host:a-e2\"]\n    - endpoints: [\"a:e3\", \"s:e1\"]\n    - type: host\n      endpoint: { node: b, interface: e9 }\n      host-interface: b-e9\n";
    let i = import::import("x.clab.yml", text, Source::Clab, None).unwrap();
    let lab = parse_lab("x.yaml", &i.yaml).unwrap_or_else(|e| panic!("{e:?}\n{}", i.yaml));
    assert_eq!(lab.links.len(), 3, "{}", i.yaml);
    assert!(i.yaml.contains("mac: \"02:00:00:00:00:0a\""), "{}", i.yaml);
    assert!(i.yaml.contains("\"host:a-e2\""), "{}", i.yaml);
    assert!(i.yaml.contains("\"host:b-e9\""), "{}", i.yaml);
    assert!(
        i.yaml.contains("routes: [\"default via 2001:db8::1\"]"),
        "{}",
        i.yaml
    );
    let srl: Vec<usize> = i
        .notes
        .iter()
        .filter(|n| n.command.contains(" s"))
        .map(|n| n.line)
        .collect();
    assert_eq!(srl, [9, 16], "{:?}", i.notes);
}

#[test]
fn malformed_containerlab_yaml_names_the_line() {
    let err = import::import(
        "bad.clab.yml",
        "name: x\ntopology:\n  nodes:\n    a: { kind: linux\n  links: []\n",
        Source::Clab,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("bad.clab.yml:"), "{err}");
    let line: usize = err.split(':').nth(1).unwrap().parse().unwrap();
    assert!((4..=6).contains(&line), "{err}");
    let err = import::import("t.clab.yml", "name: x\n", Source::Clab, None).unwrap_err();
    assert!(err.to_string().contains("topology"), "{err}");
}

fn vnet_import(args: &[&str], stdin_file: Option<(&str, &str)>) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!("vnet-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut full: Vec<String> = vec!["import".into()];
    if let Some((name, text)) = stdin_file {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        full.push(p.to_str().unwrap().to_string());
    }
    full.extend(
        args.iter()
            .map(|a| a.replace("{dir}", dir.to_str().unwrap())),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_vnet"))
        .args(&full)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_command_reports_lines_and_writes_the_file() {
    let (code, out, err) = vnet_import(
        &["-o", "{dir}/lab.yaml"],
        Some((
            "x.sh",
            "ip netns add a\n\nfrobnicate now\nip link set nope up\n",
        )),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("x.sh:3: warning: not represented: `frobnicate now`"),
        "{err}"
    );
    assert!(err.contains("x.sh:4: warning: would fail"), "{err}");
    let dir = std::env::temp_dir().join(format!("vnet-import-{}", std::process::id()));
    let lab = std::fs::read_to_string(dir.join("lab.yaml")).unwrap();
    assert!(lab.contains("#   line 3: frobnicate now\n"), "{lab}");
    assert!(lab.contains("  a: {}\n"), "{lab}");
    // Malformed YAML: exit 2 with file:line:column.
    let (code, _, err) = vnet_import(&[], Some(("bad.clab.yml", "topology:\n  nodes: [\n")));
    assert_eq!(code, 2);
    assert!(err.contains("bad.clab.yml:"), "{err}");
    // Not text at all.
    let (code, _, err) = vnet_import(&["{dir}/missing.sh"], None);
    assert_eq!(code, 2, "{err}");
}

/// Plausible scripts: random `ip` commands over a few names.
fn command() -> impl Strategy<Value = String> {
    let ns = prop::sample::select(vec!["a", "b", "c"]);
    let dev = prop::sample::select(vec!["e0", "e1", "e2", "e3", "br0", "br1"]);
    (0..14u8, ns.clone(), ns, dev.clone(), dev, 0..250u8).prop_map(|(k, n1, n2, d1, d2, x)| match k
    {
        0 => format!("ip netns add {n1}"),
        1 => format!("ip netns del {n1}"),
        2 => format!("ip link add {d1} type veth peer name {d2}"),
        3 => format!("sudo ip -n {n1} link add {d1} type veth peer name {d2} netns {n2}"),
        4 => format!("ip link add {d1} type bridge"),
        5 => format!("ip link set {d1} netns {n1}"),
        6 => format!("ip link set {d1} master {d2}"),
        7 => format!("ip netns exec {n1} ip link set {d1} up"),
        8 => format!("ip -n {n1} addr add 10.{x}.{}.1/24 dev {d1}", x / 3),
        9 => format!(
            "ip -n {n1} route add 10.99.{x}.0/24 via 10.1.1.{}",
            x % 200 + 1
        ),
        10 => format!("ip -n {n1} route add 10.98.{x}.0/24 dev {d1}"),
        11 => format!("ip netns exec {n1} sysctl -w net.ipv4.ip_forward={}", x % 2),
        12 => format!("ip link del {d1}"),
        _ => format!("ip link set dev {d1} mtu {} up", 1000 + u32::from(x)),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_text_imports_without_panic(text in "\\PC{0,400}", bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let lossy = String::from_utf8_lossy(&bytes).into_owned();
        for t in [&text, &lossy] {
            for source in [Source::Shell, Source::Batch, Source::Clab] {
                if let Ok(i) = import::import("x", t, source, None) {
                    for n in &i.notes {
                        prop_assert!(n.line <= t.lines().count() + 1, "{n:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn shell_like_text_imports_without_panic(
        words in prop::collection::vec(prop::sample::select(vec![
            "ip", "sudo", "netns", "exec", "add", "del", "link", "set", "type", "veth", "peer", "name",
            "bridge", "addr", "route", "via", "dev", "up", "down", "master", "-n", "ns1", "ns2", "eth0",
            "10.0.0.1/24", "default", "sysctl", "-w", "net.ipv4.ip_forward=1", "'", "\"", "\\", "$X",
            "X=1", "|", "||", "&&", ";", "\n", "#", ">", "/proc/sys/net/x", "echo", "tee", "sh", "-c",
            "`", "$(", ")", "brctl", "addbr", "addif", "mtu", "1400", "address", "02:00:00:00:00:01",
        ]), 0..80),
    ) {
        let text = words.join(" ");
        let _ = import::import("x.sh", &text, Source::Shell, None);
        let _ = import::import("x.batch", &text, Source::Batch, None);
    }

    #[test]
    fn plausible_scripts_give_lab_files_that_parse_back(cmds in prop::collection::vec(command(), 0..40)) {
        let text = cmds.join("\n");
        let i = import::import("p.sh", &text, Source::Shell, None).unwrap();
        let back = parse_lab("p.yaml", &i.yaml);
        prop_assert!(back.is_ok(), "{:?}\n{}\n---\n{}", back.err(), text, i.yaml);
        prop_assert_eq!(back.unwrap(), i.lab);
    }
}
