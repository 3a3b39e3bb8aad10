//! The fix commands, as a user types them in the right namespace: `ip -n NS`
//! for iproute2, `ip netns exec NS …` for sysctl, nft and iptables, `tc -n NS`
//! for qdiscs; plain commands in the host namespace (pure).

use crate::model::lab::HOST;
use crate::plan::script::q;

/// `ip [-n NS] ARGS`.
pub fn ip(ns: &str, args: &str) -> String {
    if ns == HOST {
        format!("ip {args}")
    } else {
        format!("ip -n {} {args}", q(ns))
    }
}

/// `tc [-n NS] ARGS`.
pub fn tc(ns: &str, args: &str) -> String {
    if ns == HOST {
        format!("tc {args}")
    } else {
        format!("tc -n {} {args}", q(ns))
    }
}

/// `bridge [-n NS] ARGS`.
pub fn bridge(ns: &str, args: &str) -> String {
    if ns == HOST {
        format!("bridge {args}")
    } else {
        format!("bridge -n {} {args}", q(ns))
    }
}

/// Any other tool, run inside the namespace.
pub fn exec(ns: &str, cmd: &str) -> String {
    if ns == HOST {
        cmd.to_string()
    } else {
        format!("ip netns exec {} {cmd}", q(ns))
    }
}

pub fn sysctl(ns: &str, key: &str, value: &str) -> String {
    exec(ns, &format!("sysctl -w {key}={value}"))
}

/// An interface name as a command word.
pub fn dev(name: &str) -> String {
    q(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_name_their_namespace() {
        assert_eq!(
            ip("ns2", "link set dev veth1 up"),
            "ip -n ns2 link set dev veth1 up"
        );
        assert_eq!(ip("host", "link set dev br0 up"), "ip link set dev br0 up");
        assert_eq!(
            sysctl("r1", "net.ipv4.ip_forward", "1"),
            "ip netns exec r1 sysctl -w net.ipv4.ip_forward=1"
        );
        assert_eq!(
            sysctl("host", "net.bridge.bridge-nf-call-iptables", "0"),
            "sysctl -w net.bridge.bridge-nf-call-iptables=0"
        );
        assert_eq!(
            tc("ns1", "qdisc del dev veth0 root"),
            "tc -n ns1 qdisc del dev veth0 root"
        );
        assert_eq!(dev("we ird"), "'we ird'");
    }
}
