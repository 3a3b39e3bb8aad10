//! Labs whose owner is gone: a program using vnet as a library (a test
//! suite, say) owns each lab it brings up, and its record names that
//! process. When the process died without tearing its labs down (killed,
//! aborted), they are orphans: recognisable by the record, removed by the
//! library's next start in any process, or by `vnet down --orphans`.

use super::{EngineError, Hooks, down, record};

/// Labs with an owner that no longer runs.
pub fn list() -> Vec<String> {
    record::labs()
        .into_iter()
        .filter(|lab| {
            record::load(lab)
                .and_then(|r| r.owner)
                .is_some_and(|o| !o.alive())
        })
        .collect()
}

/// Take every orphan down: each one's name with what `down` said.
pub fn reap(hooks: &Hooks) -> Vec<(String, Result<down::DownReport, EngineError>)> {
    list()
        .into_iter()
        .map(|lab| {
            let r = down::down(&lab, hooks, true);
            (lab, r)
        })
        .collect()
}
