//! Turning results into text: tables, JSON, diagrams. Pure.

pub mod table;
