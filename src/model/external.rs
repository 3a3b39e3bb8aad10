//! External nodes: namespaces vnet joins but did not make (a process's, a
//! container's, one made by `ip netns add`). The lab names them by a
//! reference that is resolved every time it is used, so a restarted
//! container or a namespace mounted again is found anew. Pure: resolving
//! is the kernel edge's job (`kernel::external`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a lab file names an existing network namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Reference {
    /// `netns: NAME`: /run/netns/NAME (made by `ip netns add`).
    Netns(String),
    /// `netns: /some/path`: a namespace file (a bind mount, /proc/PID/ns/net).
    Path(String),
    /// `pid: N`: the network namespace of process N.
    Pid(u32),
    /// `container: NAME`: a Docker or Podman container, by name or id.
    Container(String),
}

impl Reference {
    /// The lab file key that gives this reference.
    pub fn key(&self) -> &'static str {
        match self {
            Reference::Netns(_) | Reference::Path(_) => "netns",
            Reference::Pid(_) => "pid",
            Reference::Container(_) => "container",
        }
    }

    /// The value as written in the lab file.
    pub fn value(&self) -> String {
        match self {
            Reference::Netns(v) | Reference::Path(v) | Reference::Container(v) => v.clone(),
            Reference::Pid(p) => p.to_string(),
        }
    }

    /// The `netns:` value, read as a name under /run/netns or a path.
    pub fn netns(value: &str) -> Result<Reference, String> {
        if value.starts_with('/') {
            if value.contains('\0') {
                return Err("a path cannot hold a NUL byte".into());
            }
            Ok(Reference::Path(value.to_string()))
        } else {
            super::names::check_netns_name(value)
                .map(|()| Reference::Netns(value.to_string()))
                .map_err(|e| format!("{e} (give a name under /run/netns, or an absolute path)"))
        }
    }

    /// A container name or id as Docker and Podman take them.
    pub fn container(value: &str) -> Result<Reference, String> {
        let ok = !value.is_empty()
            && value.len() <= 253
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            && !value.starts_with(['.', '-']);
        if ok {
            Ok(Reference::Container(value.to_string()))
        } else {
            Err(format!(
                "`{}` is not a container name (letters, digits, '_', '.', '-')",
                super::names::printable(value)
            ))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Reference::Netns(n) => write!(f, "netns {n}"),
            Reference::Path(p) => write!(f, "netns {p}"),
            Reference::Pid(p) => write!(f, "pid {p}"),
            Reference::Container(c) => write!(f, "container {c}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netns_values_are_names_or_paths() {
        assert_eq!(Reference::netns("red"), Ok(Reference::Netns("red".into())));
        assert_eq!(
            Reference::netns("/proc/42/ns/net"),
            Ok(Reference::Path("/proc/42/ns/net".into()))
        );
        assert!(Reference::netns("a/b").is_err());
        assert!(Reference::netns("").is_err());
    }

    #[test]
    fn container_names_are_checked_and_shown_with_their_key() {
        assert!(Reference::container("web-1.a_b").is_ok());
        assert!(Reference::container("-x").is_err());
        assert!(Reference::container("a b").is_err());
        assert_eq!(Reference::Pid(7).to_string(), "pid 7");
        assert_eq!(Reference::Pid(7).key(), "pid");
        let j = serde_json::to_string(&Reference::Container("web".into())).unwrap();
        assert_eq!(j, r#"{"kind":"container","value":"web"}"#);
    }
}
