//! Would netfilter drop the probe? (pure) The probe is built as the bytes
//! netfilter sees (IP and ICMP headers, the interfaces, the conntrack state)
//! and run through the base chains of one hook, in priority order, the way
//! nftables runs them: expressions load packet data into registers, compare,
//! and end in a verdict; jumps and gotos follow user chains; the policy ends
//! a base chain. What cannot be known (a set lookup, an iptables extension)
//! makes a match uncertain, never assumed: such a drop is reported as
//! possible, not certain.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::model::nft::{
    self, Chain, Data, Expr, NF_ACCEPT, NF_DROP, NFT_BREAK, NFT_CONTINUE, NFT_GOTO, NFT_JUMP,
    NFT_RETURN, Rule, Ruleset,
};

/// The probe as one hook sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// NFPROTO_IPV4, NFPROTO_IPV6 or NFPROTO_ARP (of the packet, not the hook).
    pub nfproto: u8,
    pub ethertype: u16,
    pub l3: Vec<u8>,
    pub l4: Vec<u8>,
    pub l4proto: u8,
    pub iif: Option<(String, u32)>,
    pub oif: Option<(String, u32)>,
    /// The bridge the packet came in on / goes out of (bridge family).
    pub ibr: Option<String>,
    pub obr: Option<String>,
    /// NF_CT_STATE_BIT: 8 new (the request), 2 established (the reply).
    pub ct_state: u32,
    pub reply: bool,
}

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_ARP: u16 = 0x0806;

impl Packet {
    /// An echo request (or reply) of `size` payload bytes from `src` to `dst`.
    pub fn echo(src: IpAddr, dst: IpAddr, reply: bool, size: usize) -> Packet {
        let (nfproto, ethertype, l3, l4proto, ty) = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let len = (20 + 8 + size).min(65_535) as u16;
                let mut h = vec![0x45, 0];
                h.extend_from_slice(&len.to_be_bytes());
                h.extend_from_slice(&[0, 0, 0x40, 0, 64, 1, 0, 0]);
                h.extend_from_slice(&s.octets());
                h.extend_from_slice(&d.octets());
                (nft::IPV4, ETH_P_IP, h, 1u8, if reply { 0u8 } else { 8 })
            }
            (s, d) => {
                let (s, d) = (v6(s), v6(d));
                let len = (8 + size).min(65_535) as u16;
                let mut h = vec![0x60, 0, 0, 0];
                h.extend_from_slice(&len.to_be_bytes());
                h.extend_from_slice(&[58, 64]);
                h.extend_from_slice(&s.octets());
                h.extend_from_slice(&d.octets());
                (
                    nft::IPV6,
                    ETH_P_IPV6,
                    h,
                    58u8,
                    if reply { 129 } else { 128 },
                )
            }
        };
        Packet {
            nfproto,
            ethertype,
            l3,
            l4: vec![ty, 0, 0, 0, 0, 0, 0, 1],
            l4proto,
            iif: None,
            oif: None,
            ibr: None,
            obr: None,
            ct_state: if reply { 2 } else { 8 },
            reply,
        }
    }

    /// The first packet of a connection (TCP SYN, a UDP datagram) from
    /// `src`:`sport` to `dst`:`dport`, or with `reply` its answer (SYN-ACK).
    pub fn service(
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        (sport, dport): (u16, u16),
        reply: bool,
    ) -> Packet {
        let mut l4 = Vec::new();
        l4.extend_from_slice(&sport.to_be_bytes());
        l4.extend_from_slice(&dport.to_be_bytes());
        if proto == 6 {
            // seq, ack, data offset 5, SYN (SYN-ACK), window.
            l4.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, u8::from(reply)]);
            l4.extend_from_slice(&[0x50, if reply { 0x12 } else { 0x02 }, 0xff, 0xff]);
            l4.extend_from_slice(&[0, 0, 0, 0]);
        } else {
            l4.extend_from_slice(&20u16.to_be_bytes());
            l4.extend_from_slice(&[0, 0]);
        }
        let l4len = l4.len() + if proto == 6 { 0 } else { 12 };
        let mut p = Packet::echo(src, dst, reply, l4len.saturating_sub(8));
        if p.nfproto == nft::IPV4 {
            p.l3[9] = proto;
        } else {
            p.l3[6] = proto;
        }
        p.l4 = l4;
        p.l4proto = proto;
        p
    }

    /// An ARP request from `sender` for `target`.
    pub fn arp(sender: std::net::Ipv4Addr, target: std::net::Ipv4Addr) -> Packet {
        let mut h = vec![0, 1, 8, 0, 6, 4, 0, 1];
        h.extend_from_slice(&[0; 6]);
        h.extend_from_slice(&sender.octets());
        h.extend_from_slice(&[0; 6]);
        h.extend_from_slice(&target.octets());
        Packet {
            nfproto: nft::ARP,
            ethertype: ETH_P_ARP,
            l3: h,
            l4: Vec::new(),
            l4proto: 0,
            iif: None,
            oif: None,
            ibr: None,
            obr: None,
            ct_state: 8,
            reply: false,
        }
    }

    pub fn via(mut self, iif: Option<(&str, u32)>, oif: Option<(&str, u32)>) -> Packet {
        self.iif = iif.map(|(n, i)| (n.to_string(), i));
        self.oif = oif.map(|(n, i)| (n.to_string(), i));
        self
    }
}

fn v6(a: IpAddr) -> std::net::Ipv6Addr {
    match a {
        IpAddr::V6(a) => a,
        IpAddr::V4(a) => a.to_ipv6_mapped(),
    }
}

/// Who dropped it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Blame {
    /// The base chain the packet was in.
    pub chain: Chain,
    /// The rule that dropped it (None: the base chain's policy).
    pub rule: Option<Blamed>,
    /// Chains jumped through from the base chain.
    pub via: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Blamed {
    pub chain: String,
    pub handle: u64,
    /// 1-based position in its chain (what `iptables -D CHAIN N` takes).
    pub position: usize,
    pub text: String,
    /// A reject, and what it answers with ("tcp reset", "icmp
    /// port-unreachable"); None: a silent drop.
    pub reject: Option<String>,
}

/// Where address translation sends the packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Translation {
    /// "dnat", "snat", "redirect", "masquerade".
    pub kind: &'static str,
    pub addr: Option<IpAddr>,
    pub port: Option<u16>,
    /// The rule that does it.
    pub rule: Blamed,
    pub chain: Chain,
}

impl Translation {
    /// "192.168.1.3:8080", "port 9090 of itself", "the outgoing interface's address".
    pub fn to_words(&self) -> String {
        match (self.kind, self.addr, self.port) {
            (_, Some(IpAddr::V6(a)), Some(p)) => format!("[{a}]:{p}"),
            (_, Some(a), Some(p)) => format!("{a}:{p}"),
            (_, Some(a), None) => a.to_string(),
            ("redirect", None, Some(p)) => format!("port {p} of the namespace itself"),
            ("redirect", None, None) => "the namespace itself".to_string(),
            ("masquerade", None, _) => "the outgoing interface's address".to_string(),
            (_, None, Some(p)) => format!("port {p}"),
            (_, None, None) => "another address".to_string(),
        }
    }

    /// Whether it changes where the packet goes (not only its source).
    pub fn redirects(&self) -> bool {
        matches!(self.kind, "dnat" | "redirect")
    }
}

/// Run `pkt` through the nat base chains of `hook` (prerouting, output:
/// destination; postrouting, input: source) and say which rule
/// translates it, if any (only rules that match for certain).
pub fn translate(rs: &Ruleset, families: &[u8], hook: u32, pkt: &Packet) -> Option<Translation> {
    let mut bases: Vec<&Chain> = rs
        .chains
        .iter()
        .filter(|c| families.contains(&c.family) && c.kind.as_deref() == Some("nat"))
        .filter(|c| c.hook.as_ref().is_some_and(|h| h.num == hook))
        .collect();
    bases.sort_by_key(|c| c.hook.as_ref().map_or(0, |h| h.priority));
    for base in bases {
        let mut st = State::default();
        eval(rs, base, pkt, 0, &mut Vec::new(), &mut st);
        if let Some((rule, (kind, addr, port))) = st.nat {
            return Some(Translation {
                kind,
                addr,
                port,
                rule,
                chain: base.clone(),
            });
        }
    }
    None
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    Accept,
    Drop {
        blame: Box<Blame>,
        /// False when an earlier rule that could not be evaluated might
        /// have accepted it, or the dropping rule might not match.
        certain: bool,
        /// What could not be evaluated.
        unknown: Vec<String>,
    },
}

/// Run `pkt` through the base chains of `hook` in the families `families`
/// (and for the netdev family, on device `dev`).
pub fn judge(rs: &Ruleset, families: &[u8], hook: u32, dev: Option<&str>, pkt: &Packet) -> Outcome {
    let mut bases: Vec<&Chain> = rs
        .chains
        .iter()
        .filter(|c| families.contains(&c.family))
        .filter(|c| {
            c.hook.as_ref().is_some_and(|h| {
                h.num == hook && (c.family != nft::NETDEV || h.dev.as_deref() == dev)
            })
        })
        .collect();
    bases.sort_by_key(|c| c.hook.as_ref().map_or(0, |h| h.priority));
    let mut possible: Option<Outcome> = None;
    for base in bases {
        let mut st = State::default();
        let end = eval(rs, base, pkt, 0, &mut Vec::new(), &mut st);
        let dropped = match end {
            End::Accept => None,
            End::Drop(rule, via, certain) => Some((rule, via, certain)),
            End::Fall => match base.policy {
                Some(NF_DROP) => Some((None, Vec::new(), true)),
                _ => None,
            },
        };
        let outcome = match dropped {
            Some((rule, via, certain)) => Some(Outcome::Drop {
                blame: Box::new(Blame {
                    chain: base.clone(),
                    rule,
                    via,
                }),
                certain: certain && !st.might_accept,
                unknown: st.unknown.clone(),
            }),
            None => st.maybe_drop.take().map(|(rule, via)| Outcome::Drop {
                blame: Box::new(Blame {
                    chain: base.clone(),
                    rule,
                    via,
                }),
                certain: false,
                unknown: st.unknown.clone(),
            }),
        };
        match outcome {
            Some(o @ Outcome::Drop { certain: true, .. }) => return o,
            Some(o) => {
                possible.get_or_insert(o);
            }
            None => {}
        }
    }
    possible.unwrap_or(Outcome::Accept)
}

#[derive(Default)]
struct State {
    /// A rule that could not be evaluated might have accepted the packet.
    might_accept: bool,
    /// The first rule that might have dropped it.
    maybe_drop: Option<(Option<Blamed>, Vec<String>)>,
    unknown: Vec<String>,
    /// The rule that translated it (nat chains), and to what.
    nat: Option<(Blamed, NatTo)>,
}

/// (kind, address, port) of a translation.
type NatTo = (&'static str, Option<IpAddr>, Option<u16>);

enum End {
    Accept,
    /// The rule (None: policy), the chains jumped through, certain.
    Drop(Option<Blamed>, Vec<String>, bool),
    /// Off the end of the chain (or `return`).
    Fall,
}

const MAX_DEPTH: usize = 16;

fn eval(
    rs: &Ruleset,
    chain: &Chain,
    pkt: &Packet,
    depth: usize,
    via: &mut Vec<String>,
    st: &mut State,
) -> End {
    if depth > MAX_DEPTH {
        st.unknown.push("jumps nested too deep".into());
        return End::Fall;
    }
    for (i, rule) in rs.rules_of(chain).enumerate() {
        let (m, ran) = run(rule, pkt);
        let verdict = ran.verdict;
        let maybe = match m {
            Match::No => continue,
            Match::Yes => false,
            Match::Maybe(why) => {
                if !st.unknown.contains(&why) {
                    st.unknown.push(why);
                }
                true
            }
        };
        let blamed = || Blamed {
            chain: chain.name.clone(),
            handle: rule.handle,
            position: i + 1,
            text: describe(rule),
            reject: ran.reject.clone(),
        };
        if let Some(to) = ran.nat
            && !maybe
        {
            st.nat.get_or_insert((blamed(), to));
            return End::Accept;
        }
        let Some((code, target)) = verdict else {
            continue;
        };
        match code {
            NF_ACCEPT if maybe => st.might_accept = true,
            NF_ACCEPT => return End::Accept,
            NF_DROP if maybe => {
                if st.maybe_drop.is_none() {
                    st.maybe_drop = Some((Some(blamed()), via.clone()));
                }
            }
            NF_DROP => return End::Drop(Some(blamed()), via.clone(), true),
            NFT_JUMP | NFT_GOTO => {
                let Some(t) = target.and_then(|t| rs.chain(chain.family, &chain.table, &t)) else {
                    continue;
                };
                via.push(t.name.clone());
                let end = eval(rs, t, pkt, depth + 1, via, st);
                via.pop();
                match (end, maybe) {
                    (End::Accept, false) => return End::Accept,
                    (End::Accept, true) => st.might_accept = true,
                    (End::Drop(r, v, c), false) => return End::Drop(r, v, c),
                    (End::Drop(r, v, _), true) => {
                        if st.maybe_drop.is_none() {
                            st.maybe_drop = Some((r, v));
                        }
                    }
                    // A goto does not come back: off its end is off ours.
                    (End::Fall, false) if code == NFT_GOTO => return End::Fall,
                    (End::Fall, _) => {}
                }
            }
            NFT_RETURN if !maybe => return End::Fall,
            NFT_CONTINUE | NFT_BREAK | NFT_RETURN => {}
            // Queue, stolen, repeat: out of our hands.
            _ => {
                st.unknown.push(format!("verdict {code} of rule {}", i + 1));
                st.might_accept = true;
            }
        }
    }
    End::Fall
}

/// Note the first thing that makes a rule's match uncertain.
fn doubt(maybe: &mut Option<String>, why: String) {
    maybe.get_or_insert(why);
}

enum Match {
    Yes,
    No,
    Maybe(String),
}

/// nftables' register file: the verdict register (16 bytes), then four
/// 16-byte registers, addressed also as sixteen 4-byte ones.
struct Regs([Option<u8>; 80]);

impl Regs {
    fn offset(reg: u32) -> Option<usize> {
        match reg {
            1..=4 => Some(reg as usize * 16),
            8..=23 => Some(16 + (reg as usize - 8) * 4),
            _ => None,
        }
    }

    fn store(&mut self, reg: u32, bytes: &[u8]) {
        let Some(o) = Self::offset(reg) else { return };
        // Loads clear the rest of the 4-byte words they touch.
        let n = bytes.len().div_ceil(4) * 4;
        for k in 0..n {
            if let Some(slot) = self.0.get_mut(o + k) {
                *slot = Some(bytes.get(k).copied().unwrap_or(0));
            }
        }
    }

    fn unknown(&mut self, reg: u32, len: usize) {
        let Some(o) = Self::offset(reg) else { return };
        for k in 0..len.div_ceil(4) * 4 {
            if let Some(slot) = self.0.get_mut(o + k) {
                *slot = None;
            }
        }
    }

    fn load(&self, reg: u32, len: usize) -> Option<Vec<u8>> {
        let o = Self::offset(reg)?;
        self.0.get(o..o + len)?.iter().copied().collect()
    }

    fn forget(&mut self) {
        self.0 = [None; 80];
    }
}

/// What a meta key yields: bytes, Break (the key does not apply, e.g. no
/// output interface before routing: the rule does not match), or unknown.
enum Val {
    Bytes(Vec<u8>),
    Break,
    Unknown,
}

fn ifname(n: &str) -> Vec<u8> {
    let mut v = n.as_bytes().to_vec();
    v.resize(16, 0);
    v
}

fn meta(pkt: &Packet, key: u32) -> Val {
    use Val::*;
    match key {
        0 => Bytes(
            (pkt.l3.len() as u32 + pkt.l4.len() as u32)
                .to_ne_bytes()
                .to_vec(),
        ),
        1 => Bytes(pkt.ethertype.to_be_bytes().to_vec()),
        3 => Bytes(0u32.to_ne_bytes().to_vec()),
        4 => pkt
            .iif
            .as_ref()
            .map_or(Break, |(_, i)| Bytes(i.to_ne_bytes().to_vec())),
        5 => pkt
            .oif
            .as_ref()
            .map_or(Break, |(_, i)| Bytes(i.to_ne_bytes().to_vec())),
        6 => pkt.iif.as_ref().map_or(Break, |(n, _)| Bytes(ifname(n))),
        7 => pkt.oif.as_ref().map_or(Break, |(n, _)| Bytes(ifname(n))),
        // ARPHRD_ETHER.
        8 if pkt.iif.is_some() => Bytes(1u16.to_ne_bytes().to_vec()),
        9 if pkt.oif.is_some() => Bytes(1u16.to_ne_bytes().to_vec()),
        15 => Bytes(vec![pkt.nfproto]),
        16 => Bytes(vec![pkt.l4proto]),
        17 => pkt.ibr.as_ref().map_or(Break, |n| Bytes(ifname(n))),
        18 => pkt.obr.as_ref().map_or(Break, |n| Bytes(ifname(n))),
        // PACKET_HOST: addressed to the receiving interface.
        19 => Bytes(vec![0]),
        _ => Unknown,
    }
}

fn run(rule: &Rule, pkt: &Packet) -> (Match, Run) {
    let mut run = Run {
        regs: Regs([None; 80]),
        maybe: None,
        verdict: None,
        reject: None,
        nat: None,
        family: rule.family,
    };
    for e in &rule.exprs {
        if !run.step(e, pkt) {
            run.verdict = None;
            run.nat = None;
            return (Match::No, run);
        }
    }
    let m = match run.maybe.take() {
        Some(w) => Match::Maybe(w),
        None => Match::Yes,
    };
    (m, run)
}

/// One rule being run over the packet.
struct Run {
    regs: Regs,
    /// The first thing that made the match uncertain.
    maybe: Option<String>,
    /// The verdict the rule sets, with its chain for a jump or goto.
    verdict: Option<(i32, Option<String>)>,
    /// A reject's answer, in words.
    reject: Option<String>,
    /// A translation the rule makes.
    nat: Option<NatTo>,
    /// The rule's family (a reject's ICMP codes depend on it).
    family: u8,
}

impl Run {
    /// Run one expression; false when it shows the rule does not match.
    fn step(&mut self, e: &Expr, pkt: &Packet) -> bool {
        match e {
            Expr::Meta { dreg: Some(r), key } => match meta(pkt, *key) {
                Val::Bytes(b) => self.regs.store(*r, &b),
                Val::Break => return false,
                Val::Unknown => self.regs.unknown(*r, 16),
            },
            Expr::Payload {
                dreg: Some(r),
                base,
                offset,
                len,
            } => self.payload(pkt, *r, *base, *offset, *len),
            Expr::Ct { dreg: Some(r), key } => match key {
                0 => self.regs.store(*r, &pkt.ct_state.to_ne_bytes()),
                1 => self.regs.store(*r, &[u8::from(pkt.reply)]),
                _ => self.regs.unknown(*r, 16),
            },
            Expr::Bitwise {
                sreg,
                dreg,
                len,
                op,
                mask,
                xor,
            } => self.bitwise(*sreg, *dreg, *len as usize, *op, mask, xor),
            Expr::Cmp { sreg, op, data } => return self.compare(*sreg, *op, data),
            Expr::Lookup { set, .. } => doubt(&mut self.maybe, format!("a lookup in set @{set}")),
            Expr::Immediate { dreg: 0, data } => {
                if let Data::Verdict { code, chain } = data {
                    self.verdict = Some((*code, chain.clone()));
                }
            }
            Expr::Immediate {
                dreg,
                data: Data::Value(v),
            } => self.regs.store(*dreg, v),
            Expr::Reject { kind, code } => {
                self.verdict = Some((NF_DROP, None));
                self.reject = Some(reject_words(*kind, *code, self.family));
            }
            Expr::Target { name, rev, info } => self.target(name, *rev, info),
            Expr::Nat {
                kind,
                family,
                reg_addr,
                reg_proto,
            } => {
                let len = if *family == nft::IPV6 { 16 } else { 4 };
                let addr = reg_addr
                    .and_then(|r| self.regs.load(r, len))
                    .and_then(|b| ip_of(&b));
                let port = reg_proto
                    .and_then(|r| self.regs.load(r, 2))
                    .map(|b| u16::from_be_bytes([b[0], b[1]]));
                let k = if *kind == 1 { "dnat" } else { "snat" };
                self.nat = Some((k, addr, port));
                self.verdict = Some((NF_ACCEPT, None));
            }
            Expr::Redirect { reg_proto } => {
                let port = reg_proto
                    .and_then(|r| self.regs.load(r, 2))
                    .map(|b| u16::from_be_bytes([b[0], b[1]]));
                self.nat = Some(("redirect", None, port));
                self.verdict = Some((NF_ACCEPT, None));
            }
            Expr::Masquerade => {
                self.nat = Some(("masquerade", None, None));
                self.verdict = Some((NF_ACCEPT, None));
            }
            Expr::Match { name, rev, info } => match xt_match(name, *rev, info, pkt) {
                Some(true) => {}
                Some(false) => return false,
                None => doubt(&mut self.maybe, format!("the iptables match `{name}`")),
            },
            Expr::Counter { .. }
            | Expr::Meta { dreg: None, .. }
            | Expr::Payload { dreg: None, .. }
            | Expr::Ct { dreg: None, .. }
            | Expr::Immediate { .. } => {}
            Expr::Other { name } => self.other(name),
        }
        true
    }

    /// An iptables target: REJECT (a drop that answers), DNAT, SNAT,
    /// MASQUERADE, REDIRECT (translations); others (LOG, MARK …) neither
    /// decide nor translate.
    fn target(&mut self, name: &str, rev: u32, info: &[u8]) {
        let v6 = self.family == nft::IPV6;
        match name {
            "REJECT" => {
                let with = info.get(..4).map_or(if v6 { 4 } else { 3 }, |b| {
                    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
                });
                self.verdict = Some((NF_DROP, None));
                self.reject = Some(xt_reject_words(with, v6));
            }
            "DNAT" | "SNAT" | "REDIRECT" => {
                let (addr, port) = xt_nat_range(rev, info, v6);
                let kind = match name {
                    "DNAT" => "dnat",
                    "SNAT" => "snat",
                    _ => "redirect",
                };
                self.nat = Some((kind, addr.filter(|_| kind != "redirect"), port));
                self.verdict = Some((NF_ACCEPT, None));
            }
            "MASQUERADE" => {
                self.nat = Some(("masquerade", None, None));
                self.verdict = Some((NF_ACCEPT, None));
            }
            _ => {}
        }
    }

    /// Load packet bytes. Of the link-layer header only the ethertype is
    /// known (`ether type arp`); the MACs are not modelled.
    fn payload(&mut self, pkt: &Packet, reg: u32, base: u32, offset: u32, len: u32) {
        let ethertype = pkt.ethertype.to_be_bytes();
        let src: Option<&[u8]> = match (base, offset, len) {
            (0, 12, 2) => Some(&ethertype[..]),
            (1, ..) => Some(&pkt.l3),
            (2, ..) => Some(&pkt.l4),
            _ => None,
        };
        let (o, l) = match base {
            0 => (0, 2),
            _ => (offset as usize, len as usize),
        };
        match src.and_then(|s| s.get(o..o + l)) {
            Some(b) => self.regs.store(reg, b),
            None => self.regs.unknown(reg, l),
        }
    }

    /// `(sreg & mask) ^ xor` into dreg (other bitwise ops: unknown).
    fn bitwise(&mut self, sreg: u32, dreg: u32, l: usize, op: u32, mask: &[u8], xor: &[u8]) {
        match self.regs.load(sreg, l) {
            Some(v) if op == 0 && mask.len() >= l && xor.len() >= l => {
                let out: Vec<u8> = (0..l).map(|k| (v[k] & mask[k]) ^ xor[k]).collect();
                self.regs.store(dreg, &out);
            }
            _ => self.regs.unknown(dreg, l),
        }
    }

    /// Compare a register with `data`; false when it certainly differs.
    fn compare(&mut self, sreg: u32, op: u32, data: &[u8]) -> bool {
        let Some(v) = self.regs.load(sreg, data.len()) else {
            doubt(
                &mut self.maybe,
                "a match on something vnet does not model".into(),
            );
            return true;
        };
        let ord = v.as_slice().cmp(data);
        match op {
            0 => ord.is_eq(),
            1 => ord.is_ne(),
            2 => ord.is_lt(),
            3 => ord.is_le(),
            4 => ord.is_gt(),
            5 => ord.is_ge(),
            _ => {
                doubt(&mut self.maybe, format!("comparison {op}"));
                true
            }
        }
    }

    /// An expression vnet does not model.
    fn other(&mut self, name: &str) {
        match name {
            // Statements: they act, they do not decide the match.
            "log" | "notrack" | "nat" | "masq" | "redir" | "dup" | "objref" | "dynset"
            | "tproxy" | "synproxy" | "queue" => {}
            "limit" | "quota" | "connlimit" | "last" => {
                doubt(&mut self.maybe, format!("a `{name}` statement"));
            }
            _ => {
                // Something loaded registers vnet does not model.
                self.regs.forget();
            }
        }
    }
}

/// The iptables extensions a probe meets most (Docker's and distributions'
/// stateful rules): `-m conntrack --ctstate`, `-m state --state`,
/// `-m icmp --icmp-type`, `-m comment`. None: not evaluated.
fn xt_match(name: &str, rev: u32, info: &[u8], pkt: &Packet) -> Option<bool> {
    let u16_at = |o: usize| info.get(o..o + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    match name {
        "comment" => Some(true),
        // struct xt_state_info { unsigned int statemask; }
        "state" => {
            let mask = u32::from_ne_bytes(info.get(..4)?.try_into().ok()?);
            Some(mask & pkt.ct_state != 0)
        }
        // struct xt_conntrack_mtinfo1/2/3: eight addresses (128 bytes), two
        // expiry bounds (8), l4proto and four ports (10), then the flags.
        "conntrack" => {
            let (flags, invert, state) = match rev {
                1 => (
                    u16::from(*info.get(146)?),
                    u16::from(*info.get(147)?),
                    u16::from(*info.get(148)?),
                ),
                2 | 3 => (u16_at(146)?, u16_at(148)?, u16_at(150)?),
                _ => return None,
            };
            const STATE: u16 = 1;
            // Only a state test is evaluated; any other makes it unknown.
            if flags != STATE {
                return None;
            }
            let hit = u32::from(state) & pkt.ct_state != 0;
            Some(hit != (invert & STATE != 0))
        }
        // struct xt_tcp { u16 spts[2], dpts[2]; u8 option, flg_mask, flg_cmp, invflags; }
        // struct xt_udp { u16 spts[2], dpts[2]; u8 invflags; }
        "tcp" | "udp" => {
            let proto = if name == "tcp" { 6 } else { 17 };
            if pkt.l4proto != proto {
                return Some(false);
            }
            let inv = *info.get(if name == "tcp" { 11 } else { 8 })?;
            let (sport, dport) = (
                u16::from_be_bytes([*pkt.l4.first()?, *pkt.l4.get(1)?]),
                u16::from_be_bytes([*pkt.l4.get(2)?, *pkt.l4.get(3)?]),
            );
            let within = |o: usize, p: u16| Some((u16_at(o)?..=u16_at(o + 2)?).contains(&p));
            let s_hit = within(0, sport)? != (inv & 1 != 0);
            let d_hit = within(4, dport)? != (inv & 2 != 0);
            let flags = if name == "tcp" {
                let (mask, cmp) = (*info.get(9)?, *info.get(10)?);
                let f = *pkt.l4.get(13)?;
                ((f & mask) == cmp) != (inv & 4 != 0)
            } else {
                true
            };
            Some(s_hit && d_hit && flags)
        }
        // struct ipt_icmp { u8 type; u8 code[2]; u8 invflags; }
        "icmp" if pkt.nfproto == nft::IPV4 || pkt.l4proto == 1 => {
            let (ty, lo, hi, inv) = (*info.first()?, *info.get(1)?, *info.get(2)?, *info.get(3)?);
            let (pty, pcode) = (*pkt.l4.first()?, *pkt.l4.get(1)?);
            let hit = ty == 0xff || (ty == pty && (lo..=hi).contains(&pcode));
            Some(hit != (inv & 1 != 0))
        }
        _ => None,
    }
}

/// A rule in about the words `nft list ruleset` uses.
pub fn describe(rule: &Rule) -> String {
    let mut regs: HashMap<u32, Src> = HashMap::new();
    let mut words: Vec<String> = Vec::new();
    for e in &rule.exprs {
        match e {
            Expr::Meta { dreg: Some(r), key } => {
                regs.insert(*r, meta_source(*key));
            }
            Expr::Payload {
                dreg: Some(r),
                base,
                offset,
                len,
            } => {
                regs.insert(*r, payload_source(*base, *offset, *len));
            }
            Expr::Ct { dreg: Some(r), key } => {
                let s = if *key == 0 {
                    Src::CtState
                } else {
                    Src::Num(format!("ct key {key}"))
                };
                regs.insert(*r, s);
            }
            Expr::Bitwise {
                sreg, dreg, mask, ..
            } => {
                let s = match regs.get(sreg) {
                    Some(Src::CtState) => Src::Num(format!("ct state {}", ct_names(mask))),
                    Some(Src::Num(n)) => Src::Num(format!("{n} & 0x{}", hex(mask))),
                    _ => Src::Num("(masked)".into()),
                };
                regs.insert(*dreg, s);
            }
            Expr::Cmp { sreg, op, data } => words.push(comparison(regs.get(sreg), *op, data)),
            Expr::Lookup {
                sreg,
                set,
                inverted,
            } => {
                let what = match regs.get(sreg) {
                    Some(Src::Name(k) | Src::Addr(k) | Src::Proto(k)) => format!("{k} "),
                    Some(Src::Num(n)) => format!("{n} "),
                    _ => String::new(),
                };
                words.push(format!(
                    "{what}{}@{set}",
                    if *inverted { "!= " } else { "" }
                ));
            }
            // Counters say nothing about what the rule matches.
            Expr::Counter { .. } => {}
            Expr::Immediate {
                dreg: 0,
                data: Data::Verdict { code, chain },
            } => words.push(verdict_words(*code, chain)),
            Expr::Immediate {
                dreg,
                data: Data::Value(v),
            } if *dreg != 0 => {
                regs.insert(*dreg, Src::Value(v.clone()));
            }
            Expr::Reject { kind, code } => {
                words.push(format!(
                    "reject with {}",
                    reject_words(*kind, *code, rule.family)
                ));
            }
            Expr::Target { name, rev, info } => {
                words.push(target_words(name, *rev, info, rule.family))
            }
            Expr::Nat {
                kind,
                reg_addr,
                reg_proto,
                ..
            } => {
                let value = |r: &Option<u32>| match r.and_then(|r| regs.get(&r)) {
                    Some(Src::Value(v)) => Some(v.clone()),
                    _ => None,
                };
                let addr = value(reg_addr).and_then(|v| ip_of(&v));
                let port = value(reg_proto)
                    .filter(|v| v.len() >= 2)
                    .map(|v| u16::from_be_bytes([v[0], v[1]]));
                let to = match (addr, port) {
                    (Some(IpAddr::V6(a)), Some(p)) => format!("[{a}]:{p}"),
                    (Some(a), Some(p)) => format!("{a}:{p}"),
                    (Some(a), None) => a.to_string(),
                    (None, Some(p)) => format!(":{p}"),
                    (None, None) => "?".into(),
                };
                words.push(format!(
                    "{} to {to}",
                    if *kind == 1 { "dnat" } else { "snat" }
                ));
            }
            Expr::Redirect { reg_proto } => {
                let port = match reg_proto.and_then(|r| regs.get(&r)) {
                    Some(Src::Value(v)) if v.len() >= 2 => {
                        format!(" to :{}", u16::from_be_bytes([v[0], v[1]]))
                    }
                    _ => String::new(),
                };
                words.push(format!("redirect{port}"));
            }
            Expr::Masquerade => words.push("masquerade".into()),
            Expr::Match { name, .. } => words.push(format!("xt match \"{name}\"")),
            Expr::Other { name } if !matches!(name.as_str(), "bitwise" | "immediate") => {
                words.push(name.clone());
            }
            _ => {}
        }
    }
    words.join(" ")
}

/// What a register holds, for the words of the comparison that reads it.
#[derive(Clone)]
enum Src {
    Name(&'static str),
    Addr(&'static str),
    Proto(&'static str),
    Family,
    IfType(&'static str),
    EtherType,
    CtState,
    Num(String),
    /// An immediate value (a nat statement's address or port).
    Value(Vec<u8>),
}

fn meta_source(key: u32) -> Src {
    match key {
        6 => Src::Name("iifname"),
        7 => Src::Name("oifname"),
        17 => Src::Name("meta ibrname"),
        18 => Src::Name("meta obrname"),
        16 => Src::Proto("meta l4proto"),
        4 => Src::Num("iif".into()),
        5 => Src::Num("oif".into()),
        15 => Src::Family,
        8 => Src::IfType("meta iiftype"),
        9 => Src::IfType("meta oiftype"),
        1 => Src::Num("meta protocol".into()),
        k => Src::Num(format!("meta key {k}")),
    }
}

fn payload_source(base: u32, offset: u32, len: u32) -> Src {
    match (base, offset, len) {
        (1, 9, 1) => Src::Proto("ip protocol"),
        (1, 6, 1) => Src::Proto("ip6 nexthdr"),
        (1, 12, 4) => Src::Addr("ip saddr"),
        (1, 16, 4) => Src::Addr("ip daddr"),
        (1, 8, 16) => Src::Addr("ip6 saddr"),
        (1, 24, 16) => Src::Addr("ip6 daddr"),
        (0, 12, 2) => Src::EtherType,
        (2, 0, 1) => Src::Num("icmp type".into()),
        (2, 0, 2) => Src::Num("th sport".into()),
        (2, 2, 2) => Src::Num("th dport".into()),
        (b, o, l) => Src::Num(format!(
            "@{},{},{}",
            match b {
                0 => "ll",
                1 => "nh",
                _ => "th",
            },
            o * 8,
            l * 8
        )),
    }
}

/// `KEY OP VALUE`, the value in the words of what the register holds.
fn comparison(src: Option<&Src>, op: u32, data: &[u8]) -> String {
    let op = match op {
        0 => "",
        1 => "!= ",
        2 => "< ",
        3 => "<= ",
        4 => "> ",
        _ => ">= ",
    };
    match src {
        Some(Src::Name(k)) => format!("{k} {op}{}", quoted_name(data)),
        Some(Src::Addr(k)) => format!("{k} {op}{}", addr_words(data)),
        Some(Src::Proto(k)) => format!("{k} {op}{}", proto_words(data)),
        Some(Src::IfType(k)) => {
            let t = if data.len() == 2 && u16::from_ne_bytes([data[0], data[1]]) == 1 {
                "ether".to_string()
            } else {
                format!("0x{}", hex(data))
            };
            format!("{k} {op}{t}")
        }
        Some(Src::EtherType) => {
            let t = match data {
                [0x08, 0x00] => "ip".to_string(),
                [0x86, 0xdd] => "ip6".to_string(),
                [0x08, 0x06] => "arp".to_string(),
                _ => format!("0x{}", hex(data)),
            };
            format!("ether type {op}{t}")
        }
        Some(Src::Family) => {
            let f = match data.first() {
                Some(2) => "ipv4".to_string(),
                Some(10) => "ipv6".to_string(),
                Some(n) => n.to_string(),
                None => String::new(),
            };
            format!("meta nfproto {op}{f}")
        }
        // `ct state X` compiles to (state & X) != 0.
        Some(Src::Num(n)) if n.starts_with("ct state") && data.iter().all(|b| *b == 0) => n.clone(),
        Some(Src::Num(n)) => {
            let v = if data.len() <= 2 {
                data.iter()
                    .fold(0u32, |a, b| (a << 8) | u32::from(*b))
                    .to_string()
            } else {
                format!("0x{}", hex(data))
            };
            format!("{n} {op}{v}")
        }
        _ => format!("{op}0x{}", hex(data)),
    }
}

/// An interface name in quotes; without its NUL it is a prefix (`eth*`).
fn quoted_name(data: &[u8]) -> String {
    let name: String = data
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    let wild = if data.contains(&0) { "" } else { "*" };
    format!("\"{name}{wild}\"")
}

fn addr_words(data: &[u8]) -> String {
    match data.len() {
        4 => <[u8; 4]>::try_from(data)
            .map(|b| IpAddr::from(b).to_string())
            .unwrap_or_default(),
        16 => <[u8; 16]>::try_from(data)
            .map(|b| IpAddr::from(b).to_string())
            .unwrap_or_default(),
        _ => hex(data),
    }
}

fn proto_words(data: &[u8]) -> String {
    match data.first() {
        Some(1) => "icmp".to_string(),
        Some(6) => "tcp".to_string(),
        Some(17) => "udp".to_string(),
        Some(58) => "ipv6-icmp".to_string(),
        Some(n) => n.to_string(),
        None => String::new(),
    }
}

fn verdict_words(code: i32, chain: &Option<String>) -> String {
    match (code, chain) {
        (NF_ACCEPT, _) => "accept".into(),
        (NF_DROP, _) => "drop".into(),
        (NFT_JUMP, Some(c)) => format!("jump {c}"),
        (NFT_GOTO, Some(c)) => format!("goto {c}"),
        (NFT_RETURN, _) => "return".into(),
        (NFT_CONTINUE, _) => "continue".into(),
        (c, _) => format!("verdict {c}"),
    }
}

/// A 4- or 16-byte address (the first 4 bytes of a 16-byte IPv4 union
/// are read by the caller choosing the length).
fn ip_of(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// An nftables reject's answer in the words of `nft list ruleset`.
pub fn reject_words(kind: u32, code: u8, family: u8) -> String {
    match kind {
        1 => "tcp reset".into(),
        2 => match code {
            0 => "icmpx no-route",
            1 => "icmpx port-unreachable",
            2 => "icmpx host-unreachable",
            _ => "icmpx admin-prohibited",
        }
        .into(),
        _ if family == nft::IPV6 => match code {
            0 => "icmpv6 no-route".into(),
            1 => "icmpv6 admin-prohibited".into(),
            3 => "icmpv6 addr-unreachable".into(),
            4 => "icmpv6 port-unreachable".into(),
            c => format!("icmpv6 code {c}"),
        },
        _ => match code {
            0 => "icmp net-unreachable".into(),
            1 => "icmp host-unreachable".into(),
            2 => "icmp prot-unreachable".into(),
            3 => "icmp port-unreachable".into(),
            9 => "icmp net-prohibited".into(),
            10 => "icmp host-prohibited".into(),
            13 => "icmp admin-prohibited".into(),
            c => format!("icmp code {c}"),
        },
    }
}

/// iptables' `--reject-with` (enum ipt_reject_with / ip6t_reject_with).
fn xt_reject_words(with: u32, v6: bool) -> String {
    let w = if v6 {
        match with {
            0 => "icmp6-no-route",
            1 => "icmp6-adm-prohibited",
            2 => "icmp6-not-neighbour",
            3 => "icmp6-addr-unreachable",
            4 => "icmp6-port-unreachable",
            6 => "tcp-reset",
            7 => "icmp6-policy-fail",
            8 => "icmp6-reject-route",
            _ => "icmp6 (other)",
        }
    } else {
        match with {
            0 => "icmp-net-unreachable",
            1 => "icmp-host-unreachable",
            2 => "icmp-proto-unreachable",
            3 => "icmp-port-unreachable",
            5 => "icmp-net-prohibited",
            6 => "icmp-host-prohibited",
            7 => "tcp-reset",
            8 => "icmp-admin-prohibited",
            _ => "icmp (other)",
        }
    };
    w.to_string()
}

/// The address and port of an xtables NAT target's range: revision 0
/// (struct nf_nat_ipv4_multi_range_compat), 1 and 2 (struct
/// nf_nat_range / nf_nat_range2), when the flags say they are given.
fn xt_nat_range(rev: u32, info: &[u8], v6: bool) -> (Option<IpAddr>, Option<u16>) {
    const MAP_IPS: u32 = 1;
    const PROTO_SPECIFIED: u32 = 2;
    let u32_at = |o: usize| {
        info.get(o..o + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let be16_at = |o: usize| info.get(o..o + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let (flags, addr_at, port_at) = match rev {
        0 => (u32_at(4), 8, 16),
        _ => (u32_at(0), 4, 36),
    };
    let flags = flags.unwrap_or(0);
    let len = if v6 && rev != 0 { 16 } else { 4 };
    let addr = (flags & MAP_IPS != 0)
        .then(|| info.get(addr_at..addr_at + len).and_then(ip_of))
        .flatten();
    let port = (flags & PROTO_SPECIFIED != 0)
        .then(|| be16_at(port_at))
        .flatten();
    (addr, port)
}

/// An iptables target in the words of `iptables -S`.
fn target_words(name: &str, rev: u32, info: &[u8], family: u8) -> String {
    let v6 = family == nft::IPV6;
    match name {
        "REJECT" => {
            let with = info
                .get(..4)
                .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
            format!("-j REJECT --reject-with {}", xt_reject_words(with, v6))
        }
        "DNAT" | "SNAT" | "REDIRECT" => {
            let (a, p) = xt_nat_range(rev, info, v6);
            let to = match (a, p) {
                (Some(IpAddr::V6(a)), Some(p)) => format!("[{a}]:{p}"),
                (Some(a), Some(p)) => format!("{a}:{p}"),
                (Some(a), None) => a.to_string(),
                (None, Some(p)) => format!(":{p}"),
                (None, None) => String::new(),
            };
            let opt = match name {
                "DNAT" => " --to-destination ",
                "SNAT" => " --to-source ",
                _ if p.is_some() => " --to-ports ",
                _ => "",
            };
            let to = if name == "REDIRECT" {
                p.map(|p| p.to_string()).unwrap_or_default()
            } else {
                to
            };
            format!("-j {name}{opt}{to}")
        }
        n => format!("-j {n}"),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn ct_names(mask: &[u8]) -> String {
    let v = mask
        .get(..4)
        .and_then(|m| <[u8; 4]>::try_from(m).ok())
        .map_or(0, u32::from_ne_bytes);
    let names: Vec<&str> = [
        (1, "invalid"),
        (2, "established"),
        (4, "related"),
        (8, "new"),
        (64, "untracked"),
    ]
    .iter()
    .filter(|(b, _)| v & b != 0)
    .map(|(_, n)| *n)
    .collect();
    names.join(",")
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::model::nft::{Hook, Table};

    pub fn chain(family: u8, table: &str, name: &str, hook: Option<u32>, policy: i32) -> Chain {
        Chain {
            family,
            table: table.into(),
            name: name.into(),
            hook: hook.map(|num| Hook {
                num,
                priority: 0,
                dev: None,
            }),
            policy: hook.map(|_| policy),
            kind: Some("filter".into()),
            packets: None,
        }
    }

    pub fn rule(c: &Chain, handle: u64, exprs: Vec<Expr>) -> Rule {
        Rule {
            family: c.family,
            table: c.table.clone(),
            chain: c.name.clone(),
            handle,
            exprs,
        }
    }

    pub fn verdict(code: i32, chain: Option<&str>) -> Expr {
        Expr::Immediate {
            dreg: 0,
            data: Data::Verdict {
                code,
                chain: chain.map(str::to_string),
            },
        }
    }

    /// `iifname "NAME"` as nft compiles it.
    pub fn iifname(name: &str) -> Vec<Expr> {
        let mut d = name.as_bytes().to_vec();
        d.push(0);
        vec![
            Expr::Meta {
                dreg: Some(1),
                key: 6,
            },
            Expr::Cmp {
                sreg: 1,
                op: 0,
                data: d,
            },
        ]
    }

    pub fn ip_protocol(p: u8) -> Vec<Expr> {
        vec![
            Expr::Payload {
                dreg: Some(1),
                base: 1,
                offset: 9,
                len: 1,
            },
            Expr::Cmp {
                sreg: 1,
                op: 0,
                data: vec![p],
            },
        ]
    }

    fn ruleset(chains: Vec<Chain>, rules: Vec<Rule>) -> Ruleset {
        Ruleset {
            tables: vec![Table {
                family: 2,
                name: "filter".into(),
            }],
            chains,
            rules,
        }
    }

    fn probe() -> Packet {
        Packet::echo(
            "192.168.1.1".parse().unwrap(),
            "192.168.1.2".parse().unwrap(),
            false,
            56,
        )
        .via(Some(("br0", 3)), Some(("br0", 3)))
    }

    #[test]
    fn a_forward_policy_drop_with_no_rules_drops_for_certain() {
        let fwd = chain(nft::IPV4, "filter", "FORWARD", Some(nft::FORWARD), NF_DROP);
        let rs = ruleset(vec![fwd], vec![]);
        match judge(&rs, &[nft::IPV4, nft::INET], nft::FORWARD, None, &probe()) {
            Outcome::Drop { blame, certain, .. } => {
                assert!(certain);
                assert!(blame.rule.is_none());
                assert_eq!(blame.chain.name, "FORWARD");
            }
            o => panic!("{o:?}"),
        }
        // Other hooks, other families: not concerned.
        assert_eq!(
            judge(&rs, &[nft::IPV4], nft::INPUT, None, &probe()),
            Outcome::Accept
        );
        assert_eq!(
            judge(&rs, &[nft::BRIDGE], nft::FORWARD, None, &probe()),
            Outcome::Accept
        );
    }

    #[test]
    fn an_accept_rule_for_the_bridge_lets_it_through() {
        let fwd = chain(nft::IPV4, "filter", "FORWARD", Some(nft::FORWARD), NF_DROP);
        let mut e = iifname("br0");
        e.push(verdict(NF_ACCEPT, None));
        let rs = ruleset(vec![fwd.clone()], vec![rule(&fwd, 4, e)]);
        assert_eq!(
            judge(&rs, &[nft::IPV4], nft::FORWARD, None, &probe()),
            Outcome::Accept
        );
        // The same rule for another interface does not help.
        let mut e = iifname("eth9");
        e.push(verdict(NF_ACCEPT, None));
        let rs = ruleset(vec![fwd.clone()], vec![rule(&fwd, 4, e)]);
        assert!(matches!(
            judge(&rs, &[nft::IPV4], nft::FORWARD, None, &probe()),
            Outcome::Drop { certain: true, .. }
        ));
    }

    #[test]
    fn drop_rules_through_jumps_and_unknown_matches() {
        let input = chain(nft::IPV4, "filter", "INPUT", Some(nft::INPUT), NF_ACCEPT);
        let user = chain(nft::IPV4, "filter", "BLOCK", None, NF_ACCEPT);
        let mut drop_icmp = ip_protocol(1);
        drop_icmp.push(verdict(NF_DROP, None));
        let rs = ruleset(
            vec![input.clone(), user.clone()],
            vec![
                rule(&input, 2, vec![verdict(NFT_JUMP, Some("BLOCK"))]),
                rule(&user, 3, drop_icmp.clone()),
            ],
        );
        let pkt = probe().via(Some(("veth1", 2)), None);
        match judge(&rs, &[nft::IPV4], nft::INPUT, None, &pkt) {
            Outcome::Drop { blame, certain, .. } => {
                assert!(certain);
                let r = blame.rule.unwrap();
                assert_eq!((r.chain.as_str(), r.position, r.handle), ("BLOCK", 1, 3));
                assert_eq!(r.text, "ip protocol icmp drop");
                assert_eq!(blame.via, ["BLOCK"]);
            }
            o => panic!("{o:?}"),
        }
        // A tcp-only drop rule leaves the ping alone.
        let mut drop_tcp = ip_protocol(6);
        drop_tcp.push(verdict(NF_DROP, None));
        let rs2 = ruleset(vec![input.clone()], vec![rule(&input, 5, drop_tcp)]);
        assert_eq!(
            judge(&rs2, &[nft::IPV4], nft::INPUT, None, &pkt),
            Outcome::Accept
        );
        // Behind a set lookup vnet cannot see into: only possible.
        let mut e = vec![Expr::Lookup {
            sreg: 1,
            set: "blocked".into(),
            inverted: false,
        }];
        e.push(verdict(NF_DROP, None));
        let rs3 = ruleset(vec![input.clone()], vec![rule(&input, 6, e)]);
        match judge(&rs3, &[nft::IPV4], nft::INPUT, None, &pkt) {
            Outcome::Drop {
                certain, unknown, ..
            } => {
                assert!(!certain);
                assert_eq!(unknown, ["a lookup in set @blocked"]);
            }
            o => panic!("{o:?}"),
        }
        // oifname before routing: no output interface, the rule breaks.
        let mut e = vec![
            Expr::Meta {
                dreg: Some(1),
                key: 7,
            },
            Expr::Cmp {
                sreg: 1,
                op: 0,
                data: b"x\0".to_vec(),
            },
        ];
        e.push(verdict(NF_DROP, None));
        let rs4 = ruleset(vec![input.clone()], vec![rule(&input, 7, e)]);
        assert_eq!(
            judge(&rs4, &[nft::IPV4], nft::INPUT, None, &pkt),
            Outcome::Accept
        );
    }

    #[test]
    fn established_replies_pass_a_stateful_input_chain() {
        let input = chain(nft::INET, "f", "in", Some(nft::INPUT), NF_DROP);
        // ct state established,related accept
        let e = vec![
            Expr::Ct {
                dreg: Some(1),
                key: 0,
            },
            Expr::Bitwise {
                sreg: 1,
                dreg: 1,
                len: 4,
                op: 0,
                mask: 6u32.to_ne_bytes().to_vec(),
                xor: vec![0; 4],
            },
            Expr::Cmp {
                sreg: 1,
                op: 1,
                data: vec![0; 4],
            },
            verdict(NF_ACCEPT, None),
        ];
        let r = rule(&input, 2, e);
        assert_eq!(describe(&r), "ct state established,related accept");
        let rs = ruleset(vec![input.clone()], vec![r]);
        let reply = Packet::echo(
            "192.168.1.2".parse().unwrap(),
            "192.168.1.1".parse().unwrap(),
            true,
            56,
        )
        .via(Some(("veth0", 2)), None);
        assert_eq!(
            judge(&rs, &[nft::INET], nft::INPUT, None, &reply),
            Outcome::Accept
        );
        // A new request is dropped by the policy.
        let req = probe().via(Some(("veth1", 2)), None);
        assert!(matches!(
            judge(&rs, &[nft::INET], nft::INPUT, None, &req),
            Outcome::Drop { certain: true, .. }
        ));
    }
}

#[cfg(test)]
mod xt_tests {
    use super::*;

    fn pkt(reply: bool) -> Packet {
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        Packet::echo(a, b, reply, 56)
    }

    #[test]
    fn iptables_extensions_for_state_are_evaluated() {
        // -m conntrack --ctstate RELATED,ESTABLISHED (revision 3 and 1)
        let mut v3 = vec![0u8; 170];
        v3[146..148].copy_from_slice(&1u16.to_ne_bytes());
        v3[150..152].copy_from_slice(&6u16.to_ne_bytes());
        assert_eq!(xt_match("conntrack", 3, &v3, &pkt(true)), Some(true));
        assert_eq!(xt_match("conntrack", 3, &v3, &pkt(false)), Some(false));
        // ! --ctstate NEW
        let mut inv = vec![0u8; 170];
        inv[146..148].copy_from_slice(&1u16.to_ne_bytes());
        inv[148..150].copy_from_slice(&1u16.to_ne_bytes());
        inv[150..152].copy_from_slice(&8u16.to_ne_bytes());
        assert_eq!(xt_match("conntrack", 2, &inv, &pkt(false)), Some(false));
        let mut v1 = vec![0u8; 152];
        v1[146] = 1;
        v1[148] = 6;
        assert_eq!(xt_match("conntrack", 1, &v1, &pkt(true)), Some(true));
        // Address tests are not modelled; short or odd options never panic.
        let mut addr = v3.clone();
        addr[146..148].copy_from_slice(&3u16.to_ne_bytes());
        assert_eq!(xt_match("conntrack", 3, &addr, &pkt(true)), None);
        assert_eq!(xt_match("conntrack", 3, &[1, 2], &pkt(true)), None);
        assert_eq!(xt_match("conntrack", 9, &v3, &pkt(true)), None);
        // -m state --state ESTABLISHED; -m icmp --icmp-type echo-request
        assert_eq!(
            xt_match("state", 0, &2u32.to_ne_bytes(), &pkt(true)),
            Some(true)
        );
        assert_eq!(
            xt_match("state", 0, &2u32.to_ne_bytes(), &pkt(false)),
            Some(false)
        );
        assert_eq!(
            xt_match("icmp", 0, &[8, 0, 255, 0], &pkt(false)),
            Some(true)
        );
        assert_eq!(
            xt_match("icmp", 0, &[8, 0, 255, 0], &pkt(true)),
            Some(false)
        );
        assert_eq!(xt_match("icmp", 0, &[8], &pkt(true)), None);
        assert_eq!(xt_match("comment", 0, &[], &pkt(true)), Some(true));
        assert_eq!(xt_match("physdev", 0, &[], &pkt(true)), None);
    }
}
