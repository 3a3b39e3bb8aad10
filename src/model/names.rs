//! What makes a name acceptable to the kernel, to iproute2 and to /run/netns.

use super::error::ValueError;

/// Longest interface name the kernel takes (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;
/// Longest lab name: it is part of ownership marks and state file names.
pub const LAB_NAME_MAX: usize = 32;
/// Longest namespace name we accept (a file name under /run/netns).
pub const NETNS_NAME_MAX: usize = 64;

/// Names vnet refuses for nodes, with the reason.
pub fn reserved_node_name(name: &str) -> Option<&'static str> {
    match name {
        "host" => {
            Some("`host` is the namespace vnet runs in; it is always there and needs no entry")
        }
        "all" => Some("`all` has a special meaning to `ip -all netns`"),
        "lo" => Some("`lo` is every namespace's loopback interface"),
        _ => None,
    }
}

pub fn check_lab_name(name: &str) -> Result<(), ValueError> {
    if name.is_empty() {
        return Err(ValueError::LabNameEmpty);
    }
    if name.len() > LAB_NAME_MAX {
        return Err(ValueError::LabNameTooLong {
            len: name.len(),
            max: LAB_NAME_MAX,
        });
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(ValueError::LabNameChar(describe_char(c)));
    }
    if name.starts_with('-') {
        return Err(ValueError::LabNameDash);
    }
    Ok(())
}

/// The kernel's rule (dev_valid_name) plus `lo`, which exists everywhere.
pub fn check_ifname(name: &str) -> Result<(), ValueError> {
    if name.is_empty() {
        return Err(ValueError::IfnameEmpty);
    }
    if name.len() > IFNAME_MAX {
        return Err(ValueError::IfnameTooLong {
            name: printable(name),
            len: name.len(),
            max: IFNAME_MAX,
        });
    }
    if name == "." || name == ".." {
        return Err(ValueError::IfnameDots(name.to_string()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(ValueError::IfnameChar(describe_char(c)));
    }
    if name == "lo" {
        return Err(ValueError::IfnameLoopback);
    }
    Ok(())
}

/// A namespace name becomes a file under /run/netns: no separators, no dot
/// files, nothing a shell or `ip netns` would trip on.
pub fn check_netns_name(name: &str) -> Result<(), ValueError> {
    if name.is_empty() {
        return Err(ValueError::NodeNameEmpty);
    }
    if name.len() > NETNS_NAME_MAX {
        return Err(ValueError::NodeNameTooLong {
            len: name.len(),
            max: NETNS_NAME_MAX,
        });
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(ValueError::NodeNameChar(describe_char(c)));
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Err(ValueError::NodeNameLead);
    }
    Ok(())
}

/// Characters named so that invisible ones show up in messages.
pub fn describe_char(c: char) -> String {
    match c {
        '/' => "'/' (a path separator)".into(),
        ' ' => "a space".into(),
        '\t' => "a tab".into(),
        '\0' => "a NUL byte".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c if c.is_whitespace() => format!("the whitespace U+{:04X}", c as u32),
        c => format!("'{c}'"),
    }
}

/// A name safe to print: control characters escaped.
pub fn printable(s: &str) -> String {
    s.chars().flat_map(char::escape_default).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_follow_the_kernel() {
        assert!(check_ifname("veth0").is_ok());
        assert!(check_ifname("br0-veth1").is_ok());
        assert!(check_ifname("a23456789012345").is_ok());
        assert!(check_ifname("a234567890123456").is_err());
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "a\tb", "a\0b", "lo"] {
            assert!(check_ifname(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn namespace_names_never_leave_run_netns() {
        for bad in [
            "../../etc",
            "..",
            ".hidden",
            "a/b",
            "-x",
            "a\nb",
            "",
            "ns 1",
        ] {
            assert!(check_netns_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_netns_name("ns1").is_ok());
        assert!(check_netns_name("r1.core_2-a").is_ok());
    }

    #[test]
    fn lab_names() {
        assert!(check_lab_name("seed-bridge").is_ok());
        assert!(check_lab_name("Seed").is_err());
        assert!(check_lab_name("-x").is_err());
        assert!(check_lab_name(&"a".repeat(33)).is_err());
    }
}
