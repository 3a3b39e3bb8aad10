//! `vnet serve`: the live network in a browser. One small HTTP server in
//! the binary (axum on a single-threaded tokio runtime) serves a page that
//! draws the network with the one SVG renderer, keeps it current from the
//! kernel's own events, and runs the matrix, trace and doctor on request.
//! See docs/serve.md.

pub mod api;
mod assets;
pub mod events;
pub mod guard;
pub mod probes;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use state::Target;

pub struct Options {
    pub target: Target,
    pub listen: SocketAddr,
    pub allow_changes: bool,
    /// How often counters are read while a page is open.
    pub interval: Duration,
}

/// What a started server tells the person who started it.
pub struct Started {
    pub url: String,
    pub token: Option<String>,
    pub nodes: usize,
}

/// Serve until the process is stopped. `ready` is called once listening.
pub fn run(opts: Options, ready: impl FnOnce(&Started)) -> Result<(), String> {
    crate::kernel::monitor::stay_small();
    let first = state::read(&opts.target)?;
    crate::kernel::monitor::trim();
    let token = guard::new_token().map_err(|e| format!("read /dev/urandom: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(4)
        .thread_keep_alive(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("start the server's runtime: {e}"))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| format!("listen on {}: {e}", opts.listen))?;
        let listen = listener
            .local_addr()
            .map_err(|e| format!("listen on {}: {e}", opts.listen))?;
        let nodes = first.graph.nodes.len();
        let hub = events::Hub::new(first);
        hub.watch(opts.target.clone(), opts.interval)
            .map_err(|e| format!("watch the kernel's events: {e}"))?;
        let app = Arc::new(api::App {
            hub,
            listen,
            allow_changes: opts.allow_changes,
            token: token.clone(),
            probe: tokio::sync::Mutex::new(()),
        });
        ready(&Started {
            url: format!("http://{listen}/"),
            token: opts.allow_changes.then_some(token),
            nodes,
        });
        axum::serve(listener, api::router(app))
            .await
            .map_err(|e| format!("serve: {e}"))
    })
}
