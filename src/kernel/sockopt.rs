//! Socket options nix does not wrap (nix 0.32 has neither TCP_INFO nor
//! IPV6_MTU): one small function per option over `sys::get_option_bytes`.

use std::os::fd::BorrowedFd;

use super::KernelError;

/// What `vnet perf` reads from the kernel's `struct tcp_info`. Fields an
/// older kernel does not fill in (its struct is shorter) are None.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TcpInfo {
    /// Smoothed round-trip time, microseconds.
    pub rtt_us: u32,
    /// Congestion window, segments.
    pub snd_cwnd: u32,
    /// Segments retransmitted over the connection's life (Linux 2.6.11+).
    pub total_retrans: Option<u32>,
    /// Bytes the peer acknowledged (Linux 4.1+).
    pub bytes_acked: Option<u64>,
}

// Offsets in `struct tcp_info` (include/uapi/linux/tcp.h): eight u8 fields,
// then u32 fields from tcpi_rto at 8; tcpi_rtt is the 16th u32.
const RTT: usize = 68;
const SND_CWND: usize = 80;
const TOTAL_RETRANS: usize = 100;
const BYTES_ACKED: usize = 120;

/// The kernel's TCP_INFO for a TCP socket.
pub(crate) fn tcp_info(fd: BorrowedFd) -> Result<TcpInfo, KernelError> {
    let mut buf = [0u8; 256];
    let len = super::sys::get_option_bytes(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut buf)?;
    Ok(parse_tcp_info(&buf[..len]))
}

/// The path MTU the kernel knows for a connected socket (IP_MTU or
/// IPV6_MTU).
pub(crate) fn path_mtu(fd: BorrowedFd, v6: bool) -> Result<u32, KernelError> {
    if !v6 {
        let mtu = nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::IpMtu)?;
        return Ok(u32::try_from(mtu).unwrap_or(0));
    }
    let mut mtu = [0u8; 4];
    super::sys::get_option_bytes(fd, libc::IPPROTO_IPV6, libc::IPV6_MTU, &mut mtu)?;
    Ok(u32::try_from(i32::from_ne_bytes(mtu)).unwrap_or(0))
}

/// `struct tcp_info` as the kernel filled it in (its length says which
/// fields this kernel knows), in native byte order.
pub(crate) fn parse_tcp_info(b: &[u8]) -> TcpInfo {
    let u32_at = |at: usize| {
        b.get(at..at + 4)
            .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
    };
    let u64_at = |at: usize| {
        b.get(at..at + 8).map(|s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_ne_bytes(a)
        })
    };
    TcpInfo {
        rtt_us: u32_at(RTT).unwrap_or(0),
        snd_cwnd: u32_at(SND_CWND).unwrap_or(0),
        total_retrans: u32_at(TOTAL_RETRANS),
        bytes_acked: u64_at(BYTES_ACKED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_where_the_kernel_put_them() {
        let mut b = vec![0u8; 232];
        b[RTT..RTT + 4].copy_from_slice(&1234u32.to_ne_bytes());
        b[SND_CWND..SND_CWND + 4].copy_from_slice(&10u32.to_ne_bytes());
        b[TOTAL_RETRANS..TOTAL_RETRANS + 4].copy_from_slice(&7u32.to_ne_bytes());
        b[BYTES_ACKED..BYTES_ACKED + 8].copy_from_slice(&(5u64 << 32).to_ne_bytes());
        let i = parse_tcp_info(&b);
        assert_eq!(
            i,
            TcpInfo {
                rtt_us: 1234,
                snd_cwnd: 10,
                total_retrans: Some(7),
                bytes_acked: Some(5 << 32),
            }
        );
        // An old kernel's shorter struct: what it lacks is unknown, not 0.
        let old = parse_tcp_info(&b[..104]);
        assert_eq!(old.total_retrans, Some(7));
        assert_eq!(old.bytes_acked, None);
        assert_eq!(parse_tcp_info(&b[..100]).total_retrans, None);
    }
}
