//! A small pcapng writer, pure: one section header, one interface
//! description block per capture point (with its name, and the namespace in
//! its description), and one enhanced packet block per frame, with
//! nanosecond timestamps and the direction the frame went.
//! Format: <https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html>.

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const LINKTYPE_ETHERNET: u16 = 1;
const SNAPLEN: u32 = 262_144;

const OPT_END: u16 = 0;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;
const EPB_FLAGS: u16 = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub description: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Clone, Debug)]
pub struct Packet<'a> {
    /// Index into the interfaces given to `write`.
    pub interface: u32,
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub data: &'a [u8],
    /// Length on the wire (at least `data.len()`).
    pub orig_len: u32,
    pub direction: Option<Direction>,
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + pad4(value.len()) - value.len(), 0);
}

/// A block: type, total length, body (padded), total length again.
fn block(out: &mut Vec<u8>, ty: u32, body: &[u8]) {
    let total = (12 + pad4(body.len())) as u32;
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + pad4(body.len()) - body.len(), 0);
    out.extend_from_slice(&total.to_le_bytes());
}

/// Option values are limited to 65535 bytes.
fn text(s: &str) -> &[u8] {
    let b = s.as_bytes();
    &b[..b.len().min(60_000)]
}

/// The whole file, little-endian.
pub fn write(interfaces: &[Interface], packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut body = Vec::new();
    body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    option(
        &mut body,
        SHB_USERAPPL,
        format!("vnet {}", env!("CARGO_PKG_VERSION")).as_bytes(),
    );
    option(&mut body, OPT_END, &[]);
    block(&mut out, SHB, &body);

    for i in interfaces {
        let mut body = Vec::new();
        body.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&SNAPLEN.to_le_bytes());
        option(&mut body, IF_NAME, text(&i.name));
        option(&mut body, IF_DESCRIPTION, text(&i.description));
        option(&mut body, IF_TSRESOL, &[9]);
        option(&mut body, OPT_END, &[]);
        block(&mut out, IDB, &body);
    }

    for p in packets {
        let data = &p.data[..p.data.len().min(SNAPLEN as usize)];
        let mut body = Vec::with_capacity(32 + data.len());
        body.extend_from_slice(&p.interface.to_le_bytes());
        body.extend_from_slice(&((p.ts_ns >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(p.ts_ns as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&p.orig_len.max(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        body.resize(pad4(body.len()), 0);
        if let Some(d) = p.direction {
            let flags: u32 = match d {
                Direction::Inbound => 1,
                Direction::Outbound => 2,
            };
            option(&mut body, EPB_FLAGS, &flags.to_le_bytes());
            option(&mut body, OPT_END, &[]);
        }
        block(&mut out, EPB, &body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    /// Walk the blocks: (type, body) each, checking both length fields.
    fn blocks(b: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut off = 0;
        while off < b.len() {
            let ty = u32_at(b, off);
            let len = u32_at(b, off + 4) as usize;
            assert_eq!(len % 4, 0, "blocks are 32-bit aligned");
            assert_eq!(u32_at(b, off + len - 4) as usize, len, "trailing length");
            out.push((ty, b[off + 8..off + len - 4].to_vec()));
            off += len;
        }
        assert_eq!(off, b.len());
        out
    }

    fn options(mut b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        while b.len() >= 4 {
            let code = u16::from_le_bytes([b[0], b[1]]);
            let len = u16::from_le_bytes([b[2], b[3]]) as usize;
            out.push((code, b[4..4 + len].to_vec()));
            if code == OPT_END {
                break;
            }
            b = &b[4 + pad4(len)..];
        }
        out
    }

    #[test]
    fn encodes_sections_interfaces_and_packets() {
        let ifs = [
            Interface {
                name: "veth0".into(),
                description: "veth0 in namespace ns1".into(),
            },
            Interface {
                name: "br0-veth0".into(),
                description: "br0-veth0 in namespace host".into(),
            },
        ];
        let frame = [0xabu8; 61];
        let pkts = [
            Packet {
                interface: 0,
                ts_ns: 1_700_000_000_123_456_789,
                data: &frame,
                orig_len: 61,
                direction: Some(Direction::Outbound),
            },
            Packet {
                interface: 1,
                ts_ns: 1_700_000_000_123_456_999,
                data: &frame[..60],
                orig_len: 60,
                direction: None,
            },
        ];
        let out = write(&ifs, &pkts);
        let b = blocks(&out);
        assert_eq!(
            b.iter().map(|x| x.0).collect::<Vec<_>>(),
            [SHB, IDB, IDB, EPB, EPB]
        );
        assert_eq!(u32_at(&b[0].1, 0), BYTE_ORDER_MAGIC);
        let idb = options(&b[1].1[8..]);
        assert_eq!(idb[0], (IF_NAME, b"veth0".to_vec()));
        assert_eq!(idb[1], (IF_DESCRIPTION, b"veth0 in namespace ns1".to_vec()));
        assert_eq!(idb[2], (IF_TSRESOL, vec![9]));
        let epb = &b[3].1;
        assert_eq!(u32_at(epb, 0), 0);
        let ts = (u64::from(u32_at(epb, 4)) << 32) | u64::from(u32_at(epb, 8));
        assert_eq!(ts, 1_700_000_000_123_456_789);
        assert_eq!((u32_at(epb, 12), u32_at(epb, 16)), (61, 61));
        assert_eq!(&epb[20..81], &frame[..]);
        let opts = options(&epb[20 + pad4(61)..]);
        assert_eq!(opts[0], (EPB_FLAGS, 2u32.to_le_bytes().to_vec()));
        assert_eq!(u32_at(&b[4].1, 0), 1);
        assert_eq!(b[4].1.len(), 20 + 60, "no options without a direction");
    }
}
