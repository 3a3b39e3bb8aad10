//! [`Node`]: programs and code inside one node's namespace.
//!
//! Each call runs on a thread made for it that enters the node's network
//! namespace and a mount namespace of its own with the node's /sys and
//! /etc/netns/NODE files, as `ip netns exec` does; what it starts inherits
//! both. The caller's threads never change namespace.

use std::borrow::BorrowMut;
use std::ffi::OsStr;
use std::process::{Child, Command, Output};

use super::error::{Error, Result};
use super::running::RunningLab;
use crate::kernel::exec;
use crate::kernel::pidfd::Pidfd;
use crate::model::lab::HOST;

/// One node of a [`RunningLab`], by its name in the lab file.
#[derive(Debug)]
pub struct Node<'a> {
    lab: &'a RunningLab,
    name: String,
    /// The kernel's namespace name (`host` for the host); None when the
    /// lab has no such namespace node.
    netns: Option<String>,
}

impl<'a> Node<'a> {
    pub(super) fn new(lab: &'a RunningLab, name: &str, netns: Option<String>) -> Node<'a> {
        Node {
            lab,
            name: name.to_string(),
            netns,
        }
    }

    /// The node's name in the lab file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's name under /run/netns (`ip netns exec NETNS …`).
    pub fn netns(&self) -> Result<&str> {
        self.netns
            .as_deref()
            .ok_or_else(|| self.lab.unknown(&self.name))
    }

    /// Run `f` on a thread inside the node, as `ip netns exec` puts a
    /// program there: its network namespace, and a mount namespace of the
    /// thread's own with the node's /sys. Returns what `f` returns (a panic
    /// in `f` goes on in the caller). Sockets made there stay in the
    /// namespace; programs started there run in the node.
    ///
    /// ```no_run
    /// # let net = vnet::Lab::from_file("examples/router.yaml")?.up()?;
    /// let listener = net.node("h2").enter(|| std::net::TcpListener::bind("0.0.0.0:8080"))??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn enter<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        self.in_namespaces(f)
    }

    /// Run a program in the node and collect its output, as
    /// `ip netns exec NODE ARGS…` would: `run(["ping", "-c1", "10.0.0.2"])`.
    /// Its standard input is empty.
    pub fn run<I, S>(&self, argv: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut args = argv.into_iter();
        let Some(program) = args.next() else {
            return Err(Error::Usage("run: no program given".into()));
        };
        let mut cmd = Command::new(program);
        cmd.args(args);
        self.output(cmd)
    }

    /// Run a prepared command (a `Command` or `&mut Command`) in the node
    /// and collect its output.
    pub fn output<C: BorrowMut<Command> + Send>(&self, mut cmd: C) -> Result<Output> {
        let what = format!("run {:?} in {}", cmd.borrow_mut().get_program(), self.name);
        self.in_namespaces(move || cmd.borrow_mut().output())?
            .map_err(|source| Error::Io { what, source })
    }

    /// Start a command (a `Command` or `&mut Command`) in the node. The
    /// lab kills it (SIGKILL) when it is torn down, unless it ended before;
    /// the `Child` is still the caller's to wait for.
    pub fn spawn<C: BorrowMut<Command> + Send>(&self, mut cmd: C) -> Result<Child> {
        let what = format!(
            "start {:?} in {}",
            cmd.borrow_mut().get_program(),
            self.name
        );
        let child = self
            .in_namespaces(move || cmd.borrow_mut().spawn())?
            .map_err(|source| Error::Io { what, source })?;
        let fd = Pidfd::open(child.id()).map_err(|error| Error::Kernel {
            step: format!("hold process {} for teardown", child.id()),
            error,
        })?;
        self.lab.adopt(fd);
        Ok(child)
    }

    /// `f` on a thread inside the node's network namespace and a mount
    /// namespace of its own (what programs started there inherit).
    fn in_namespaces<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R> {
        let ns = self.netns()?.to_string();
        self.on_thread(move || {
            if ns != HOST {
                exec::enter(&ns).map_err(|error| Error::Kernel {
                    step: format!("enter namespace {ns}"),
                    error,
                })?;
            }
            Ok(f())
        })
    }

    fn on_thread<R: Send>(&self, f: impl FnOnce() -> Result<R> + Send) -> Result<R> {
        std::thread::scope(|s| {
            let t = std::thread::Builder::new()
                .name(format!("vnet {}", self.name))
                .spawn_scoped(s, f)
                .map_err(|source| Error::Io {
                    what: "start a thread".into(),
                    source,
                })?;
            match t.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}
