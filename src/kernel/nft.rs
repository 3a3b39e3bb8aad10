//! The nftables ruleset of a namespace, read over nfnetlink
//! (NETLINK_NETFILTER, subsystem NFNL_SUBSYS_NFTABLES) with three dumps:
//! tables, chains, rules. No `nft` binary is involved; iptables-nft keeps its
//! rules in nftables, so they are read the same way. Parsing is pure and
//! unit-tested; only `read` touches the kernel.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_sys::{Socket, protocols::NETLINK_NETFILTER};

use super::error::KernelError;
use super::netns;
use crate::model::nft::{Chain, Data, Expr, Hook, Rule, Ruleset, Table};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFT_MSG_GETRULE: u16 = 7;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const RX: usize = 1 << 17;

/// Read every table, chain and rule of the namespace behind `ns`. The
/// socket is opened from inside it; the dumps are read from any thread.
pub fn read_in(ns: BorrowedFd) -> Result<Ruleset, KernelError> {
    let sock = netns::within(ns, || Socket::new(NETLINK_NETFILTER))??;
    read(&sock)
}

fn read(sock: &Socket) -> Result<Ruleset, KernelError> {
    let mut rs = Ruleset::default();
    for (i, msg) in [NFT_MSG_GETTABLE, NFT_MSG_GETCHAIN, NFT_MSG_GETRULE]
        .into_iter()
        .enumerate()
    {
        let seq = i as u32 + 1;
        let objects = match dump(sock, msg, seq) {
            Ok(o) => o,
            // nf_tables not loaded in this kernel: no ruleset at all.
            Err(e) if e.is(libc::EOPNOTSUPP) || e.is(libc::EPROTONOSUPPORT) => return Ok(rs),
            Err(e) => return Err(e),
        };
        for (family, attrs) in objects {
            match msg {
                NFT_MSG_GETTABLE => rs.tables.extend(parse_table(family, &attrs)),
                NFT_MSG_GETCHAIN => rs.chains.extend(parse_chain(family, &attrs)),
                _ => rs.rules.extend(parse_rule(family, &attrs)),
            }
        }
    }
    Ok(rs)
}

/// One dump: each object's family and attribute bytes.
fn dump(sock: &Socket, msg: u16, seq: u32) -> Result<Vec<(u8, Vec<u8>)>, KernelError> {
    let mut req = Vec::with_capacity(20);
    req.extend_from_slice(&20u32.to_ne_bytes());
    req.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | msg).to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    // struct nfgenmsg: NFPROTO_UNSPEC (every family), NFNETLINK_V0, res_id 0.
    req.extend_from_slice(&[0, 0, 0, 0]);
    sock.send(&req, 0)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; RX];
    loop {
        // SAFETY: recv into a buffer of the stated length.
        let n = unsafe {
            libc::recv(
                sock.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        if n < 0 {
            let e = KernelError::last();
            if e.is(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        let n = n as usize;
        let mut off = 0;
        while off + 16 <= n {
            let len = u32_ne(&buf[off..]) as usize;
            if len < 16 || off + len > n {
                break;
            }
            let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
            let mseq = u32_ne(&buf[off + 8..]);
            let body = &buf[off + 16..off + len];
            off += align(len);
            if mseq != seq {
                continue;
            }
            match ty {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let code = if body.len() >= 4 {
                        i32::from_ne_bytes([body[0], body[1], body[2], body[3]])
                    } else {
                        -libc::EIO
                    };
                    if code == 0 {
                        return Ok(out);
                    }
                    return Err(KernelError::from_errno(-code));
                }
                _ if body.len() >= 4 => out.push((body[0], body[4..].to_vec())),
                _ => {}
            }
        }
    }
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn u32_ne(b: &[u8]) -> u32 {
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

/// Netlink attributes: (type without the nested/byte-order flags, value).
pub fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((ty, &b[4..len]));
        b = &b[align(len).min(b.len())..];
    }
    out
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

pub fn parse_table(family: u8, b: &[u8]) -> Option<Table> {
    let a = attrs(b);
    Some(Table {
        family,
        name: string(find(&a, 1)?),
    })
}

pub fn parse_chain(family: u8, b: &[u8]) -> Option<Chain> {
    let a = attrs(b);
    let hook = find(&a, 4).map(|h| {
        let h = attrs(h);
        Hook {
            num: find(&h, 1).and_then(be32).unwrap_or(u32::MAX),
            priority: find(&h, 2).and_then(be32).unwrap_or(0) as i32,
            dev: find(&h, 3).map(string),
        }
    });
    let packets = find(&a, 8).and_then(|c| find(&attrs(c), 2).and_then(be64));
    Some(Chain {
        family,
        table: string(find(&a, 1)?),
        name: string(find(&a, 3)?),
        hook,
        policy: find(&a, 5).and_then(be32).map(|p| p as i32),
        kind: find(&a, 7).map(string),
        packets,
    })
}

pub fn parse_rule(family: u8, b: &[u8]) -> Option<Rule> {
    let a = attrs(b);
    let exprs = find(&a, 4)
        .map(|list| {
            attrs(list)
                .into_iter()
                .filter(|(t, _)| *t == 1)
                .filter_map(|(_, e)| parse_expr(e))
                .collect()
        })
        .unwrap_or_default();
    Some(Rule {
        family,
        table: string(find(&a, 1)?),
        chain: string(find(&a, 2)?),
        handle: find(&a, 3).and_then(be64).unwrap_or(0),
        exprs,
    })
}

/// NFTA_DATA_VALUE bytes or an NFTA_DATA_VERDICT.
fn parse_data(b: &[u8]) -> Option<Data> {
    let a = attrs(b);
    if let Some(v) = find(&a, 1) {
        return Some(Data::Value(v.to_vec()));
    }
    let v = attrs(find(&a, 2)?);
    Some(Data::Verdict {
        code: be32(find(&v, 1)?)? as i32,
        chain: find(&v, 2).map(string),
    })
}

fn value(b: Option<&[u8]>) -> Vec<u8> {
    match b.and_then(parse_data) {
        Some(Data::Value(v)) => v,
        _ => Vec::new(),
    }
}

pub fn parse_expr(b: &[u8]) -> Option<Expr> {
    let a = attrs(b);
    let name = string(find(&a, 1)?);
    let d = find(&a, 2).map(attrs).unwrap_or_default();
    let u = |ty: u16| find(&d, ty).and_then(be32);
    Some(match name.as_str() {
        "immediate" => Expr::Immediate {
            dreg: u(1)?,
            data: parse_data(find(&d, 2)?)?,
        },
        "cmp" => Expr::Cmp {
            sreg: u(1)?,
            op: u(2)?,
            data: value(find(&d, 3)),
        },
        "meta" => Expr::Meta {
            dreg: u(1),
            key: u(2)?,
        },
        "payload" => Expr::Payload {
            dreg: u(1),
            base: u(2)?,
            offset: u(3)?,
            len: u(4)?,
        },
        "ct" => Expr::Ct {
            dreg: u(1),
            key: u(2)?,
        },
        "bitwise" => Expr::Bitwise {
            sreg: u(1)?,
            dreg: u(2)?,
            len: u(3)?,
            op: u(6).unwrap_or(0),
            mask: value(find(&d, 4)),
            xor: value(find(&d, 5)),
        },
        "lookup" => Expr::Lookup {
            sreg: u(2)?,
            set: find(&d, 1).map(string).unwrap_or_default(),
            inverted: u(5).unwrap_or(0) & 1 == 1,
        },
        "counter" => Expr::Counter {
            bytes: find(&d, 1).and_then(be64).unwrap_or(0),
            packets: find(&d, 2).and_then(be64).unwrap_or(0),
        },
        "reject" => Expr::Reject,
        "match" => Expr::Match {
            name: find(&d, 1).map(string).unwrap_or_default(),
            rev: u(2).unwrap_or(0),
            info: find(&d, 3).map(<[u8]>::to_vec).unwrap_or_default(),
        },
        _ => Expr::Other { name },
    })
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// One attribute, as the kernel writes it.
    pub fn nla(ty: u16, v: &[u8]) -> Vec<u8> {
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
