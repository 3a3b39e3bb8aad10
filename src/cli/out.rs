//! Standard output for every command, where a reader that went away is the
//! end of the output, not an error: `vnet up --dry-run big.yaml | head -1`,
//! `vnet graph … | head`, `vnet ping --all | grep -q FAIL`.
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe returns EPIPE, and
//! `println!` panics on it. Every command writes through `outln!` and
//! `out!` (or [`writer`] for code that wants an `io::Write`) instead. On
//! the first EPIPE the output is marked closed and everything after is
//! dropped unformatted; the command carries on to its end, and:
//!
//! - its cleanup still runs (rollback of a failed `up`, removal of the
//!   doctor's tracefs instance, sockets and namespaces closed in order),
//!   which dying of SIGPIPE mid-way would skip;
//! - it keeps its own exit code, so `vnet ping --all | grep -q …` still
//!   tells by its status whether every pair answered. Exiting with 141
//!   (128 + SIGPIPE) would lose that verdict.
//!
//! Why not restore SIGPIPE's default disposition for the whole process:
//! it would kill vnet on any closed socket too, not only on stdout (a peer
//! going away is an error a command must report, not a silent death).
//!
//! Any other write error (a full disk behind `> file`) is kept, output
//! stops, and [`finish`] reports it on stderr and turns success into a
//! failure: the output is incomplete and whoever reads it must know.

use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout is gone (closed pipe) or failed: nothing more is written.
static CLOSED: AtomicBool = AtomicBool::new(false);
/// The first write error that was not a closed pipe.
static FAILED: Mutex<Option<String>> = Mutex::new(None);

/// Whether output is still wanted; false after the reader went away.
pub fn open() -> bool {
    !CLOSED.load(Ordering::Relaxed)
}

/// Note the outcome of a write to stdout.
fn note(r: io::Result<()>) {
    if let Err(e) = r {
        CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != io::ErrorKind::BrokenPipe {
            let mut f = FAILED.lock().unwrap_or_else(|p| p.into_inner());
            f.get_or_insert_with(|| e.to_string());
        }
    }
}

/// Write formatted text to stdout, unless it is closed. Use `out!`.
pub fn write_fmt(args: fmt::Arguments) {
    if open() {
        note(io::stdout().lock().write_fmt(args));
    }
}

/// Flush stdout (it is line-buffered: a last line without a newline waits)
/// and give the exit code to use: `code`, or 1 when output failed for a
/// reason other than a closed pipe (said on stderr).
pub fn finish(code: i32) -> i32 {
    if open() {
        note(io::stdout().lock().flush());
    }
    let failed = FAILED.lock().unwrap_or_else(|p| p.into_inner()).take();
    match failed {
        Some(e) => {
            eprintln!("vnet: writing the output failed: {e}");
            if code == super::OK {
                super::FAILED
            } else {
                code
            }
        }
        None => code,
    }
}

/// stdout as an `io::Write` for code that takes one (clap's completions,
/// a man page): a closed pipe is taken as success and ends the output.
pub fn writer() -> Writer {
    Writer
}

pub struct Writer;

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if open() {
            note(io::stdout().lock().write_all(buf));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if open() {
            note(io::stdout().lock().flush());
        }
        Ok(())
    }
}

/// `print!` that ends quietly on a closed pipe; arguments are not even
/// evaluated once the reader is gone.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        if $crate::cli::out::open() {
            $crate::cli::out::write_fmt(format_args!($($arg)*))
        }
    };
}

/// `println!` that ends quietly on a closed pipe.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out!("\n")
    };
    ($($arg:tt)*) => {
        if $crate::cli::out::open() {
            $crate::cli::out::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
        }
    };
}
