//! Loss without netem: one nftables rule per interface, in a netdev-family
//! base chain on the interface's egress hook, in a table vnet owns
//! (`conditions::loss_table`):
//!
//! ```text
//! table netdev vnet-LAB {
//!     chain veth0 {
//!         type filter hook egress device "veth0" priority 0; policy accept;
//!         numgen random mod 1000000 < 200000 counter fwd to "lo"
//!     }
//! }
//! ```
//!
//! A random number below the loss in parts per million takes the packet
//! away (1 ppm resolution). Away, not `drop`: a drop at the egress hook is
//! reported to the sender (NET_XMIT_DROP, ENOBUFS), and senders in the
//! namespace then send again — ping re-sends, TCP retries at once — so
//! nothing would look lost. A packet sent to `lo` instead leaves silently,
//! as on a real lossy link (and as netem's loss does); `lo` takes it in as
//! addressed to another host and discards it. Pure: the shape of the rule,
//! and reading the losses back from a ruleset as `kernel::nft` reports it.

use std::collections::BTreeMap;

use super::conditions::Percent;
use super::nft::{Expr, NETDEV, NETDEV_EGRESS, Ruleset};

/// numgen's range: the rule compares a random number in 0..MODULUS.
pub const MODULUS: u32 = 1_000_000;
/// NFT_CMP_LT.
pub const CMP_LT: u32 = 2;
/// Where lost packets go: `lo`, index 1 in every namespace.
pub const SINK_IFINDEX: u32 = 1;

/// The chain of an interface: its name when nft reads that as a name
/// (a letter, then letters, digits, `_`, `.`, `-`), else `dev_` and its
/// bytes in hex, so any interface name gives a chain nft can address.
pub fn chain_name(ifname: &str) -> String {
    let mut chars = ifname.chars();
    let plain = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if plain {
        ifname.to_string()
    } else {
        let hex: String = ifname.bytes().map(|b| format!("{b:02x}")).collect();
        format!("dev_{hex}")
    }
}

/// The loss each device's egress chain in `table` applies, by device
/// name. A chain whose rule does not have the shape vnet writes is
/// skipped (it is not a loss vnet can state).
pub fn losses(rs: &Ruleset, table: &str) -> BTreeMap<String, Percent> {
    let mut out = BTreeMap::new();
    for c in &rs.chains {
        if c.family != NETDEV || c.table != table {
            continue;
        }
        let Some(dev) = c
            .hook
            .as_ref()
            .filter(|h| h.num == NETDEV_EGRESS)
            .and_then(|h| h.dev.clone())
        else {
            continue;
        };
        let found = rs.rules_of(c).find_map(|r| {
            let is = |e: &Expr, n: &str| matches!(e, Expr::Other { name } if name == n);
            if !r.exprs.iter().any(|e| is(e, "fwd")) {
                return None;
            }
            // Without a random number, every packet (100%).
            let Some(numgen) = r.exprs.iter().position(|e| is(e, "numgen")) else {
                return Some(Percent(MODULUS));
            };
            r.exprs[numgen..].iter().find_map(|e| match e {
                Expr::Cmp { op, data, .. } if *op == CMP_LT && data.len() == 4 => {
                    let v = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                    Some(Percent(v.min(MODULUS)))
                }
                _ => None,
            })
        });
        if let Some(p) = found.filter(|p| p.0 > 0) {
            out.insert(dev, p);
        }
    }
    out
}

/// A ruleset without vnet's loss tables, and the losses they hold by
/// device: what the doctor judges as filtering, and what it reports as
/// conditions.
pub fn split(mut rs: Ruleset) -> (Ruleset, BTreeMap<String, Percent>) {
    let ours = |t: &str| super::conditions::is_loss_table(t);
    let mut found = BTreeMap::new();
    let tables: Vec<String> = rs
        .tables
        .iter()
        .filter(|t| t.family == NETDEV && ours(&t.name))
        .map(|t| t.name.clone())
        .collect();
    for t in &tables {
        found.extend(losses(&rs, t));
    }
    let gone = |family: u8, table: &str| family == NETDEV && tables.iter().any(|t| t == table);
    rs.tables.retain(|t| !gone(t.family, &t.name));
    rs.chains.retain(|c| !gone(c.family, &c.table));
    rs.rules.retain(|r| !gone(r.family, &r.table));
    (rs, found)
}

/// Whether `table` holds any chain (once its last loss rule is gone the
/// table goes too).
pub fn table_in_use(rs: &Ruleset, table: &str) -> bool {
    rs.chains
        .iter()
        .any(|c| c.family == NETDEV && c.table == table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::nft::{Chain, Data, Hook, Rule, Table};

    #[test]
    fn chain_names_nft_can_read() {
        assert_eq!(chain_name("veth0"), "veth0");
        assert_eq!(chain_name("br0-veth1"), "br0-veth1");
        assert_eq!(chain_name("0a"), "dev_3061");
        assert_eq!(chain_name("a#b"), "dev_612362");
    }

    fn ruleset(dev: &str, exprs: Vec<Expr>) -> Ruleset {
        let chain = Chain {
            family: NETDEV,
            table: "vnet-t".into(),
            name: chain_name(dev),
            hook: Some(Hook {
                num: NETDEV_EGRESS,
                priority: 0,
                dev: Some(dev.into()),
            }),
            policy: Some(1),
            kind: Some("filter".into()),
            packets: None,
        };
        Ruleset {
            tables: vec![Table {
                family: NETDEV,
                name: "vnet-t".into(),
            }],
            rules: vec![Rule {
                family: NETDEV,
                table: "vnet-t".into(),
                chain: chain.name.clone(),
                handle: 2,
                exprs,
            }],
            chains: vec![chain],
        }
    }

    fn vnets_rule(ppm: u32) -> Vec<Expr> {
        vec![
            Expr::Other {
                name: "numgen".into(),
            },
            Expr::Other {
                name: "byteorder".into(),
            },
            Expr::Cmp {
                sreg: 1,
                op: CMP_LT,
                data: ppm.to_be_bytes().to_vec(),
            },
            Expr::Counter {
                packets: 0,
                bytes: 0,
            },
            Expr::Immediate {
                dreg: 1,
                data: Data::Value(1u32.to_ne_bytes().to_vec()),
            },
            Expr::Other { name: "fwd".into() },
        ]
    }

    #[test]
    fn losses_read_back_by_device() {
        let rs = ruleset("veth0", vnets_rule(200_000));
        assert_eq!(losses(&rs, "vnet-t").get("veth0"), Some(&Percent(200_000)));
        assert!(losses(&rs, "vnet-other").is_empty());
        assert!(table_in_use(&rs, "vnet-t"));
        // A rule of another shape is not a loss.
        let other = ruleset(
            "veth0",
            vec![Expr::Counter {
                packets: 0,
                bytes: 0,
            }],
        );
        assert!(losses(&other, "vnet-t").is_empty());
    }
}
