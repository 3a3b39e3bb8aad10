//! Static routes, written the way iproute2 takes them:
//! `default via 10.0.1.1`, `10.0.2.0/24 via 10.0.1.254 dev eth0 metric 10`.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// Destination network (host bits cleared); `default` is 0.0.0.0/0 or ::/0.
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub metric: Option<u32>,
}

impl Route {
    pub fn is_ipv6(&self) -> bool {
        matches!(self.dst, IpNet::V6(_))
    }

    pub fn is_default(&self) -> bool {
        self.dst.prefix_len() == 0
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.is_default() {
            f.write_str("default")?;
        } else {
            write!(f, "{}", self.dst)?;
        }
        if let Some(via) = self.via {
            write!(f, " via {via}")?;
        }
        if let Some(dev) = &self.dev {
            write!(f, " dev {dev}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        Ok(())
    }
}

/// Why a route string was refused, and which word of it.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RouteError {
    pub message: String,
    /// Byte range of the offending word inside the route string.
    pub word: Option<(usize, usize)>,
}

fn words(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(st)) => {
                out.push((st, &s[st..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push((st, &s[st..]));
    }
    out
}

fn err(message: impl Into<String>, word: Option<(usize, &str)>) -> RouteError {
    RouteError {
        message: message.into(),
        word: word.map(|(at, w)| (at, w.len())),
    }
}

impl std::str::FromStr for Route {
    type Err = RouteError;

    fn from_str(s: &str) -> Result<Route, RouteError> {
        let ws = words(s);
        let Some(&(at0, first)) = ws.first() else {
            return Err(err("empty route", None));
        };
        let mut dst: Option<IpNet> = None;
        let mut default = false;
        if first == "default" {
            default = true;
        } else if let Ok(net) = first.parse::<IpNet>() {
            dst = Some(net.trunc());
        } else if let Ok(addr) = first.parse::<IpAddr>() {
            dst = Some(IpNet::from(addr));
        } else {
            return Err(err(
                format!("`{first}` is not a destination (a CIDR like 10.0.2.0/24, or `default`)"),
                Some((at0, first)),
            ));
        }
        let mut route = Route {
            dst: dst.unwrap_or_else(|| "0.0.0.0/0".parse().unwrap()),
            via: None,
            dev: None,
            metric: None,
        };
        let mut i = 1;
        while i < ws.len() {
            let (at, key) = ws[i];
            let Some(&(vat, value)) = ws.get(i + 1) else {
                return Err(err(format!("`{key}` needs a value"), Some((at, key))));
            };
            match key {
                "via" => {
                    let addr: IpAddr = value.parse().map_err(|_| {
                        err(
                            format!("`{value}` is not an IP address"),
                            Some((vat, value)),
                        )
                    })?;
                    route.via = Some(addr);
                }
                "dev" => route.dev = Some(value.to_string()),
                "metric" | "preference" | "priority" => {
                    route.metric = Some(value.parse().map_err(|_| {
                        err(format!("`{value}` is not a number"), Some((vat, value)))
                    })?);
                }
                _ => {
                    return Err(err(
                        format!("`{key}` is not supported here (use via, dev, metric)"),
                        Some((at, key)),
                    ));
                }
            }
            i += 2;
        }
        if default && let Some(IpAddr::V6(_)) = route.via {
            route.dst = "::/0".parse().unwrap();
        }
        if route.via.is_none() && route.dev.is_none() {
            return Err(err(
                "a route needs `via GATEWAY` or `dev INTERFACE`",
                Some((at0, first)),
            ));
        }
        if let Some(via) = route.via
            && via.is_ipv4() != route.dst.addr().is_ipv4()
        {
            return Err(err(
                "the gateway and the destination are of different IP families",
                ws.iter().find(|(_, w)| *w == via.to_string()).copied(),
            ));
        }
        Ok(route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iproute2_forms() {
        let r: Route = "default via 10.0.1.1".parse().unwrap();
        assert!(r.is_default());
        assert_eq!(r.to_string(), "default via 10.0.1.1");
        let r: Route = "10.0.2.7/24 via 10.0.1.254 dev eth0 metric 5"
            .parse()
            .unwrap();
        assert_eq!(
            r.to_string(),
            "10.0.2.0/24 via 10.0.1.254 dev eth0 metric 5"
        );
        let r: Route = "default via fe80::1 dev veth0".parse().unwrap();
        assert!(r.is_ipv6());
        let r: Route = "2001:db8:2::/64 via 2001:db8:1::1".parse().unwrap();
        assert_eq!(r.dst.to_string(), "2001:db8:2::/64");
    }

    #[test]
    fn refuses_bad_routes_naming_the_word() {
        let e = "10.0.2.0/24 gw 10.0.0.1".parse::<Route>().unwrap_err();
        assert_eq!(e.word, Some((12, 2)));
        let e = "10.0.2.0/24".parse::<Route>().unwrap_err();
        assert!(e.message.contains("needs"));
        let e = "default via 2001:db8::1 via".parse::<Route>().unwrap_err();
        assert!(e.message.contains("needs a value"));
        let e = "10.0.0.0/8 via 2001:db8::1".parse::<Route>().unwrap_err();
        assert!(e.message.contains("families"));
        assert!("".parse::<Route>().is_err());
    }
}
