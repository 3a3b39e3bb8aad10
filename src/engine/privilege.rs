//! Checked before anything is touched: vnet needs CAP_NET_ADMIN (netlink
//! changes) and CAP_SYS_ADMIN (entering and making namespaces, mounts).
//!
//! The capabilities are read from /proc/self/status (CapEff), which counts
//! them in the caller's own user namespace: root, and also uid 0 of a user
//! namespace that owns its network namespace (`unshare --user
//! --map-root-user --net --mount`), where a normal user may build and
//! probe networks of its own.
//!
//! A refusal says what the command does that needs the privilege, so that
//! `vnet status` is not told it "changes" anything.

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

/// What reading another namespace takes, for every command that reads.
pub const READING: &str = "enters the network namespaces (setns) to read them";

/// What `command` (its first word: "up", "status", …) does that needs the
/// privilege.
pub fn why(command: &str) -> &'static str {
    match command.split_whitespace().next().unwrap_or("") {
        "up" => "creates namespaces, interfaces, addresses and routes",
        "down" => "removes the lab's namespaces and interfaces",
        "exec" => "enters the node's network namespace",
        "ping" | "trace" | "doctor" => {
            "sends and listens with raw sockets from inside the nodes' namespaces"
        }
        _ => READING,
    }
}

/// The one-line refusal for `command`, missing capability `missing`.
pub fn refusal(command: &str, missing: &str) -> String {
    format!(
        "`vnet {command}` needs root: it {} ({missing} is missing); run it with sudo: sudo vnet {command} …",
        why(command)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_command_says_why() {
        assert!(
            refusal("status", "CAP_SYS_ADMIN").starts_with("`vnet status` needs root: it enters ")
        );
        assert!(!refusal("status", "CAP_SYS_ADMIN").contains("changes"));
        assert!(refusal("up", "CAP_NET_ADMIN").contains("creates namespaces"));
        assert!(refusal("down", "CAP_NET_ADMIN").contains("removes"));
        assert!(refusal("exec", "CAP_SYS_ADMIN").contains("enters"));
        for r in [
            refusal("up", "CAP_NET_ADMIN"),
            refusal("status", "CAP_SYS_ADMIN"),
        ] {
            assert!(r.contains("needs root: it "), "{r}");
            assert!(r.contains(" is missing); run it with sudo"), "{r}");
            assert!(!r.contains('\n'), "{r}");
        }
    }
}
