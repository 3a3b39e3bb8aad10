//! Colours shared by every renderer, so dot, mermaid and SVG agree.

use super::graph::{Drift, Edge, EdgeKind, GKind, State};

/// (fill, stroke) of a node.
pub fn node_colors(kind: &GKind) -> (&'static str, &'static str) {
    match kind {
        GKind::Host => ("#f2f2f2", "#777777"),
        GKind::Netns { router: false } => ("#eaf2fc", "#3b6fb6"),
        GKind::Netns { router: true } => ("#fff3dd", "#b86e00"),
        GKind::Bridge { .. } => ("#e6f5ec", "#2e8b57"),
        GKind::Unknown => ("#fff6e5", "#e08a00"),
    }
}

/// (stroke, what it means) of an edge.
pub fn edge_color(e: &Edge) -> (&'static str, &'static str) {
    match (e.drift, e.state, e.kind) {
        (Drift::NotInKernel, _, _) => ("#9a9a9a", "in the file, not in the kernel"),
        (Drift::NotInFile, _, _) => ("#8e44ad", "in the kernel, not in the file"),
        (_, State::MissingPeer, _) => ("#e08a00", "peer missing"),
        (_, State::Down, EdgeKind::Veth) => ("#d62728", "down"),
        (_, State::Up, EdgeKind::Veth) => ("#2a9d3a", "up"),
        (_, _, EdgeKind::Contains) => ("#8a8a8a", "lives in"),
        (_, State::Declared, EdgeKind::Veth) => ("#4d4d4d", "veth pair"),
    }
}

pub fn dashed(e: &Edge) -> bool {
    e.state == State::MissingPeer || e.drift == Drift::NotInKernel
}
