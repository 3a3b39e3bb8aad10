//! Link conditions against the real kernel, each test in its own sandbox,
//! checked with independent tools: iperf3 for the rate, iputils' ping for
//! the loss, `tc -j qdisc` and `nft -j list ruleset` for what is set, `ip`
//! for interface indexes and counters. Where the kernel lacks netem, the
//! tests that need it say "skipped: no sch_netem" and assert nothing.

#[macro_use]
mod sandbox;

use std::sync::OnceLock;

use sandbox::harness::Trial;
use serde_json::Value;

/// A two-node lab (the seed's veth pair) with conditions on the link and
/// on ns1's end.
fn two_nodes(link: &str, ns1_end: &str) -> String {
    let mut t = String::from("name: cond\nnodes:\n  ns1: {}\n  ns2: {}\nlinks:\n  - endpoints:\n");
    if ns1_end.is_empty() {
        t.push_str("      - { node: ns1, interface: veth0, ip: 192.168.1.1/24 }\n");
    } else {
        t.push_str(&format!(
            "      - {{ node: ns1, interface: veth0, ip: 192.168.1.1/24, conditions: {{ {ns1_end} }} }}\n"
        ));
    }
    t.push_str("      - { node: ns2, interface: veth1, ip: 192.168.1.2/24 }\n");
    if !link.is_empty() {
        t.push_str(&format!("    conditions: {{ {link} }}\n"));
    }
    t
}

/// Write a lab file inside the sandbox's private /run and return its path.
fn lab_file(sb: &sandbox::Sandbox, name: &str, text: &str) -> String {
    let path = format!("/run/{name}.yaml");
    sb.sh(&format!("cat > {path} <<'EOF'\n{text}EOF")).ok();
    path
}

/// Whether this kernel has netem, asked of tc in a throwaway namespace
/// inside a sandbox (asked once).
fn has_netem() -> bool {
    static NETEM: OnceLock<bool> = OnceLock::new();
    *NETEM.get_or_init(|| {
        sandbox::Sandbox::new()
            .sh("unshare -n tc qdisc add dev lo root netem delay 1ms")
            .code
            == 0
    })
}

/// A kernel test of the netem pair: it runs only where `why_not` finds
/// nothing against it; otherwise it is reported as ignored with that
/// reason (never passed). On any kernel exactly one of the pair can run,
/// so VNET_TESTS_MUST_RUN does not make that a failure; a sandbox that
/// cannot be made does, as for every kernel test.
fn kernel_if(name: &str, why_not: fn() -> Option<&'static str>, f: fn()) -> Trial {
    use libtest_mimic::Completion;
    Trial::ignorable_test(name.replace(' ', ""), move || {
        let must_run = std::env::var_os("VNET_TESTS_MUST_RUN").is_some_and(|v| v != "0");
        match sandbox::mode() {
            Err(why) if must_run => {
                Err(format!("cannot run here, and VNET_TESTS_MUST_RUN is set: {why}").into())
            }
            Err(why) => Ok(Completion::ignored_with(why)),
            Ok(_) => match why_not() {
                Some(why) => Ok(Completion::ignored_with(why)),
                None => {
                    f();
                    Ok(Completion::Completed)
                }
            },
        }
    })
}

fn without_netem() -> Option<&'static str> {
    (!has_netem()).then_some("skipped: no sch_netem (CONFIG_NET_SCH_NETEM) in this kernel")
}

fn with_netem() -> Option<&'static str> {
    has_netem().then_some("skipped: this kernel has sch_netem, so delay is made, not refused")
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `tc -j qdisc show` of a namespace ("" = the sandbox's own).
fn qdiscs(sb: &sandbox::Sandbox, ns: &str) -> Vec<Value> {
    let opt = if ns.is_empty() {
        String::new()
    } else {
        format!("-n {ns} ")
    };
    let out = sb.sh(&format!("tc {opt}-j qdisc show")).ok();
    json(&out.stdout).as_array().cloned().unwrap_or_default()
}

/// The root qdisc of one interface, as tc reports it.
fn root_qdisc(sb: &sandbox::Sandbox, ns: &str, dev: &str) -> Value {
    qdiscs(sb, ns)
        .into_iter()
        .find(|q| q["dev"] == dev && q["root"] == true)
        .unwrap_or(Value::Null)
}

/// `nft -j list ruleset` of a namespace: its tables, chains and rules.
fn ruleset(sb: &sandbox::Sandbox, ns: &str) -> Vec<Value> {
    let pre = if ns.is_empty() {
        String::new()
    } else {
        format!("ip netns exec {ns} ")
    };
    let out = sb.sh(&format!("{pre}nft -j list ruleset")).ok();
    json(&out.stdout)["nftables"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|o| o.get("metainfo").is_none())
        .collect()
}

/// The loss (ppm) nft reports in the egress chain named after a device
/// (nft's JSON leaves out a netdev chain's device; vnet names the chain
/// after it).
fn nft_loss(sb: &sandbox::Sandbox, ns: &str, dev: &str) -> Option<u64> {
    let rs = ruleset(sb, ns);
    rs.iter()
        .find(|o| o["chain"]["hook"] == "egress" && o["chain"]["name"] == dev)?;
    let rule = rs.iter().find(|o| o["rule"]["chain"] == dev)?;
    let exprs = rule["rule"]["expr"].as_array()?;
    // `numgen random mod 1000000 < PPM`, or no test at all: every packet.
    match exprs.iter().find_map(|e| e["match"]["right"].as_u64()) {
        Some(ppm) => Some(ppm),
        None => exprs
            .iter()
            .any(|e| e.get("fwd").is_some())
            .then_some(1_000_000),
    }
}

fn ifindex(sb: &sandbox::Sandbox, ns: &str, name: &str) -> u64 {
    sb.link(ns, name)["ifindex"].as_u64().expect("ifindex")
}

/// iperf3's TCP goodput (bits/s at the receiver) from ns1 to ns2, its
/// server on `port` (one per measurement: the last one may still be going).
fn goodput(sb: &sandbox::Sandbox, seconds: u32, port: u16) -> f64 {
    // The server answers one test; the client starts once it listens.
    let out = sb
        .sh(&format!(
            "ip netns exec ns2 iperf3 -s -1 -D -p {port} && \
             for i in $(seq 100); do ip netns exec ns2 ss -ltnH | grep -q ':{port} ' && break; sleep 0.05; done && \
             ip netns exec ns1 iperf3 -c 192.168.1.2 -p {port} -t {seconds} -O 1 -J"
        ))
        .ok();
    let v = json(&out.stdout);
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("iperf3 reports no bits_per_second: {v}"))
}

fn a_rate_gives_that_tcp_goodput() {
    let sb = sandbox::Sandbox::new();
    for (i, (rate, bps)) in [("1mbit", 1e6), ("10mbit", 10e6), ("100mbit", 100e6)]
        .into_iter()
        .enumerate()
    {
        let f = lab_file(&sb, "rate", &two_nodes(&format!("rate: {rate}"), ""));
        sb.vnet(&format!("up {f}")).ok();
        let secs = if bps < 5e6 { 8 } else { 5 };
        let got = goodput(&sb, secs, 5201 + i as u16);
        let ratio = got / bps;
        // vnet's own measurement of the same link agrees with iperf3's.
        let perf = json(
            &sb.vnet(&format!("perf ns1 ns2 -t {secs} --json"))
                .ok()
                .stdout,
        );
        let ours = perf["bits_per_second"].as_f64().expect("bits_per_second");
        eprintln!(
            "rate {rate}: iperf3 goodput {got:.0} bit/s ({:.1}% of the rate), vnet perf {ours:.0} bit/s",
            ratio * 100.0
        );
        assert!(
            (0.9..=1.1).contains(&ratio),
            "rate {rate}: goodput {got:.0} bit/s is {:.1}% of the rate",
            ratio * 100.0
        );
        assert!(
            (ours - got).abs() <= 0.1 * got,
            "rate {rate}: vnet perf {ours:.0} bit/s, iperf3 {got:.0} bit/s"
        );
    }
    // The seed's bridge lab, 10 mbit/s on ns1's link: through the bridge.
    sb.vnet("down cond").ok();
    let bridge = std::fs::read_to_string(format!(
        "{}/examples/seed-bridge.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replacen(
        "      - { node: br0, interface: br0-veth0 }\n",
        "      - { node: br0, interface: br0-veth0 }\n    conditions: { rate: 10mbit }\n",
        1,
    );
    let f = lab_file(&sb, "bridge", &bridge);
    sb.vnet(&format!("up {f}")).ok();
    let got = goodput(&sb, 5, 5211);
    eprintln!("seed-bridge, rate 10mbit on ns1's link: iperf3 goodput {got:.0} bit/s");
    assert!(
        (0.9..=1.1).contains(&(got / 10e6)),
        "through br0 at 10mbit: {got:.0} bit/s"
    );
}

fn loss_on_one_end_loses_that_share_that_way_only() {
    let sb = sandbox::Sandbox::new();
    let f = lab_file(&sb, "loss", &two_nodes("", "loss: 20%"));
    sb.vnet(&format!("up {f}")).ok();
    assert_eq!(nft_loss(&sb, "ns1", "veth0"), Some(200_000));
    assert_eq!(nft_loss(&sb, "ns2", "veth1"), None);
    let stats = |ns: &str, dev: &str| {
        let l = sb.ip_json(&format!("-n {ns} -s link show dev {dev}"))[0].clone();
        (
            l["stats64"]["tx"]["packets"].as_u64().unwrap_or(0),
            l["stats64"]["rx"]["packets"].as_u64().unwrap_or(0),
        )
    };
    let (_, ns1_rx0) = stats("ns1", "veth0");
    let (ns2_tx0, _) = stats("ns2", "veth1");
    // iputils' ping, 2 ms apart; -q gives the summary only.
    let out = sb.sh("ip netns exec ns1 ping -i 0.002 -c 2000 -q -W 1 192.168.1.2");
    let summary = out.stdout.clone();
    let loss: f64 = summary
        .split(", ")
        .find_map(|p| p.strip_suffix("% packet loss"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no loss in ping's summary: {summary}"));
    eprintln!("ping: {}", summary.trim());
    assert!(
        (17.0..=23.0).contains(&loss),
        "20% loss on ns1's egress: ping lost {loss}%"
    );
    // The other way loses nothing: every reply ns2 sent reached ns1.
    let (_, ns1_rx1) = stats("ns1", "veth0");
    let (ns2_tx1, _) = stats("ns2", "veth1");
    assert_eq!(
        ns1_rx1 - ns1_rx0,
        ns2_tx1 - ns2_tx0,
        "ns2 → ns1 is not affected"
    );
}

fn a_changed_loss_is_changed_in_place() {
    let sb = sandbox::Sandbox::new();
    let ten = lab_file(&sb, "ten", &two_nodes("rate: 10mbit", "loss: 10%"));
    sb.vnet(&format!("up {ten}")).ok();
    let before = (ifindex(&sb, "ns1", "veth0"), ifindex(&sb, "ns2", "veth1"));
    let tbf = root_qdisc(&sb, "ns1", "veth0");
    assert_eq!(tbf["kind"], "tbf", "{tbf}");
    assert_eq!(nft_loss(&sb, "ns1", "veth0"), Some(100_000));
    let twenty = lab_file(&sb, "ten", &two_nodes("rate: 10mbit", "loss: 20%"));
    let out = sb.vnet(&format!("up {twenty}")).ok();
    assert!(
        out.stdout.contains("0 created, 1 changed, 0 removed"),
        "{}",
        out.stdout
    );
    assert_eq!(
        before,
        (ifindex(&sb, "ns1", "veth0"), ifindex(&sb, "ns2", "veth1"))
    );
    assert_eq!(nft_loss(&sb, "ns1", "veth0"), Some(200_000));
    // The rate's qdisc was left alone (same handle, not re-made).
    assert_eq!(root_qdisc(&sb, "ns1", "veth0")["handle"], tbf["handle"]);
    let again = sb.vnet(&format!("up {twenty}")).ok();
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
}

fn impair_changes_only_what_it_is_given_and_clear_restores_a_clean_link() {
    let sb = sandbox::Sandbox::new();
    let f = lab_file(&sb, "plain", &two_nodes("", ""));
    sb.vnet(&format!("up {f}")).ok();
    sb.vnet("impair ns1:veth0 --loss 50%").ok();
    let out = sb.vnet("impair ns1:veth0 --rate 5mbit --json").ok();
    let r = json(&out.stdout);
    assert_eq!(r["after"]["loss"], "50%", "{r}");
    assert_eq!(r["after"]["rate"], "5mbit", "{r}");
    // As the independent tools see it: the loss kept, the rate added.
    assert_eq!(nft_loss(&sb, "ns1", "veth0"), Some(500_000));
    let q = root_qdisc(&sb, "ns1", "veth0");
    assert_eq!(q["kind"], "tbf", "{q}");
    assert_eq!(q["options"]["rate"], 625_000, "5 mbit/s in bytes: {q}");
    // status shows the live change as drift; the next up undoes it.
    let st = sb.vnet("status cond").ok();
    assert!(st.stdout.contains("loss 50% rate 5mbit"), "{}", st.stdout);
    assert!(st.stdout.contains("drift: 3 change"), "{}", st.stdout);
    sb.vnet("impair ns1:veth0 --clear").ok();
    assert_eq!(root_qdisc(&sb, "ns1", "veth0")["kind"], "noqueue");
    assert!(ruleset(&sb, "ns1").is_empty(), "{:?}", ruleset(&sb, "ns1"));
    assert!(sb.pings("ns1", "192.168.1.2"));
    // A namespace made by hand works the same way.
    sb.sh("ip netns add byhand && ip -n byhand link add va type veth peer name vb")
        .ok();
    sb.vnet("impair byhand:va --loss 100% --limit 10").ok();
    assert_eq!(nft_loss(&sb, "byhand", "va"), Some(1_000_000));
    assert_eq!(root_qdisc(&sb, "byhand", "va")["kind"], "pfifo");
    sb.vnet("impair byhand:va --clear").ok();
    assert!(ruleset(&sb, "byhand").is_empty());
}

fn up_brings_the_files_conditions_back_after_a_live_change() {
    let sb = sandbox::Sandbox::new();
    let f = lab_file(&sb, "back", &two_nodes("rate: 10mbit", "loss: 10%"));
    sb.vnet(&format!("up {f}")).ok();
    sb.vnet("impair ns1:veth0 --loss 90% --rate 1mbit").ok();
    sb.vnet("impair ns2:veth1 --clear").ok();
    let out = sb.vnet(&format!("up {f}")).ok();
    assert!(out.stdout.contains("2 changed"), "{}", out.stdout);
    assert_eq!(nft_loss(&sb, "ns1", "veth0"), Some(100_000));
    for (ns, dev) in [("ns1", "veth0"), ("ns2", "veth1")] {
        let q = root_qdisc(&sb, ns, dev);
        assert_eq!(q["options"]["rate"], 1_250_000, "{ns}:{dev}: {q}");
    }
}

fn delay_without_netem_is_refused_before_any_change() {
    let sb = sandbox::Sandbox::new();
    let f = lab_file(&sb, "delay", &two_nodes("rate: 10mbit, delay: 20ms", ""));
    let out = sb.vnet(&format!("up {f}")).expect(2);
    for word in [
        "delay 20ms",
        "sch_netem",
        "CONFIG_NET_SCH_NETEM",
        "modprobe sch_netem",
    ] {
        assert!(
            out.stderr.contains(word),
            "`{word}` missing:\n{}",
            out.stderr
        );
    }
    assert!(out.stderr.contains("delay.yaml:"), "{}", out.stderr);
    // Nothing changed: no namespace, no interface but lo, no qdisc, no table.
    assert!(sb.netns().is_empty());
    assert_eq!(sb.links(""), ["lo"]);
    assert!(ruleset(&sb, "").is_empty());
    let imp = sb.vnet("impair host:lo --delay 5ms").expect(2);
    assert!(imp.stderr.contains("sch_netem"), "{}", imp.stderr);
}

fn with_netem_delay_is_made_and_measured() {
    let sb = sandbox::Sandbox::new();
    let f = lab_file(&sb, "delay", &two_nodes("", "delay: 50ms, loss: 1%"));
    sb.vnet(&format!("up {f}")).ok();
    let q = root_qdisc(&sb, "ns1", "veth0");
    assert_eq!(q["kind"], "netem", "{q}");
    let out = sb.sh("ip netns exec ns1 ping -c 3 -i 0.2 192.168.1.2").ok();
    let avg: f64 = out
        .stdout
        .lines()
        .find_map(|l| l.split(" = ").nth(1))
        .and_then(|v| v.split('/').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(avg >= 50.0, "rtt {avg} ms with 50 ms delay on one way");
}

fn down_leaves_no_qdisc_and_no_table_behind() {
    let sb = sandbox::Sandbox::new();
    sb.vnet("up examples/conditions.yaml").ok();
    // Conditions on a host interface too, changed live.
    sb.vnet("impair host:br0-veth1 --loss 5%").ok();
    assert!(!ruleset(&sb, "").is_empty());
    sb.vnet("down conditions").ok();
    assert!(sb.netns().is_empty());
    assert_eq!(sb.links(""), ["lo"]);
    assert!(
        ruleset(&sb, "").is_empty(),
        "left in the host: {:?}",
        ruleset(&sb, "")
    );
    let left: Vec<Value> = qdiscs(&sb, "")
        .into_iter()
        .filter(|q| q["kind"] != "noqueue")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn dry_runs_print_the_tc_and_nft_commands_that_build_the_same() {
    let sb = sandbox::Sandbox::new();
    let script = sb.vnet("up --dry-run examples/conditions.yaml").ok().stdout;
    assert!(
        script.contains("tc qdisc replace dev br0-veth0 root"),
        "{script}"
    );
    sb.sh(&format!(
        "cat > /run/plan.sh <<'EOF'\n{script}EOF\nsh /run/plan.sh"
    ))
    .ok();
    // vnet reads what the script built as its own lab, conditions included.
    let again = sb.vnet("up examples/conditions.yaml").ok();
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
}

fn main() -> std::process::ExitCode {
    sandbox::harness::run(vec![
        kernel_with!(a_rate_gives_that_tcp_goodput, "iperf3"),
        kernel!(loss_on_one_end_loses_that_share_that_way_only),
        kernel!(a_changed_loss_is_changed_in_place),
        kernel!(impair_changes_only_what_it_is_given_and_clear_restores_a_clean_link),
        kernel!(up_brings_the_files_conditions_back_after_a_live_change),
        kernel_if(
            "delay_without_netem_is_refused_before_any_change",
            with_netem,
            delay_without_netem_is_refused_before_any_change,
        ),
        kernel_if(
            "with_netem_delay_is_made_and_measured",
            without_netem,
            with_netem_delay_is_made_and_measured,
        ),
        kernel!(down_leaves_no_qdisc_and_no_table_behind),
        kernel!(dry_runs_print_the_tc_and_nft_commands_that_build_the_same),
        kernel!(the_doctor_names_a_condition_that_explains_a_failure),
    ])
}

fn the_doctor_names_a_condition_that_explains_a_failure() {
    let sb = sandbox::Sandbox::new();
    sb.vnet("up examples/seed-bridge.yaml").ok();
    sb.vnet("impair ns1:veth0 --loss 100%").ok();
    let out = sb.vnet("doctor --json -W 0.5 ns1 ns2").expect(1);
    let v = json(&out.stdout);
    let cause = v["causes"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == "cond.loss"))
        .unwrap_or_else(|| panic!("no cond.loss in {v}"));
    assert_eq!(
        cause["cause"], "loss 100% set on ns1:veth0's egress",
        "{cause}"
    );
    assert_eq!(cause["guess"], false, "{cause}");
    let fixes: Vec<&str> = cause["fixes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["commands"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    assert!(
        fixes.contains(&"vnet impair ns1:veth0 --clear"),
        "{fixes:?}"
    );
    // vnet's own loss rule is not blamed as someone's firewall.
    assert!(
        !v["causes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"].as_str().unwrap_or("").starts_with("filter.")),
        "{v}"
    );
    // The path works again once cleared; conditions on it are noted.
    sb.vnet("impair ns1:veth0 --clear").ok();
    sb.vnet("impair host:br0-veth1 --rate 10mbit").ok();
    let out = sb.vnet("doctor ns1 ns2").ok();
    assert!(out.stdout.contains("the path works"), "{}", out.stdout);
    assert!(
        out.stdout.contains("host:br0-veth1's egress: rate 10mbit"),
        "{}",
        out.stdout
    );
}
