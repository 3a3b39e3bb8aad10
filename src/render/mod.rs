//! Turning results into text: tables, JSON, diagrams. Pure.

pub mod clab;
pub mod doctor;
pub mod dot;
pub mod elapsed;
pub mod graph;
pub mod layout;
pub mod matrix;
pub mod mermaid;
pub mod perf;
pub mod style;
pub mod svg;
pub mod table;
