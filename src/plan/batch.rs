//! A plan as an `ip -batch` file: `vnet up --dry-run --format batch`, run
//! as `ip -batch FILE`, builds the same network as `vnet up`, marks included.
//!
//! What iproute2 (6.1) accepts decides the shape:
//! - a batch line is an `ip` command without the `ip` and without global
//!   options: `-n NS …` is refused ("Object "-n" is unknown"), so commands
//!   inside a namespace are written `netns exec NS ip …` (each runs a child
//!   `ip` in the namespace; batch mode forks for it and stops on its failure);
//! - sysctls inside a namespace become `netns exec NS sysctl -qw …`; the
//!   host's cannot be written at all (there is no `ip` command for them);
//! - a `#` anywhere starts a comment, even inside quotes, so a name holding
//!   one cannot be written; a word is quoted with ' or " (no escapes), so a
//!   word holding both cannot be either. Such plans are refused with a hint.

use super::script;
use super::{Action, Plan};

/// A plan an `ip -batch` file cannot hold; each says why and points to the
/// shell form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error(
        "`{0}` changes a setting of the host, which an ip -batch file cannot do; use the shell form (--format sh)"
    )]
    HostSysctl(String),
    #[error("`{0}` is not an ip command; use the shell form (--format sh)")]
    NotIp(String),
    #[error(
        "`{0}` holds a '#', which ip -batch always reads as a comment; rename it, or use the shell form (--format sh)"
    )]
    Comment(String),
    #[error(
        "`{0}` holds both kinds of quote, which ip -batch cannot read; rename it, or use the shell form (--format sh)"
    )]
    BothQuotes(String),
}

pub fn render(plan: &Plan) -> Result<String, BatchError> {
    let mut out = String::new();
    out.push_str(&format!(
        "# vnet plan for lab {} as an ip -batch file; run as root: ip -batch FILE\n",
        plan.lab
    ));
    out.push_str("# ip -batch takes no -n on a line: commands inside a namespace go through\n");
    out.push_str("# `netns exec NS ip …`, its sysctls through `netns exec NS sysctl`.\n");
    if plan.actions.is_empty() {
        out.push_str("# nothing to do: the kernel already matches the lab file\n");
        return Ok(out);
    }
    let (conditions, actions): (Vec<&Action>, Vec<&Action>) = plan
        .actions
        .iter()
        .partition(|a| matches!(a, Action::SetConditions { .. }));
    let mut all: Vec<String> = actions.into_iter().flat_map(script::commands).collect();
    all.extend(script::marks(plan));
    for c in all {
        out.push_str(&line(&c)?);
        out.push('\n');
    }
    if !conditions.is_empty() {
        out.push_str(
            "# Link conditions: ip -batch cannot run tc or nft, so they are not part of\n",
        );
        out.push_str("# this file; run these commands after it (or use --format sh):\n");
        for c in conditions.into_iter().flat_map(script::commands) {
            out.push_str(&format!("#   {c}\n"));
        }
    }
    Ok(out)
}

/// One shell-form command (`ip -n ns1 addr add …`) as a batch line.
fn line(cmd: &str) -> Result<String, BatchError> {
    // Names never hold whitespace (validation refuses it), so words split cleanly.
    let w: Vec<&str> = cmd.split_whitespace().collect();
    let words: Vec<&str> = match w.as_slice() {
        ["ip", "-n", ns, rest @ ..] => ["netns", "exec", ns, "ip"]
            .into_iter()
            .chain(rest.iter().copied())
            .collect(),
        ["ip", rest @ ..] => rest.to_vec(),
        ["sysctl", ..] => {
            return Err(BatchError::HostSysctl(cmd.to_string()));
        }
        _ => {
            return Err(BatchError::NotIp(cmd.to_string()));
        }
    };
    let quoted: Result<Vec<String>, BatchError> = words.iter().map(|w| quote(w)).collect();
    Ok(quoted?.join(" "))
}

/// A word as iproute2's makeargs reads it back.
fn quote(w: &str) -> Result<String, BatchError> {
    if w.contains('#') {
        return Err(BatchError::Comment(w.to_string()));
    }
    let plain = !w.is_empty() && !w.contains(['\'', '"']) && !w.ends_with('\\');
    if plain {
        Ok(w.to_string())
    } else if !w.contains('\'') {
        Ok(format!("'{w}'"))
    } else if !w.contains('"') {
        Ok(format!("\"{w}\""))
    } else {
        Err(BatchError::BothQuotes(w.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_lab;

    fn plan(text: &str) -> Plan {
        let lab = parse_lab("t.yaml", text).unwrap();
        crate::plan::plan(
            &lab.name,
            &crate::model::net::desired(&lab),
            &crate::plan::Observed::default(),
        )
    }

    #[test]
    fn namespaced_commands_go_through_netns_exec() {
        let p = plan(
            "name: t\nnodes:\n  ns1: {}\n  br0: { kind: bridge }\nlinks:\n  - endpoints: [{node: ns1, interface: veth0, ip: 10.0.0.1/24}, \"br0:p0\"]\n",
        );
        let b = render(&p).unwrap();
        assert!(b.contains("\nnetns add ns1\n"), "{b}");
        assert!(
            b.contains("\nnetns exec ns1 ip addr add 10.0.0.1/24 dev veth0\n"),
            "{b}"
        );
        assert!(
            b.contains("\nnetns exec ns1 ip link set dev veth0 addrgenmode none up\n"),
            "{b}"
        );
        assert!(
            b.contains("\nlink add p0 type veth peer name veth0 netns ns1\n"),
            "{b}"
        );
        for l in b.lines().filter(|l| !l.starts_with('#')) {
            assert!(!l.starts_with("ip ") && !l.starts_with('-'), "{l}");
        }
    }

    #[test]
    fn words_iproute2_cannot_read_are_refused() {
        assert_eq!(quote("a'b").unwrap(), "\"a'b\"");
        assert_eq!(quote("a\"b").unwrap(), "'a\"b'");
        assert!(quote("a#b").is_err());
        assert!(quote("a'\"b").is_err());
        let p =
            plan("name: t\nnodes:\n  ns1: {}\nlinks:\n  - endpoints: [\"ns1:a#b\", \"host:h0\"]\n");
        assert!(render(&p).unwrap_err().to_string().contains("comment"));
        assert!(line("sysctl -qw net.ipv4.ip_forward=1").is_err());
    }
}
