//! Checked before anything changes: vnet needs CAP_NET_ADMIN (netlink) and
//! CAP_SYS_ADMIN (namespaces, mounts).

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;

fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// None when allowed; otherwise which capability is missing.
pub fn missing() -> Option<&'static str> {
    let caps = effective_caps();
    if caps & (1 << CAP_NET_ADMIN) == 0 {
        Some("CAP_NET_ADMIN")
    } else if caps & (1 << CAP_SYS_ADMIN) == 0 {
        Some("CAP_SYS_ADMIN")
    } else {
        None
    }
}
