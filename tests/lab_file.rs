//! Lab files, good and bad: no root needed. Every refusal names
//! file:line:column, underlines the text and gives a hint; nothing panics.

use std::process::Command;

use proptest::prelude::*;
use vnet::model::parse_lab;

fn validate(text: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("vnet-labfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{:x}.yaml", fxhash(text)));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vnet"))
        .args(["validate", path.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// (what, file, text expected in the message, line:column expected)
const BAD: &[(&str, &str, &str, &str)] = &[
    (
        "unknown key",
        "name: x\nnodes:\n  ns1: { colour: red }\n",
        "unknown field `colour`",
        ":3:10",
    ),
    (
        "bad CIDR",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [{node: a, interface: e0, ip: 10.0.0.1/33}, \"b:e0\"]\n",
        "not a valid CIDR",
        ":4:",
    ),
    (
        "no prefix",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [{node: a, interface: e0, ip: 10.0.0.1}, \"b:e0\"]\n",
        "has no prefix length",
        ":4:",
    ),
    (
        "long interface name",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:abcdefghijklmnop\", \"b:e0\"]\n",
        "at most 15",
        ":4:20",
    ),
    (
        "slash in interface name",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:e/0\", \"b:e0\"]\n",
        "path separator",
        ":4:",
    ),
    (
        "space in interface name",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [{node: a, interface: \"e 0\"}, \"b:e0\"]\n",
        "a space",
        ":4:",
    ),
    (
        "duplicate interface",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:e0\", \"b:e0\"]\n  - endpoints: [\"a:e0\", \"b:e1\"]\n",
        "already used in namespace `a`",
        ":5:",
    ),
    (
        "unknown node",
        "name: x\nnodes: {a: {}}\nlinks:\n  - endpoints: [\"a:e0\", \"zz:e0\"]\n",
        "`zz` is not a node",
        ":4:",
    ),
    (
        "both ends on one bridge",
        "name: x\nnodes: {br0: {kind: bridge}}\nlinks:\n  - endpoints: [\"br0:p0\", \"br0:p1\"]\n",
        "both ends",
        ":4:",
    ),
    (
        "same address twice",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [{node: a, interface: e0, ip: 10.0.0.1/24}, {node: b, interface: e0, ip: 10.0.0.1/24}]\n",
        "used twice",
        ":4:",
    ),
    (
        "bridge in a missing node",
        "name: x\nnodes:\n  br0: { kind: bridge, in: nowhere }\n",
        "not a node of this lab",
        ":3:28",
    ),
    (
        "reserved name",
        "name: x\nnodes:\n  host: {}\n",
        "reserved",
        ":3:3",
    ),
    (
        "path in node name",
        "name: x\nnodes:\n  ../../etc: {}\n",
        "path separator",
        ":3:3",
    ),
    (
        "bad lab name",
        "name: My_Lab\n",
        "not allowed in a lab name",
        ":1:7",
    ),
    ("no name", "nodes: {}\n", "has no `name`", ":1:1"),
    (
        "unknown kind",
        "name: x\nnodes:\n  s1: { kind: switch }\n",
        "unknown node kind",
        ":3:15",
    ),
    (
        "bad route",
        "name: x\nnodes:\n  a: { routes: [\"10.0.0.0/8 gw 10.0.0.1\"] }\n",
        "`gw` is not supported",
        ":3:",
    ),
    (
        "host-wide sysctl",
        "name: x\nnodes:\n  a: { sysctls: { kernel.panic: 1 } }\n",
        "not a per-namespace sysctl",
        ":3:",
    ),
    (
        "bad MTU",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:e0\", \"b:e0\"]\n    mtu: 10\n",
        "out of range",
        ":5:10",
    ),
    (
        "bad MAC",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [{node: a, interface: e0, mac: \"zz:00:00:00:00:01\"}, \"b:e0\"]\n",
        "bad MAC",
        ":4:",
    ),
    (
        "one endpoint",
        "name: x\nnodes: {a: {}}\nlinks:\n  - endpoints: [\"a:e0\"]\n",
        "exactly two endpoints",
        ":4:",
    ),
    ("syntax error", "name: x\nnodes: [\n", "expected", ":2:"),
    (
        "gateway off every subnet",
        "name: x\nnodes:\n  a: { routes: [\"10.9.0.0/16 via 10.8.0.1\"] }\n  b: {}\nlinks:\n  - endpoints: [{node: a, interface: e0, ip: 10.0.0.1/24}, \"b:e0\"]\n",
        "not on a subnet",
        ":3:17",
    ),
    (
        "address on a bridge port",
        "name: x\nnodes: {a: {}, br0: {kind: bridge}}\nlinks:\n  - endpoints: [\"a:e0\", {node: br0, interface: p0, ip: 10.0.0.1/24}]\n",
        "bridge port",
        ":4:",
    ),
    (
        "condition: bad unit",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:e0\", \"b:e0\"]\n    conditions: { delay: 20 minutes }\n",
        "is not a unit of time",
        ":5:26",
    ),
    (
        "condition: time without a unit",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:e0\", \"b:e0\"]\n    conditions: { delay: 20 }\n",
        "has no unit",
        ":5:26",
    ),
    (
        "condition: rate unit",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:e0\", \"b:e0\"]\n    conditions: { rate: 10 mb }\n",
        "is not a unit of rate",
        ":5:25",
    ),
    (
        "condition: loss above 100%",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [{node: a, interface: e0, conditions: {loss: 120%}}, \"b:e0\"]\n",
        "more than 100%",
        ":4:",
    ),
    (
        "condition: loss without a percent sign",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:e0\", \"b:e0\"]\n    conditions: { loss: 0.5 }\n",
        "has no percent sign",
        ":5:25",
    ),
    (
        "condition: jitter without delay",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:e0\", \"b:e0\"]\n    conditions: { jitter: 5ms, loss: 1% }\n",
        "jitter without a delay",
        ":5:19",
    ),
    (
        "condition: negative",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:e0\", \"b:e0\"]\n    conditions: { delay: -5ms }\n",
        "cannot be negative",
        ":5:26",
    ),
    (
        "condition: zero rate",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:e0\", \"b:e0\"]\n    conditions: { rate: 0mbit }\n",
        "a rate of zero",
        ":5:25",
    ),
    (
        "condition: limit 0",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:e0\", \"b:e0\"]\n    conditions: { limit: 0 }\n",
        "a queue limit of 0",
        ":5:26",
    ),
    (
        "condition: unknown key",
        "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:e0\", \"b:e0\"]\n    conditions: { latency: 5ms }\n",
        "`latency` is not a condition",
        ":5:19",
    ),
];

#[test]
fn every_bad_file_is_refused_with_its_place_and_a_hint() {
    for (what, text, message, place) in BAD {
        let (code, out) = validate(text);
        assert_eq!(code, 2, "{what}: exit code\n{out}");
        assert!(
            out.contains(message),
            "{what}: message `{message}` missing in\n{out}"
        );
        assert!(
            out.contains(place),
            "{what}: place `{place}` missing in\n{out}"
        );
        assert!(
            out.contains("help:") || *what == "syntax error",
            "{what}: no hint in\n{out}"
        );
        assert!(
            out.contains('─'),
            "{what}: the text is not underlined\n{out}"
        );
    }
}

#[test]
fn a_bridge_holds_at_most_1023_ports() {
    let mut t = String::from("name: x\nnodes:\n  br0: { kind: bridge }\n");
    for i in 0..1024 {
        t.push_str(&format!("  n{i}: {{}}\n"));
    }
    t.push_str("links:\n");
    for i in 0..1024 {
        t.push_str(&format!("  - endpoints: [\"n{i}:e0\", \"br0:p{i}\"]\n"));
    }
    let e = parse_lab("ports.yaml", &t).unwrap_err();
    assert!(
        e.plain_lines()
            .iter()
            .any(|l| l.contains("1024 ports") && l.contains(":3:3")),
        "{e:?}"
    );
}

#[test]
fn the_examples_are_valid() {
    for f in ["seed-veth", "seed-bridge", "router"] {
        let path = format!("{}/examples/{f}.yaml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        parse_lab(&path, &text).unwrap_or_else(|e| panic!("{f}: {e:?}"));
        let (code, out) = validate(&text);
        assert_eq!(code, 0, "{out}");
    }
}

#[test]
fn hostile_files_are_refused_without_harm() {
    // Alias bomb: each level doubles; expansion is capped by the parser's budget.
    let mut bomb = String::from("a0: &a0 [x, x]\n");
    for i in 1..40 {
        bomb.push_str(&format!("a{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1));
    }
    bomb.push_str("name: x\n");
    assert!(parse_lab("bomb.yaml", &bomb).is_err());
    // Deep nesting.
    let deep = format!(
        "name: x\nnodes: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(parse_lab("deep.yaml", &deep).is_err());
    // NUL bytes and control characters.
    assert!(parse_lab("nul.yaml", "name: x\0\n").is_err());
    assert!(parse_lab("ctl.yaml", "name: x\nnodes:\n  \"a\\u0007b\": {}\n").is_err());
    // Huge file.
    let huge = format!("name: x\n#{}\n", "x".repeat(17 << 20));
    assert!(parse_lab("huge.yaml", &huge).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_parser_never_panics_on_any_text(text in "\\PC{0,400}") {
        let _ = parse_lab("fuzz.yaml", &text);
    }

    #[test]
    fn the_validator_never_panics_on_lab_shaped_text(
        name in "[a-z0-9_./ -]{0,40}",
        nodes in proptest::collection::vec(("[a-z0-9./:]{0,20}", 0u8..4), 0..6),
        links in proptest::collection::vec(("[a-z0-9]{0,4}", "[a-z0-9 /:]{0,20}", "[0-9./:a-f]{0,20}"), 0..6),
    ) {
        let mut text = format!("name: \"{name}\"\nnodes:\n");
        for (n, k) in &nodes {
            let kind = ["netns", "bridge", "router", ""][*k as usize];
            text.push_str(&format!("  \"{n}\": {{ kind: \"{kind}\" }}\n"));
        }
        text.push_str("links:\n");
        for (node, iface, ip) in &links {
            text.push_str(&format!(
                "  - endpoints: [{{ node: \"{node}\", interface: \"{iface}\", ip: \"{ip}\" }}, \"{node}:{iface}\"]\n"
            ));
        }
        let _ = parse_lab("fuzz.yaml", &text);
    }
}

#[test]
fn toml_lab_files_mean_the_same_and_fail_the_same_way() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let yaml = std::fs::read_to_string(format!("{dir}/examples/seed-bridge.yaml")).unwrap();
    let toml = std::fs::read_to_string(format!("{dir}/examples/seed-bridge.toml")).unwrap();
    assert_eq!(
        parse_lab("a.yaml", &yaml).unwrap(),
        parse_lab("a.toml", &toml).unwrap()
    );
    let bad = "name = \"x\"\n[nodes.ns1]\n[[links]]\nendpoints = [\"ns1:e0\", \"zz:e1\"]\n";
    let e = parse_lab("bad.toml", bad).unwrap_err();
    assert_eq!(
        e.plain_lines(),
        ["bad.toml:4:25: `zz` is not a node of this lab"]
    );
    let e = parse_lab("bad.toml", "name = \"x\"\ncolour = 1\n").unwrap_err();
    assert!(
        e.plain_lines()[0].starts_with("bad.toml:2:1: unknown field `colour`"),
        "{e:?}"
    );
}

#[test]
fn conditions_mean_the_same_in_toml_and_fail_the_same_way() {
    let yaml = "name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:e0\", {node: b, interface: e0, conditions: {loss: 20%, limit: 100}}]\n    conditions: { delay: 20ms, jitter: 5ms, rate: 10mbit }\n";
    let toml = "name = \"x\"\n[nodes.a]\n[nodes.b]\n[[links]]\nendpoints = [\"a:e0\", { node = \"b\", interface = \"e0\", conditions = { loss = \"20%\", limit = 100 } }]\nconditions = { delay = \"20ms\", jitter = \"5ms\", rate = \"10mbit\" }\n";
    let a = parse_lab("a.yaml", yaml).unwrap();
    let b = parse_lab("a.toml", toml).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        a.links[0].egress(1).to_string(),
        "delay 20ms jitter 5ms loss 20% rate 10mbit limit 100"
    );
    assert_eq!(
        a.links[0].egress(0).to_string(),
        "delay 20ms jitter 5ms rate 10mbit"
    );
    let bad = "name = \"x\"\n[nodes.a]\n[nodes.b]\n[[links]]\nendpoints = [\"a:e0\", \"b:e0\"]\nconditions = { loss = \"120%\" }\n";
    let e = parse_lab("bad.toml", bad).unwrap_err();
    assert!(
        e.plain_lines()[0].starts_with("bad.toml:6:23: loss `120%` is more than 100%"),
        "{e:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_toml_parser_never_panics(text in "\\PC{0,300}") {
        let _ = parse_lab("fuzz.toml", &text);
    }
}

/// Hostile files, by class: (class, file name, contents, text the refusal
/// must contain). The README's table of bad-file classes is these messages.
fn hostile() -> Vec<(&'static str, &'static str, Vec<u8>, &'static str)> {
    // Billion laughs: 30 levels of ten aliases each, 10^30 nodes expanded.
    let mut bomb = String::from("name: x\nlinks: [&a0 [x, x, x, x, x, x, x, x, x, x]");
    for i in 1..30 {
        bomb.push_str(&format!(
            ", &a{i} [{}]",
            vec![format!("*a{}", i - 1); 10].join(", ")
        ));
    }
    bomb.push_str("]\n");
    // Amplification that fits the schema: a 1 MB string used 20,000 times
    // (20 GB expanded), and a map of 1,000 keys used by 20,000 nodes.
    let strings = format!(
        "name: x\nnodes:\n  a:\n    routes: [&r \"{}\"{}]\n",
        "x".repeat(1 << 20),
        ", *r".repeat(20_000)
    );
    let mut maps = String::from("name: x\nnodes:\n  a:\n    sysctls: &s {");
    let keys: Vec<String> = (0..1000)
        .map(|i| format!("net.ipv4.conf.all.k{i}: 1"))
        .collect();
    maps.push_str(&keys.join(", "));
    maps.push_str("}\n");
    for i in 0..20_000 {
        maps.push_str(&format!("  b{i}: {{sysctls: *s}}\n"));
    }
    let mut huge = b"name: x\n#".to_vec();
    huge.resize(17 << 20, b'x');
    vec![
        (
            "YAML alias bomb (billion laughs, 10^30 nodes)",
            "bomb.yaml",
            bomb.into_bytes(),
            "expected mapping start",
        ),
        (
            "alias amplification: a 1 MiB string used 20,000 times",
            "strings.yaml",
            strings.into_bytes(),
            "the file expands to more YAML than a lab file can hold (ScalarBytes",
        ),
        (
            "alias amplification: a 1,000-key map used 20,000 times",
            "maps.yaml",
            maps.into_bytes(),
            "the file expands to more YAML than a lab file can hold (Nodes",
        ),
        (
            "an error past column 65,535 (a 70,000-byte line)",
            "wide.yaml",
            format!(
                "name: x\nnodes: {{{}a: {{colour: 1}}}}\n",
                " ".repeat(70_000)
            )
            .into_bytes(),
            "(a line of 70023 bytes: not shown)",
        ),
        (
            "deep YAML nesting (100,000 `[`)",
            "deep.yaml",
            format!(
                "name: x\nnodes: {}{}\n",
                "[".repeat(100_000),
                "]".repeat(100_000)
            )
            .into_bytes(),
            "expected mapping start",
        ),
        (
            "deep YAML maps (10,000 levels)",
            "deepmap.yaml",
            format!(
                "name: x\nnodes: {}{}\n",
                "{a: ".repeat(10_000),
                "}".repeat(10_000)
            )
            .into_bytes(),
            "unknown field `a`",
        ),
        (
            "deep TOML nesting (100,000 `[`)",
            "deep.toml",
            format!(
                "name = \"x\"\nnodes = {}{}\n",
                "[".repeat(100_000),
                "]".repeat(100_000)
            )
            .into_bytes(),
            "cannot recurse further; max recursion depth met",
        ),
        (
            "deep TOML inline tables (10,000 levels)",
            "deepmap.toml",
            format!(
                "name = \"x\"\nnodes = {}1{}\n",
                "{a = ".repeat(10_000),
                "}".repeat(10_000)
            )
            .into_bytes(),
            "cannot recurse further; max recursion depth met",
        ),
        (
            "huge file (17 MiB)",
            "huge.yaml",
            huge,
            "lab files are limited to 16777216",
        ),
        (
            "NUL byte",
            "nul.yaml",
            b"name: x\nnodes:\n  a\0b: {}\n".to_vec(),
            "the file contains a NUL byte",
        ),
        (
            "not UTF-8",
            "latin1.yaml",
            b"name: x\nnodes:\n  caf\xe9: {}\n".to_vec(),
            "is not UTF-8 text",
        ),
        (
            "control character in a node name",
            "bell.yaml",
            b"name: x\nnodes:\n  \"a\\u0007b\": {}\n".to_vec(),
            "the control character U+0007 is not allowed in a node name",
        ),
        (
            "newline in a node name",
            "newline.yaml",
            b"name: x\nnodes:\n  \"a\\nb\": {}\n".to_vec(),
            "the control character U+000A is not allowed in a node name",
        ),
        (
            "path in a node name",
            "path.yaml",
            b"name: x\nnodes:\n  ../../etc: {}\n".to_vec(),
            "'/' (a path separator) is not allowed in a node name",
        ),
        (
            "dot name",
            "dots.yaml",
            b"name: x\nnodes:\n  ..: {}\n".to_vec(),
            "a node name cannot start with '.' or '-'",
        ),
        (
            "path in a lab name",
            "labpath.yaml",
            b"name: ../x\n".to_vec(),
            "'.' is not allowed in a lab name",
        ),
        (
            "path in an interface name",
            "ifpath.yaml",
            b"name: x\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [\"a:../e0\", \"b:e0\"]\n"
                .to_vec(),
            "'/' (a path separator) is not allowed in an interface name",
        ),
        (
            "overlong node name",
            "long.yaml",
            format!("name: x\nnodes:\n  {}: {{}}\n", "n".repeat(300)).into_bytes(),
            "the node name is 300 bytes; at most 64 are allowed",
        ),
        (
            "duplicate key",
            "dup.yaml",
            b"name: x\nname: y\n".to_vec(),
            "duplicate mapping key: name",
        ),
        (
            "empty file",
            "empty.yaml",
            Vec::new(),
            "the lab has no `name`",
        ),
    ]
}

#[test]
fn hostile_files_get_a_clear_refusal_quickly() {
    let dir = std::env::temp_dir().join(format!("vnet-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (class, file, bytes, message) in hostile() {
        let path = dir.join(file);
        std::fs::write(&path, &bytes).unwrap();
        let started = std::time::Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_vnet"))
            .args(["validate", path.to_str().unwrap()])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let took = started.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{class}: {err}");
        assert!(
            err.contains(message),
            "{class}: `{message}` missing in\n{err}"
        );
        assert!(!err.contains("panicked"), "{class}: {err}");
        assert!(took.as_secs() < 10, "{class}: took {took:?}");
        // The first line of the refusal, for the README's table.
        eprintln!("| {class} | {} |", err.lines().next().unwrap_or("").trim());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
