//! Packets on the wire, pure: ICMP and ICMPv6 echo requests built, what a
//! raw ICMP socket receives parsed, and Ethernet frames (ARP, IPv4, IPv6,
//! ICMP, NDP) decoded into plain summaries for the packet walk.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::model::lab::Mac;

pub const ICMP_ECHO_REPLY: u8 = 0;
pub const ICMP_DEST_UNREACH: u8 = 3;
pub const ICMP_ECHO_REQUEST: u8 = 8;
pub const ICMP_TIME_EXCEEDED: u8 = 11;
pub const ICMP6_DEST_UNREACH: u8 = 1;
pub const ICMP6_PACKET_TOO_BIG: u8 = 2;
pub const ICMP6_TIME_EXCEEDED: u8 = 3;
pub const ICMP6_ECHO_REQUEST: u8 = 128;
pub const ICMP6_ECHO_REPLY: u8 = 129;
pub const NDP_NEIGHBOR_SOLICIT: u8 = 135;
pub const NDP_NEIGHBOR_ADVERT: u8 = 136;

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_8021Q: u16 = 0x8100;

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;

/// The Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request: ICMP header, then `size` bytes of payload (the first
/// eight, when there is room, carry `stamp`, as ping does). The IPv4
/// checksum is filled in; for ICMPv6 the kernel computes it.
pub fn echo_request(v6: bool, id: u16, seq: u16, size: usize, stamp: u64) -> Vec<u8> {
    let mut p = vec![0u8; 8 + size];
    p[0] = if v6 {
        ICMP6_ECHO_REQUEST
    } else {
        ICMP_ECHO_REQUEST
    };
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p[8..].iter_mut().enumerate() {
        *b = (i % 256) as u8;
    }
    if size >= 8 {
        p[8..16].copy_from_slice(&stamp.to_be_bytes());
    }
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// Why a probe came back as an ICMP error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IcmpError {
    /// Who sent the error.
    pub from: IpAddr,
    pub what: String,
}

/// What a raw ICMP socket delivered, as far as probes care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    Reply {
        from: IpAddr,
        id: u16,
        seq: u16,
        ttl: Option<u8>,
        /// ICMP bytes (header and payload).
        len: usize,
    },
    /// An error about one of our echo requests (its id and seq are quoted).
    Error {
        id: u16,
        seq: u16,
        /// The destination of the request the error is about.
        to: IpAddr,
        error: IcmpError,
    },
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn v4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(s))
}

fn v6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(s))
}

fn mac_at(b: &[u8], at: usize) -> Option<Mac> {
    let s: [u8; 6] = b.get(at..at + 6)?.try_into().ok()?;
    Some(Mac(s))
}

/// An ICMP (ICMPv6) error in words: "port unreachable", "host unreachable".
pub fn icmp_error_words(v6: bool, ty: u8, code: u8) -> String {
    if v6 {
        icmp6_error(ty, code)
    } else {
        icmp4_error(ty, code)
    }
}

fn icmp4_error(ty: u8, code: u8) -> String {
    match (ty, code) {
        (ICMP_DEST_UNREACH, 0) => "network unreachable".into(),
        (ICMP_DEST_UNREACH, 1) => "host unreachable".into(),
        (ICMP_DEST_UNREACH, 2) => "protocol unreachable".into(),
        (ICMP_DEST_UNREACH, 3) => "port unreachable".into(),
        (ICMP_DEST_UNREACH, 4) => "fragmentation needed".into(),
        (ICMP_DEST_UNREACH, 9 | 10 | 13) => "administratively prohibited".into(),
        (ICMP_DEST_UNREACH, c) => format!("destination unreachable (code {c})"),
        (ICMP_TIME_EXCEEDED, _) => "time to live exceeded".into(),
        (t, c) => format!("ICMP type {t} code {c}"),
    }
}

fn icmp6_error(ty: u8, code: u8) -> String {
    match (ty, code) {
        (ICMP6_DEST_UNREACH, 0) => "no route to destination".into(),
        (ICMP6_DEST_UNREACH, 1) => "administratively prohibited".into(),
        (ICMP6_DEST_UNREACH, 3) => "address unreachable".into(),
        (ICMP6_DEST_UNREACH, 4) => "port unreachable".into(),
        (ICMP6_DEST_UNREACH, c) => format!("destination unreachable (code {c})"),
        (ICMP6_PACKET_TOO_BIG, _) => "packet too big".into(),
        (ICMP6_TIME_EXCEEDED, _) => "hop limit exceeded".into(),
        (t, c) => format!("ICMPv6 type {t} code {c}"),
    }
}

/// An IPv4 packet as a raw ICMP socket delivers it (IP header included).
pub fn parse_icmp4(pkt: &[u8]) -> Option<Received> {
    let ihl = usize::from(*pkt.first()? & 0x0f) * 4;
    if *pkt.first()? >> 4 != 4 || ihl < 20 || pkt.get(9) != Some(&IPPROTO_ICMP) {
        return None;
    }
    let from = IpAddr::V4(v4_at(pkt, 12)?);
    let ttl = pkt[8];
    let icmp = pkt.get(ihl..)?;
    let ty = *icmp.first()?;
    let code = *icmp.get(1)?;
    match ty {
        ICMP_ECHO_REPLY => Some(Received::Reply {
            from,
            id: be16(icmp, 4)?,
            seq: be16(icmp, 6)?,
            ttl: Some(ttl),
            len: icmp.len(),
        }),
        ICMP_DEST_UNREACH | ICMP_TIME_EXCEEDED => {
            // The quoted packet: its IP header, then the first 8 bytes of ICMP.
            let inner = icmp.get(8..)?;
            let ihl2 = usize::from(*inner.first()? & 0x0f) * 4;
            if ihl2 < 20 || inner.get(9) != Some(&IPPROTO_ICMP) {
                return None;
            }
            let to = IpAddr::V4(v4_at(inner, 16)?);
            let q = inner.get(ihl2..)?;
            if *q.first()? != ICMP_ECHO_REQUEST {
                return None;
            }
            Some(Received::Error {
                id: be16(q, 4)?,
                seq: be16(q, 6)?,
                to,
                error: IcmpError {
                    from,
                    what: icmp4_error(ty, code),
                },
            })
        }
        _ => None,
    }
}

/// An ICMPv6 message as a raw ICMPv6 socket delivers it (no IP header).
pub fn parse_icmp6(icmp: &[u8], from: Ipv6Addr, hop_limit: Option<u8>) -> Option<Received> {
    let ty = *icmp.first()?;
    let code = *icmp.get(1)?;
    match ty {
        ICMP6_ECHO_REPLY => Some(Received::Reply {
            from: IpAddr::V6(from),
            id: be16(icmp, 4)?,
            seq: be16(icmp, 6)?,
            ttl: hop_limit,
            len: icmp.len(),
        }),
        ICMP6_DEST_UNREACH | ICMP6_PACKET_TOO_BIG | ICMP6_TIME_EXCEEDED => {
            let inner = icmp.get(8..)?;
            if *inner.first()? >> 4 != 6 || inner.get(6) != Some(&IPPROTO_ICMPV6) {
                return None;
            }
            let to = IpAddr::V6(v6_at(inner, 24)?);
            let q = inner.get(40..)?;
            if *q.first()? != ICMP6_ECHO_REQUEST {
                return None;
            }
            Some(Received::Error {
                id: be16(q, 4)?,
                seq: be16(q, 6)?,
                to,
                error: IcmpError {
                    from: IpAddr::V6(from),
                    what: icmp6_error(ty, code),
                },
            })
        }
        _ => None,
    }
}

/// One Ethernet frame, decoded as far as the walk needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Frame {
    #[serde(serialize_with = "ser_display")]
    pub src_mac: Mac,
    #[serde(serialize_with = "ser_display")]
    pub dst_mac: Mac,
    pub vlan: Option<u16>,
    pub what: What,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum What {
    ArpRequest {
        #[serde(serialize_with = "ser_display")]
        sender_mac: Mac,
        sender_ip: Ipv4Addr,
        target_ip: Ipv4Addr,
    },
    ArpReply {
        #[serde(serialize_with = "ser_display")]
        sender_mac: Mac,
        sender_ip: Ipv4Addr,
        #[serde(serialize_with = "ser_display")]
        target_mac: Mac,
        target_ip: Ipv4Addr,
    },
    EchoRequest {
        src: IpAddr,
        dst: IpAddr,
        id: u16,
        seq: u16,
        ttl: u8,
    },
    EchoReply {
        src: IpAddr,
        dst: IpAddr,
        id: u16,
        seq: u16,
        ttl: u8,
    },
    /// An ICMP error quoting an echo request.
    IcmpError {
        src: IpAddr,
        dst: IpAddr,
        what: String,
        /// The quoted request's destination, id and seq.
        about: IpAddr,
        id: u16,
        seq: u16,
    },
    NeighborSolicit {
        src: IpAddr,
        dst: IpAddr,
        target: Ipv6Addr,
    },
    NeighborAdvert {
        src: IpAddr,
        dst: IpAddr,
        target: Ipv6Addr,
        #[serde(serialize_with = "ser_opt_display")]
        target_mac: Option<Mac>,
    },
    OtherIp {
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
    },
    Other {
        ethertype: u16,
    },
}

fn ser_display<S: serde::Serializer, T: fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn ser_opt_display<S: serde::Serializer, T: fmt::Display>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) => s.collect_str(x),
        None => s.serialize_none(),
    }
}

/// Decode an Ethernet frame; None when it is too short to be one.
pub fn decode(frame: &[u8]) -> Option<Frame> {
    let dst_mac = mac_at(frame, 0)?;
    let src_mac = mac_at(frame, 6)?;
    let mut ethertype = be16(frame, 12)?;
    let mut off = 14;
    let mut vlan = None;
    if ethertype == ETH_P_8021Q {
        vlan = Some(be16(frame, 14)? & 0x0fff);
        ethertype = be16(frame, 16)?;
        off = 18;
    }
    let body = frame.get(off..)?;
    let what = match ethertype {
        ETH_P_ARP => arp(body),
        ETH_P_IP => ipv4(body),
        ETH_P_IPV6 => ipv6(body),
        _ => None,
    }
    .unwrap_or(What::Other { ethertype });
    Some(Frame {
        src_mac,
        dst_mac,
        vlan,
        what,
    })
}

fn arp(b: &[u8]) -> Option<What> {
    // Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4.
    if be16(b, 0)? != 1 || be16(b, 2)? != ETH_P_IP || b.get(4) != Some(&6) || b.get(5) != Some(&4) {
        return None;
    }
    let sender_mac = mac_at(b, 8)?;
    let sender_ip = v4_at(b, 14)?;
    let target_mac = mac_at(b, 18)?;
    let target_ip = v4_at(b, 24)?;
    match be16(b, 6)? {
        1 => Some(What::ArpRequest {
            sender_mac,
            sender_ip,
            target_ip,
        }),
        2 => Some(What::ArpReply {
            sender_mac,
            sender_ip,
            target_mac,
            target_ip,
        }),
        _ => None,
    }
}

fn ipv4(b: &[u8]) -> Option<What> {
    let ihl = usize::from(*b.first()? & 0x0f) * 4;
    if *b.first()? >> 4 != 4 || ihl < 20 {
        return None;
    }
    let src = IpAddr::V4(v4_at(b, 12)?);
    let dst = IpAddr::V4(v4_at(b, 16)?);
    let ttl = *b.get(8)?;
    let protocol = *b.get(9)?;
    let other = What::OtherIp { src, dst, protocol };
    if protocol != IPPROTO_ICMP {
        return Some(other);
    }
    let Some(icmp) = b.get(ihl..) else {
        return Some(other);
    };
    Some(match icmp.first() {
        Some(&ICMP_ECHO_REQUEST) | Some(&ICMP_ECHO_REPLY) => {
            let (Some(id), Some(seq)) = (be16(icmp, 4), be16(icmp, 6)) else {
                return Some(other);
            };
            if icmp[0] == ICMP_ECHO_REQUEST {
                What::EchoRequest {
                    src,
                    dst,
                    id,
                    seq,
                    ttl,
                }
            } else {
                What::EchoReply {
                    src,
                    dst,
                    id,
                    seq,
                    ttl,
                }
            }
        }
        Some(&ICMP_DEST_UNREACH) | Some(&ICMP_TIME_EXCEEDED) => {
            // Reuse the socket parser on the packet as a whole.
            let mut whole = b.to_vec();
            whole.truncate(usize::from(be16(b, 2).unwrap_or(0)).max(ihl).min(b.len()));
            match parse_icmp4(&whole) {
                Some(Received::Error { id, seq, to, error }) => What::IcmpError {
                    src,
                    dst,
                    what: error.what,
                    about: to,
                    id,
                    seq,
                },
                _ => other,
            }
        }
        _ => other,
    })
}

fn ipv6(b: &[u8]) -> Option<What> {
    if *b.first()? >> 4 != 6 {
        return None;
    }
    let src6 = v6_at(b, 8)?;
    let src = IpAddr::V6(src6);
    let dst = IpAddr::V6(v6_at(b, 24)?);
    let hop = *b.get(7)?;
    let next = *b.get(6)?;
    let other = What::OtherIp {
        src,
        dst,
        protocol: next,
    };
    if next != IPPROTO_ICMPV6 {
        return Some(other);
    }
    let Some(icmp) = b.get(40..) else {
        return Some(other);
    };
    let ty = match icmp.first() {
        Some(t) => *t,
        None => return Some(other),
    };
    let id_seq = (be16(icmp, 4), be16(icmp, 6));
    Some(match (ty, id_seq) {
        (ICMP6_ECHO_REQUEST, (Some(id), Some(seq))) => What::EchoRequest {
            src,
            dst,
            id,
            seq,
            ttl: hop,
        },
        (ICMP6_ECHO_REPLY, (Some(id), Some(seq))) => What::EchoReply {
            src,
            dst,
            id,
            seq,
            ttl: hop,
        },
        (NDP_NEIGHBOR_SOLICIT, _) => match v6_at(icmp, 8) {
            Some(target) => What::NeighborSolicit { src, dst, target },
            None => other,
        },
        (NDP_NEIGHBOR_ADVERT, _) => match v6_at(icmp, 8) {
            Some(target) => What::NeighborAdvert {
                src,
                dst,
                target,
                target_mac: ndp_option_mac(icmp.get(24..).unwrap_or(&[]), 2),
            },
            None => other,
        },
        (ICMP6_DEST_UNREACH | ICMP6_PACKET_TOO_BIG | ICMP6_TIME_EXCEEDED, _) => {
            match parse_icmp6(icmp, src6, None) {
                Some(Received::Error { id, seq, to, error }) => What::IcmpError {
                    src,
                    dst,
                    what: error.what,
                    about: to,
                    id,
                    seq,
                },
                _ => other,
            }
        }
        _ => other,
    })
}

/// The link-layer address in an NDP option of type `ty` (1 source, 2 target).
fn ndp_option_mac(mut opts: &[u8], ty: u8) -> Option<Mac> {
    while opts.len() >= 8 {
        let len = usize::from(opts[1]) * 8;
        if len == 0 || len > opts.len() {
            return None;
        }
        if opts[0] == ty && len >= 8 {
            return mac_at(opts, 2);
        }
        opts = &opts[len..];
    }
    None
}

impl What {
    /// Like tcpdump, in one line.
    pub fn summary(&self) -> String {
        match self {
            What::ArpRequest {
                sender_ip,
                target_ip,
                ..
            } => format!("ARP who-has {target_ip} tell {sender_ip}"),
            What::ArpReply {
                sender_ip,
                sender_mac,
                ..
            } => format!("ARP {sender_ip} is-at {sender_mac}"),
            What::EchoRequest {
                src, dst, id, seq, ..
            } => format!(
                "{} echo request {src} > {dst} id {id} seq {seq}",
                icmp_name(src)
            ),
            What::EchoReply {
                src, dst, id, seq, ..
            } => format!(
                "{} echo reply {src} > {dst} id {id} seq {seq}",
                icmp_name(src)
            ),
            What::IcmpError {
                src,
                dst,
                what,
                about,
                ..
            } => format!(
                "{} {what} {src} > {dst} (about the request to {about})",
                icmp_name(src)
            ),
            What::NeighborSolicit { src, target, .. } => {
                format!("NDP who-has {target} tell {src}")
            }
            What::NeighborAdvert {
                target, target_mac, ..
            } => match target_mac {
                Some(m) => format!("NDP {target} is-at {m}"),
                None => format!("NDP {target} advertised"),
            },
            What::OtherIp { src, dst, protocol } => {
                format!("IP {src} > {dst} protocol {protocol}")
            }
            What::Other { ethertype } => format!("ethertype 0x{ethertype:04x}"),
        }
    }

    /// A short kind name for JSON and diagrams.
    pub fn kind(&self) -> &'static str {
        match self {
            What::ArpRequest { .. } => "arp-request",
            What::ArpReply { .. } => "arp-reply",
            What::EchoRequest { .. } => "echo-request",
            What::EchoReply { .. } => "echo-reply",
            What::IcmpError { .. } => "icmp-error",
            What::NeighborSolicit { .. } => "neighbor-solicit",
            What::NeighborAdvert { .. } => "neighbor-advert",
            What::OtherIp { .. } => "other-ip",
            What::Other { .. } => "other",
        }
    }
}

fn icmp_name(a: &IpAddr) -> &'static str {
    if a.is_ipv6() { "ICMPv6" } else { "ICMP" }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub const A: Mac = Mac([0x02, 0, 0, 0, 0, 1]);
    pub const B: Mac = Mac([0x02, 0, 0, 0, 0, 2]);
    pub const BCAST: Mac = Mac([0xff; 6]);

    pub fn eth(dst: Mac, src: Mac, ty: u16, body: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst.0);
        f.extend_from_slice(&src.0);
        f.extend_from_slice(&ty.to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    pub fn arp_frame(op: u16, smac: Mac, sip: [u8; 4], tmac: Mac, tip: [u8; 4]) -> Vec<u8> {
        let mut b = vec![0, 1, 8, 0, 6, 4];
        b.extend_from_slice(&op.to_be_bytes());
        b.extend_from_slice(&smac.0);
        b.extend_from_slice(&sip);
        b.extend_from_slice(&tmac.0);
        b.extend_from_slice(&tip);
        let dst = if op == 1 { BCAST } else { tmac };
        eth(dst, smac, ETH_P_ARP, &b)
    }

    pub fn ip4(src: [u8; 4], dst: [u8; 4], ttl: u8, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, ttl, IPPROTO_ICMP, 0, 0];
        let total = (20 + payload.len()) as u16;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h.extend_from_slice(payload);
        h
    }

    pub fn echo_frame(
        from: Mac,
        to: Mac,
        src: [u8; 4],
        dst: [u8; 4],
        reply: bool,
        id: u16,
        seq: u16,
    ) -> Vec<u8> {
        let mut icmp = echo_request(false, id, seq, 56, 0);
        if reply {
            icmp[0] = ICMP_ECHO_REPLY;
        }
        eth(to, from, ETH_P_IP, &ip4(src, dst, 64, &icmp))
    }

    #[test]
    fn checksum_of_a_known_header() {
        // RFC 1071 example bytes.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&d), !0xddf2);
        let p = echo_request(false, 0x1234, 7, 56, 99);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        assert_eq!(p.len(), 64);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(echo_request(true, 1, 1, 0, 0)[0], ICMP6_ECHO_REQUEST);
    }

    #[test]
    fn parses_replies_and_errors_from_a_raw_socket() {
        let mut reply = echo_request(false, 42, 3, 16, 0);
        reply[0] = ICMP_ECHO_REPLY;
        let pkt = ip4([10, 0, 0, 2], [10, 0, 0, 1], 63, &reply);
        assert_eq!(
            parse_icmp4(&pkt),
            Some(Received::Reply {
                from: "10.0.0.2".parse().unwrap(),
                id: 42,
                seq: 3,
                ttl: Some(63),
                len: 24
            })
        );
        // Host unreachable from a router, quoting our request to 10.0.9.9.
        let req = ip4(
            [10, 0, 0, 1],
            [10, 0, 9, 9],
            64,
            &echo_request(false, 42, 4, 8, 0),
        );
        let mut err = vec![ICMP_DEST_UNREACH, 1, 0, 0, 0, 0, 0, 0];
        err.extend_from_slice(&req[..28]);
        let pkt = ip4([10, 0, 0, 254], [10, 0, 0, 1], 64, &err);
        match parse_icmp4(&pkt) {
            Some(Received::Error { id, seq, to, error }) => {
                assert_eq!((id, seq), (42, 4));
                assert_eq!(to, "10.0.9.9".parse::<IpAddr>().unwrap());
                assert_eq!(error.what, "host unreachable");
                assert_eq!(error.from, "10.0.0.254".parse::<IpAddr>().unwrap());
            }
            x => panic!("{x:?}"),
        }
        // Garbage never panics.
        for n in 0..pkt.len() {
            let _ = parse_icmp4(&pkt[..n]);
            let _ = parse_icmp6(&pkt[..n], Ipv6Addr::LOCALHOST, None);
            let _ = decode(&pkt[..n]);
        }
    }

    #[test]
    fn decodes_arp_and_icmp_frames() {
        let f = decode(&arp_frame(
            1,
            A,
            [192, 168, 1, 1],
            Mac([0; 6]),
            [192, 168, 1, 2],
        ))
        .unwrap();
        assert_eq!(f.dst_mac, BCAST);
        assert_eq!(f.what.summary(), "ARP who-has 192.168.1.2 tell 192.168.1.1");
        let f = decode(&arp_frame(2, B, [192, 168, 1, 2], A, [192, 168, 1, 1])).unwrap();
        assert_eq!(f.what.summary(), "ARP 192.168.1.2 is-at 02:00:00:00:00:02");
        let f = decode(&echo_frame(
            A,
            B,
            [192, 168, 1, 1],
            [192, 168, 1, 2],
            false,
            7,
            1,
        ))
        .unwrap();
        assert_eq!(
            f.what.summary(),
            "ICMP echo request 192.168.1.1 > 192.168.1.2 id 7 seq 1"
        );
        assert_eq!(f.what.kind(), "echo-request");
    }
}
