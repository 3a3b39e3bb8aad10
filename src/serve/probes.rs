//! The probes the page asks for, with the library's functions, answering
//! with the JSON of `ping --all --json`, `trace --json` and `doctor --json`.
//! Blocking: the server runs them on its blocking pool.

use std::time::Duration;

use serde_json::Value;

use crate::probe::ProbeError;
use crate::probe::matrix::{self, MatrixOptions};
use crate::probe::outcome::{self, MatrixJson};
use crate::probe::trace::{self, TraceOptions};
use crate::probe::world::{self, World};

fn to_value(v: impl serde::Serialize) -> Result<Value, ProbeError> {
    serde_json::to_value(v).map_err(|e| ProbeError::Failed(e.to_string()))
}

/// Every node pings every other: `ping --all --json`.
pub fn matrix(nodes: &[String], timeout: Duration, count: u32) -> Result<Value, ProbeError> {
    world::require_privilege("ping --all")?;
    if nodes.len() < 2 {
        return Err(ProbeError::Usage(format!(
            "{} node{}: nothing to ping",
            nodes.len(),
            if nodes.len() == 1 { "" } else { "s" }
        )));
    }
    let mut w = World::read(Some(nodes))?;
    let opts = MatrixOptions {
        timeout,
        max_neigh: None,
        count,
    };
    let m = matrix::run(&mut w, nodes, &opts)?;
    let checked = outcome::check(&[], &m);
    to_value(MatrixJson::new(&m, &checked, m.all_answered()))
}

/// One ping followed frame by frame: `trace --json`.
pub fn trace(src: &str, dst: &str, timeout: Duration) -> Result<Value, ProbeError> {
    world::require_privilege("trace")?;
    let opts = TraceOptions {
        timeout,
        family: None,
        size: 56,
        cancelled: || false,
    };
    let r = trace::trace(src, dst, &opts)?;
    let mut j = serde_json::json!({
        "schema_version": crate::doctor::verdict::SCHEMA_VERSION,
    });
    if let (Some(o), Value::Object(r)) = (j.as_object_mut(), to_value(&r)?) {
        o.extend(r);
    }
    Ok(j)
}

/// Why a ping fails: `doctor --json`.
pub fn doctor(src: &str, dst: &str, timeout: Duration) -> Result<Value, ProbeError> {
    world::require_privilege("doctor")?;
    let opts = crate::doctor::run::Options {
        family: None,
        size: None,
        timeout,
        cancelled: || false,
        intended: crate::engine::record::intended(),
    };
    let v = crate::doctor::run::run(src, dst, &opts)?;
    to_value(&v)
}
