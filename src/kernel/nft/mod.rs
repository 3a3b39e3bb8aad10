//! The nftables ruleset of a namespace, read over nfnetlink
//! (NETLINK_NETFILTER, subsystem NFNL_SUBSYS_NFTABLES) with three dumps:
//! tables, chains, rules. No `nft` binary is involved; iptables-nft keeps its
//! rules in nftables, so they are read the same way. Parsing is pure and
//! unit-tested; only `read` touches the kernel.

mod uapi;

use std::os::fd::BorrowedFd;

use netlink_packet_core::{NLA_HEADER_SIZE, NlasIterator};

use self::uapi::*;
use super::error::KernelError;
use super::netlink::nfnl::{NFNL_SUBSYS_NFTABLES, Nfnl};
use super::netns;
use crate::model::nft::{Chain, Data, Expr, Hook, Rule, Ruleset, Table};

/// Read every table, chain and rule of the namespace behind `ns`. The
/// socket is opened from inside it; the dumps are read from any thread.
pub(crate) fn read_in(ns: BorrowedFd) -> Result<Ruleset, KernelError> {
    let mut sock = netns::within(ns, Nfnl::open)??;
    read(&mut sock)
}

fn read(sock: &mut Nfnl) -> Result<Ruleset, KernelError> {
    let mut rs = Ruleset::default();
    for msg in [NFT_MSG_GETTABLE, NFT_MSG_GETCHAIN, NFT_MSG_GETRULE] {
        let dumped = sock.dump(NFNL_SUBSYS_NFTABLES, msg, |family, attrs| match msg {
            NFT_MSG_GETTABLE => rs.tables.extend(parse_table(family, attrs)),
            NFT_MSG_GETCHAIN => rs.chains.extend(parse_chain(family, attrs)),
            _ => rs.rules.extend(parse_rule(family, attrs)),
        });
        match dumped {
            Ok(()) => {}
            // nf_tables not loaded in this kernel: no ruleset at all.
            Err(e) if e.is(libc::EOPNOTSUPP) || e.is(libc::EPROTONOSUPPORT) => return Ok(rs),
            Err(e) => return Err(e),
        }
    }
    Ok(rs)
}

/// Netlink attributes: (type without the nested/byte-order flags, value).
/// Parsing stops at the first malformed one.
pub(crate) fn attrs(b: &[u8]) -> Vec<(u16, &[u8])> {
    NlasIterator::new(b)
        .map_while(Result::ok)
        .map(|a| {
            let (kind, len) = (a.kind(), usize::from(a.length()));
            // The value, borrowed from `b` (NlaBuffer::value borrows the buffer).
            (kind, &a.into_inner()[NLA_HEADER_SIZE..len])
        })
        .collect()
}

fn be32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
}

fn be64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.get(..8)?.try_into().ok()?))
}

fn string(v: &[u8]) -> String {
    let v = v.split(|b| *b == 0).next().unwrap_or(v);
    String::from_utf8_lossy(v).into_owned()
}

fn find<'a>(a: &[(u16, &'a [u8])], ty: u16) -> Option<&'a [u8]> {
    a.iter().find(|(t, _)| *t == ty).map(|(_, v)| *v)
}

pub(crate) fn parse_table(family: u8, b: &[u8]) -> Option<Table> {
    let a = attrs(b);
    Some(Table {
        family,
        name: string(find(&a, NFTA_TABLE_NAME)?),
    })
}

pub(crate) fn parse_chain(family: u8, b: &[u8]) -> Option<Chain> {
    let a = attrs(b);
    let hook = find(&a, NFTA_CHAIN_HOOK).map(|h| {
        let h = attrs(h);
        Hook {
            num: find(&h, NFTA_HOOK_HOOKNUM)
                .and_then(be32)
                .unwrap_or(u32::MAX),
            priority: find(&h, NFTA_HOOK_PRIORITY).and_then(be32).unwrap_or(0) as i32,
            dev: find(&h, NFTA_HOOK_DEV).map(string),
        }
    });
    let packets = find(&a, NFTA_CHAIN_COUNTERS)
        .and_then(|c| find(&attrs(c), NFTA_COUNTER_PACKETS).and_then(be64));
    Some(Chain {
        family,
        table: string(find(&a, NFTA_CHAIN_TABLE)?),
        name: string(find(&a, NFTA_CHAIN_NAME)?),
        hook,
        policy: find(&a, NFTA_CHAIN_POLICY).and_then(be32).map(|p| p as i32),
        kind: find(&a, NFTA_CHAIN_TYPE).map(string),
        packets,
    })
}

pub(crate) fn parse_rule(family: u8, b: &[u8]) -> Option<Rule> {
    let a = attrs(b);
    let exprs = find(&a, NFTA_RULE_EXPRESSIONS)
        .map(|list| {
            attrs(list)
                .into_iter()
                .filter(|(t, _)| *t == NFTA_LIST_ELEM)
                .filter_map(|(_, e)| parse_expr(e))
                .collect()
        })
        .unwrap_or_default();
    Some(Rule {
        family,
        table: string(find(&a, NFTA_RULE_TABLE)?),
        chain: string(find(&a, NFTA_RULE_CHAIN)?),
        handle: find(&a, NFTA_RULE_HANDLE).and_then(be64).unwrap_or(0),
        exprs,
    })
}

/// NFTA_DATA_VALUE bytes or an NFTA_DATA_VERDICT.
fn parse_data(b: &[u8]) -> Option<Data> {
    let a = attrs(b);
    if let Some(v) = find(&a, NFTA_DATA_VALUE) {
        return Some(Data::Value(v.to_vec()));
    }
    let v = attrs(find(&a, NFTA_DATA_VERDICT)?);
    Some(Data::Verdict {
        code: be32(find(&v, NFTA_VERDICT_CODE)?)? as i32,
        chain: find(&v, NFTA_VERDICT_CHAIN).map(string),
    })
}

fn value(b: Option<&[u8]>) -> Vec<u8> {
    match b.and_then(parse_data) {
        Some(Data::Value(v)) => v,
        _ => Vec::new(),
    }
}

pub(crate) fn parse_expr(b: &[u8]) -> Option<Expr> {
    let a = attrs(b);
    let name = string(find(&a, NFTA_EXPR_NAME)?);
    let d = find(&a, NFTA_EXPR_DATA).map(attrs).unwrap_or_default();
    let u = |ty: u16| find(&d, ty).and_then(be32);
    Some(match name.as_str() {
        "immediate" => Expr::Immediate {
            dreg: u(NFTA_IMMEDIATE_DREG)?,
            data: parse_data(find(&d, NFTA_IMMEDIATE_DATA)?)?,
        },
        "cmp" => Expr::Cmp {
            sreg: u(NFTA_CMP_SREG)?,
            op: u(NFTA_CMP_OP)?,
            data: value(find(&d, NFTA_CMP_DATA)),
        },
        "meta" => Expr::Meta {
            dreg: u(NFTA_META_DREG),
            key: u(NFTA_META_KEY)?,
        },
        "payload" => Expr::Payload {
            dreg: u(NFTA_PAYLOAD_DREG),
            base: u(NFTA_PAYLOAD_BASE)?,
            offset: u(NFTA_PAYLOAD_OFFSET)?,
            len: u(NFTA_PAYLOAD_LEN)?,
        },
        "ct" => Expr::Ct {
            dreg: u(NFTA_CT_DREG),
            key: u(NFTA_CT_KEY)?,
        },
        "bitwise" => Expr::Bitwise {
            sreg: u(NFTA_BITWISE_SREG)?,
            dreg: u(NFTA_BITWISE_DREG)?,
            len: u(NFTA_BITWISE_LEN)?,
            op: u(NFTA_BITWISE_OP).unwrap_or(0),
            mask: value(find(&d, NFTA_BITWISE_MASK)),
            xor: value(find(&d, NFTA_BITWISE_XOR)),
        },
        "lookup" => Expr::Lookup {
            sreg: u(NFTA_LOOKUP_SREG)?,
            set: find(&d, NFTA_LOOKUP_SET).map(string).unwrap_or_default(),
            inverted: u(NFTA_LOOKUP_FLAGS).unwrap_or(0) & NFT_LOOKUP_F_INV != 0,
        },
        "counter" => Expr::Counter {
            bytes: find(&d, NFTA_COUNTER_BYTES).and_then(be64).unwrap_or(0),
            packets: find(&d, NFTA_COUNTER_PACKETS).and_then(be64).unwrap_or(0),
        },
        "reject" => Expr::Reject {
            kind: u(NFTA_REJECT_TYPE).unwrap_or(0),
            code: find(&d, NFTA_REJECT_ICMP_CODE)
                .and_then(|v| v.first().copied())
                .unwrap_or(0),
        },
        "target" => Expr::Target {
            name: find(&d, NFTA_TARGET_NAME).map(string).unwrap_or_default(),
            rev: u(NFTA_TARGET_REV).unwrap_or(0),
            info: find(&d, NFTA_TARGET_INFO)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
        },
        "nat" => Expr::Nat {
            kind: u(NFTA_NAT_TYPE).unwrap_or(0),
            family: u(NFTA_NAT_FAMILY).unwrap_or(0) as u8,
            reg_addr: u(NFTA_NAT_REG_ADDR_MIN),
            reg_proto: u(NFTA_NAT_REG_PROTO_MIN),
        },
        "redir" => Expr::Redirect {
            reg_proto: u(NFTA_REDIR_REG_PROTO_MIN),
        },
        "masq" => Expr::Masquerade,
        "match" => Expr::Match {
            name: find(&d, NFTA_MATCH_NAME).map(string).unwrap_or_default(),
            rev: u(NFTA_MATCH_REV).unwrap_or(0),
            info: find(&d, NFTA_MATCH_INFO)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
        },
        _ => Expr::Other { name },
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One attribute, as the kernel writes it.
    pub(crate) fn nla(ty: u16, v: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(v);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    fn nest(ty: u16, parts: &[Vec<u8>]) -> Vec<u8> {
        nla(ty | 0x8000, &parts.concat())
    }

    fn s(x: &str) -> Vec<u8> {
        let mut v = x.as_bytes().to_vec();
        v.push(0);
        v
    }

    #[test]
    fn chains_with_hooks_and_policies() {
        let b = [
            nla(1, &s("filter")),
            nla(2, &7u64.to_be_bytes()),
            nla(3, &s("FORWARD")),
            nest(
                4,
                &[nla(1, &2u32.to_be_bytes()), nla(2, &0u32.to_be_bytes())],
            ),
            nla(5, &0u32.to_be_bytes()),
            nla(7, &s("filter")),
            nest(
                8,
                &[nla(1, &84u64.to_be_bytes()), nla(2, &1u64.to_be_bytes())],
            ),
        ]
        .concat();
        let c = parse_chain(2, &b).unwrap();
        assert_eq!(c.name, "FORWARD");
        assert_eq!(c.table, "filter");
        assert_eq!(c.hook.as_ref().unwrap().num, 2);
        assert_eq!(c.policy, Some(0));
        assert_eq!(c.packets, Some(1));
        assert!(c.looks_like_iptables());
        // Nonsense never panics.
        assert!(parse_chain(2, &[1, 2, 3]).is_none());
        assert!(parse_rule(2, &[255; 9]).is_none());
    }

    #[test]
    fn rules_with_matches_and_a_drop_verdict() {
        let meta = nest(
            1,
            &[
                nla(1, &s("meta")),
                nest(
                    2,
                    &[nla(2, &6u32.to_be_bytes()), nla(1, &1u32.to_be_bytes())],
                ),
            ],
        );
        let cmp = nest(
            1,
            &[
                nla(1, &s("cmp")),
                nest(
                    2,
                    &[
                        nla(1, &1u32.to_be_bytes()),
                        nla(2, &0u32.to_be_bytes()),
                        nest(3, &[nla(1, b"br0\0")]),
                    ],
                ),
            ],
        );
        let drop = nest(
            1,
            &[
                nla(1, &s("immediate")),
                nest(
                    2,
                    &[
                        nla(1, &0u32.to_be_bytes()),
                        nest(2, &[nest(2, &[nla(1, &0u32.to_be_bytes())])]),
                    ],
                ),
            ],
        );
        let b = [
            nla(1, &s("filter")),
            nla(2, &s("INPUT")),
            nla(3, &5u64.to_be_bytes()),
            nest(4, &[meta, cmp, drop]),
        ]
        .concat();
        let r = parse_rule(2, &b).unwrap();
        assert_eq!(r.handle, 5);
        assert_eq!(
            r.exprs,
            vec![
                Expr::Meta {
                    dreg: Some(1),
                    key: 6
                },
                Expr::Cmp {
                    sreg: 1,
                    op: 0,
                    data: b"br0\0".to_vec()
                },
                Expr::Immediate {
                    dreg: 0,
                    data: Data::Verdict {
                        code: 0,
                        chain: None
                    }
                },
            ]
        );
    }
}
