//! How long a 10-node lab takes to come up and go down through the library:
//! `Lab::up` (until the network forwards) and `RunningLab::down`, N rounds
//! (default 30), median and range. Needs root; `bench/library.sh` runs it in
//! a throwaway network namespace of its own.

use std::time::Instant;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), vnet::Error> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30)
        .max(1);
    // Ten hosts on one bridge, 10.0.0.1-10.
    let mut b = vnet::Lab::builder("bench").bridge("br0");
    for i in 1..=10 {
        b = b.node(&format!("h{i}")).link(
            vnet::End::new(&format!("h{i}:eth0")).ip(&format!("10.0.0.{i}/24")),
            format!("br0:p{i}").as_str(),
        );
    }
    let lab = b.build()?;
    // Checked once: the lab forwards when `up` returns.
    let net = lab.up()?;
    assert!(net.ping_all()?.all_reachable());
    net.down()?;
    let (mut ups, mut downs, mut both) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        let net = lab.up()?;
        let up = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        net.down()?;
        let down = t.elapsed().as_secs_f64() * 1e3;
        ups.push(up);
        downs.push(down);
        both.push(up + down);
    }
    let range = |v: &[f64]| {
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(0.0, f64::max);
        format!("{min:.1}–{max:.1}")
    };
    println!(
        "10-node lab through the library, {rounds} rounds: up + down median {:.1} ms ({} ms); up {:.1} ms, down {:.1} ms",
        median(&mut both.clone()),
        range(&both),
        median(&mut ups),
        median(&mut downs)
    );
    Ok(())
}
