//! The test runner of every test binary with kernel tests (`harness =
//! false`, libtest-mimic): the same command line and summary as Rust's own
//! runner, but a test that cannot run here is reported as ignored, with its
//! reason, and never counted as passed.
//!
//! Each binary lists its tests in `main`, by kind:
//! - [`plain!`]: needs nothing;
//! - [`kernel!`]: builds networks in a [`Sandbox`](super::Sandbox), which
//!   needs root or, for a normal user, unprivileged user namespaces;
//! - [`kernel_with!`]: a kernel test that also runs programs such as
//!   `iperf3`, ignored (naming them) where they are not installed;
//! - [`host_root!`]: needs real root, not uid 0 of a user namespace (say
//!   why: tracefs, for instance, cannot be mounted in a user namespace);
//! - [`child!`]: ignored unless asked for by name (`--ignored --exact`):
//!   code another test runs inside its sandbox.
//!
//! A function left out of `main` is dead code, which `cargo clippy
//! --all-targets -- -D warnings` refuses; `#[test]` does nothing here.
//!
//! VNET_TESTS_MUST_RUN=1 (CI sets it) turns every skip into a failure: a
//! machine meant to run everything must not pass by skipping.

use std::process::ExitCode;

pub use libtest_mimic::Trial;
use libtest_mimic::{Arguments, Completion, Failed};

use super::{Mode, mode};

/// Ignored with `why`, or failed with it when every test must run.
fn skip(why: String) -> Result<Completion, Failed> {
    if std::env::var_os("VNET_TESTS_MUST_RUN").is_some_and(|v| v != "0") {
        Err(format!("cannot run here, and VNET_TESTS_MUST_RUN is set: {why}").into())
    } else {
        Ok(Completion::ignored_with(why))
    }
}

fn done(f: fn()) -> Result<Completion, Failed> {
    f();
    Ok(Completion::Completed)
}

pub fn plain(name: &str, f: fn()) -> Trial {
    Trial::test(name.replace(' ', ""), move || {
        f();
        Ok(())
    })
}

pub fn kernel(name: &str, f: fn()) -> Trial {
    Trial::ignorable_test(name.replace(' ', ""), move || match mode() {
        Ok(_) => done(f),
        Err(why) => skip(why),
    })
}

/// A kernel test that also runs programs the machine may lack (`iperf3`):
/// ignored, naming what to install, when one is not on the PATH.
pub fn kernel_with(name: &str, tools: &'static [&'static str], f: fn()) -> Trial {
    Trial::ignorable_test(name.replace(' ', ""), move || {
        let missing: Vec<&str> = tools.iter().copied().filter(|t| !on_path(t)).collect();
        if !missing.is_empty() {
            return skip(format!(
                "needs {} (apt-get install; listed in .ci/packages.txt)",
                missing.join(", ")
            ));
        }
        match mode() {
            Ok(_) => done(f),
            Err(why) => skip(why),
        }
    })
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

pub fn host_root(name: &str, why: &'static str, f: fn()) -> Trial {
    Trial::ignorable_test(name.replace(' ', ""), move || match mode() {
        Ok(Mode::Root) => done(f),
        Ok(Mode::User) => skip(format!("needs real root: {why}")),
        Err(e) => skip(e),
    })
}

pub fn child(name: &str, f: fn()) -> Trial {
    plain(name, f).with_ignored_flag(true)
}

/// Run the trials as the command line asks; the exit code says if any failed.
pub fn run(trials: Vec<Trial>) -> ExitCode {
    let args = Arguments::from_args();
    libtest_mimic::run(&args, trials).exit_code()
}

#[macro_export]
macro_rules! plain {
    ($f:path) => {
        $crate::sandbox::harness::plain(stringify!($f), $f)
    };
}

#[macro_export]
macro_rules! kernel {
    ($f:path) => {
        $crate::sandbox::harness::kernel(stringify!($f), $f)
    };
}

#[macro_export]
macro_rules! kernel_with {
    ($f:path, $($tool:literal),+) => {
        $crate::sandbox::harness::kernel_with(stringify!($f), &[$($tool),+], $f)
    };
}

#[macro_export]
macro_rules! host_root {
    ($f:path, $why:expr) => {
        $crate::sandbox::harness::host_root(stringify!($f), $why, $f)
    };
}

#[macro_export]
macro_rules! child {
    ($f:path) => {
        $crate::sandbox::harness::child(stringify!($f), $f)
    };
}
