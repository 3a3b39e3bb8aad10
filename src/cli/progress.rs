//! A progress bar on a terminal for large changes; nothing otherwise.

use std::io::IsTerminal;
use std::sync::OnceLock;

use indicatif::{ProgressBar, ProgressStyle};

/// Changes smaller than this finish before a bar would be readable.
const MIN_OPS: u64 = 200;

pub(crate) struct Bar {
    bar: OnceLock<ProgressBar>,
    enabled: bool,
}

impl Bar {
    pub(crate) fn new(quiet: bool) -> Bar {
        Bar {
            bar: OnceLock::new(),
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }

    pub(crate) fn start(&self, total: u64, what: &str) {
        if !self.enabled || total < MIN_OPS {
            return;
        }
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} kernel operations ({elapsed})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b.set_message(what.to_string());
        let _ = self.bar.set(b);
    }

    pub(crate) fn inc(&self, n: u64) {
        if let Some(b) = self.bar.get() {
            b.inc(n);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = self.bar.get() {
            b.finish_and_clear();
        }
    }
}
