//! `vnet validate LAB.yaml`: every check that needs no root.

use clap::Args as ClapArgs;

use super::{OK, load};
use crate::model::net::desired;

#[derive(ClapArgs)]
pub struct Args {
    pub file: String,
}

pub(crate) fn run(a: Args) -> i32 {
    match load::lab_file(&a.file) {
        Ok(l) => {
            let net = desired(&l.lab);
            let ifaces: usize = net.namespaces.values().map(|s| s.links.len()).sum();
            crate::outln!(
                "{}: valid — lab {}: {} namespaces, {} bridges, {} links, {} interfaces",
                a.file,
                l.lab.name,
                net.named().count(),
                l.lab.bridges().count(),
                l.lab.links.len(),
                ifaces
            );
            OK
        }
        Err(code) => code,
    }
}
