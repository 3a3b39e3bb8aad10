//! Find labs in the kernel by their marks: every namespace under /run/netns
//! is asked for the alias of its `lo`, every host interface for its alias.

use std::collections::BTreeMap;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkMessage;

use crate::kernel::KernelError;
use crate::kernel::netns;
use crate::kernel::observe;
use crate::kernel::session::{Opened, Session};
use crate::model::owner;

/// A namespace under /run/netns and the lab whose mark it carries.
#[derive(Clone, Debug)]
pub struct NsMark {
    pub name: String,
    pub lab: Option<String>,
    /// A file that is not a mounted namespace.
    pub stale: bool,
}

/// Open every named namespace into `session` and read its owner. The `lo`
/// queries go out on every socket before any answer is read.
pub fn namespaces(session: &mut Session) -> Result<Vec<NsMark>, KernelError> {
    let names = netns::list_named();
    let opened = session.open_named(&names)?;
    let mut out = Vec::with_capacity(names.len());
    let mut asked = Vec::new();
    for name in &names {
        if let (Some(Opened::Ready), Some(h)) = (opened.get(name), session.named.get_mut(name)) {
            let mut m = LinkMessage::default();
            m.header.index = 1;
            h.sock.queue(RouteNetlinkMessage::GetLink(m), 0);
            h.sock.flush()?;
            asked.push(name.clone());
        } else {
            out.push(NsMark {
                name: name.clone(),
                lab: None,
                stale: matches!(opened.get(name), Some(Opened::Stale)),
            });
        }
    }
    for name in asked {
        let h = session.named.get_mut(&name).expect("opened above");
        let alias = h.sock.take_replies()?.into_iter().find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => observe::link(&l).alias,
            _ => None,
        });
        out.push(NsMark {
            lab: alias
                .as_deref()
                .and_then(owner::lab_of_mark)
                .map(str::to_string),
            name,
            stale: false,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Labs present in the kernel: lab → (namespaces, host interfaces).
pub fn labs(
    marks: &[NsMark],
    host: &crate::model::live::LiveNs,
) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let mut out: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for m in marks {
        if let Some(lab) = &m.lab {
            out.entry(lab.clone()).or_default().0.push(m.name.clone());
        }
    }
    for l in &host.links {
        if let Some(lab) = l.alias.as_deref().and_then(owner::lab_of_mark) {
            out.entry(lab.to_string())
                .or_default()
                .1
                .push(l.name.clone());
        }
    }
    out
}
