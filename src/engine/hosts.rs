//! Which host of a split lab this machine is: `--host NAME`, or the host
//! whose underlay address this machine holds. Checked before any change, so
//! a wrong address in the file is a clear refusal, not a silent tunnel to
//! nowhere.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::EngineError;
use crate::kernel::session::Session;
use crate::model::Lab;
use crate::model::hosts;

/// The addresses of this machine's host namespace.
pub fn local_addresses() -> Result<Vec<IpAddr>, EngineError> {
    let mut session = Session::new().map_err(|e| EngineError::kernel("open netlink", e))?;
    let (host, _) = session
        .observe(&BTreeMap::new())
        .map_err(|e| EngineError::kernel("read this machine's addresses", e))?;
    Ok(host
        .links
        .iter()
        .flat_map(|l| l.addrs.iter().map(|a| a.net.addr()))
        .collect())
}

/// Set `lab.hosts.here` for a lab split over hosts (nothing for others):
/// the host asked for, which must hold its address here, or the one host
/// whose address is local. `check_address` is off for dry runs.
pub fn choose(lab: &mut Lab, asked: Option<&str>, check_address: bool) -> Result<(), EngineError> {
    if lab.hosts.is_empty() {
        if let Some(h) = asked {
            return Err(EngineError::Refused(format!(
                "--host {h}: lab {} has no `hosts:`; it is built on one machine",
                lab.name
            )));
        }
        return Ok(());
    }
    let names: Vec<&str> = lab.hosts.list.iter().map(|h| h.name.as_str()).collect();
    let local = if check_address || asked.is_none() {
        local_addresses()?
    } else {
        Vec::new()
    };
    let here = match asked {
        Some(name) => {
            let Some(h) = lab.hosts.get(name) else {
                return Err(EngineError::Refused(format!(
                    "--host {name}: not a host of lab {} (its hosts: {})",
                    lab.name,
                    names.join(", ")
                )));
            };
            if check_address && !local.contains(&h.address) {
                return Err(EngineError::Refused(format!(
                    "host {name}'s underlay address {} is not on this machine (its addresses: {}); \
                     the other hosts would send its tunnels elsewhere — correct `address:` of host {name} \
                     in the lab file, or run this on host {name}",
                    h.address,
                    shown(&local)
                )));
            }
            name.to_string()
        }
        None => match hosts::host_by_address(lab, &local) {
            Some(h) => h.to_string(),
            None => {
                return Err(EngineError::Refused(format!(
                    "lab {} is split over hosts ({}), and none of their underlay addresses is on this machine \
                     (its addresses: {}); say which host this is with --host NAME, or correct the hosts' `address:`",
                    lab.name,
                    names.join(", "),
                    shown(&local)
                )));
            }
        },
    };
    lab.hosts.here = Some(here);
    Ok(())
}

fn shown(addrs: &[IpAddr]) -> String {
    let list: Vec<String> = addrs
        .iter()
        .filter(|a| !a.is_loopback())
        .filter(|a| !matches!(a, IpAddr::V6(v) if (v.segments()[0] & 0xffc0) == 0xfe80))
        .map(|a| a.to_string())
        .collect();
    if list.is_empty() {
        "none but loopback".into()
    } else {
        list.join(", ")
    }
}

/// The host (and its lab) whose underlay address is `addr`, among the labs
/// this machine holds a part of: to name where a path goes on.
pub fn host_at(addr: IpAddr) -> Option<(String, String)> {
    let labs = super::status::list().ok()?;
    for l in labs {
        let Some(r) = super::record::load(&l.name) else {
            continue;
        };
        let Some(lab) = r
            .text
            .as_deref()
            .and_then(|t| crate::model::parse_lab("recorded", t).ok())
        else {
            continue;
        };
        if let Some(h) = lab.hosts.list.iter().find(|h| h.address == addr) {
            return Some((lab.name.clone(), h.name.clone()));
        }
    }
    None
}
