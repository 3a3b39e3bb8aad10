//! How kernel objects carry the name of the lab that owns them, so `down`
//! and crash recovery work without any state file:
//! - a lab namespace has the alias `vnet:LAB` on its `lo`, set before the
//!   namespace is mounted under /run/netns (never visible unmarked);
//! - every interface vnet creates gets the lab's device group in its creation
//!   request (atomic), and interfaces in the host namespace also get the
//!   alias `vnet:LAB` (shown by `ip link`).

pub const MARK_PREFIX: &str = "vnet:";

/// The alias that marks an object as the lab's.
pub fn mark(lab: &str) -> String {
    format!("{MARK_PREFIX}{lab}")
}

/// The lab named by an alias, if it is a vnet mark.
pub fn lab_of_mark(alias: &str) -> Option<&str> {
    alias.strip_prefix(MARK_PREFIX).filter(|l| !l.is_empty())
}

/// The lab's device group: stable, derived from its name, and far from the
/// small numbers people pick by hand (group 0 is every device's default).
pub fn group(lab: &str) -> u32 {
    // FNV-1a: stable across versions and platforms, unlike std's hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in lab.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    0x5600_0000 | (h & 0x00ff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip() {
        assert_eq!(lab_of_mark(&mark("seed-bridge")), Some("seed-bridge"));
        assert_eq!(lab_of_mark("docker0"), None);
        assert_eq!(lab_of_mark("vnet:"), None);
    }

    #[test]
    fn groups_are_stable_and_distinct() {
        assert_eq!(group("seed-bridge"), group("seed-bridge"));
        assert_ne!(group("a"), group("b"));
        assert!(group("x") >= 0x5600_0000);
    }
}
