//! The routes: the page and its assets, the picture, the state, the events,
//! and the probes (docs/serve.md lists them). Probes run on the blocking
//! pool with the library's functions, one at a time, and answer with the
//! JSON the command line's `--json` prints.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::events::Hub;
use super::{assets, guard};
use crate::probe::ProbeError;

pub struct App {
    pub hub: Arc<Hub>,
    pub listen: SocketAddr,
    pub allow_changes: bool,
    pub token: String,
    /// One probe at a time: they share namespaces and neighbour tables.
    pub probe: tokio::sync::Mutex<()>,
}

type Shared = State<Arc<App>>;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { page(assets::INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { page(assets::APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/style.css",
            get(|| async { page(assets::STYLE, "text/css; charset=utf-8") }),
        )
        .route("/api/graph.svg", get(graph_svg))
        .route("/api/state", get(state))
        .route("/api/events", get(events))
        .route("/api/matrix", post(matrix))
        .route("/api/trace", post(trace))
        .route("/api/doctor", post(doctor))
        .route("/api/link", post(link))
        .route("/api/conditions", post(conditions))
        .layer(middleware::from_fn_with_state(app.clone(), guard_layer))
        .with_state(app)
}

fn page(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn guard_layer(State(app): Shared, req: Request, next: Next) -> Response {
    let h = req.headers();
    let text = |k: header::HeaderName| h.get(k).and_then(|v| v.to_str().ok());
    if let Err(why) = guard::check(app.listen, text(header::ORIGIN), text(header::HOST)) {
        return refuse(StatusCode::FORBIDDEN, why);
    }
    let mut resp = next.run(req).await;
    let hs = resp.headers_mut();
    hs.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    hs.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    hs.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
        ),
    );
    resp
}

fn refuse(code: StatusCode, why: &str) -> Response {
    (code, axum::Json(json!({ "error": why }))).into_response()
}

/// A request refused before any work: its status and why.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        refuse(self.0, &self.1)
    }
}

async fn graph_svg(State(app): Shared) -> Response {
    let s = app.hub.snapshot();
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        s.svg.clone(),
    )
        .into_response()
}

async fn state(State(app): Shared) -> Response {
    let s = app.hub.snapshot();
    axum::Json(json!({
        "title": s.title,
        "version": app.hub.version(),
        "allow_changes": app.allow_changes,
        "nodes": s.nodes,
        "links": s.links,
        "places": s.places,
        "notes": s.graph.notes,
    }))
    .into_response()
}

async fn events(State(app): Shared) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = app.hub.tx.subscribe();
    let client = app.hub.join();
    let hello = json!({"type": "hello", "version": app.hub.version()}).to_string();
    let first = stream::once(async move { Ok(SseEvent::default().data(hello)) });
    let rest = stream::unfold((rx, client), |(mut rx, client)| async move {
        match rx.recv().await {
            Ok(m) => Some((Ok(SseEvent::default().data(&*m)), (rx, client))),
            // A slow page missed some: it reloads the whole state.
            Err(RecvError::Lagged(_)) => {
                let m = json!({"type": "topology", "version": 0}).to_string();
                Some((Ok(SseEvent::default().data(m)), (rx, client)))
            }
            Err(RecvError::Closed) => None,
        }
    });
    Sse::new(futures_util::StreamExt::chain(first, rest))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
}

/// A JSON body, or an answer saying why it is not one.
fn body<T: for<'a> Deserialize<'a>>(b: &Bytes) -> Result<T, Refusal> {
    let text = if b.is_empty() { &b"{}"[..] } else { &b[..] };
    serde_json::from_slice(text).map_err(|e| Refusal(StatusCode::BAD_REQUEST, e.to_string()))
}

fn secs(s: Option<f64>) -> Result<Duration, Refusal> {
    let s = s.unwrap_or(1.0);
    if !(0.001..=30.0).contains(&s) {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "timeout: between 0.001 and 30 seconds".into(),
        ));
    }
    Ok(Duration::from_secs_f64(s))
}

fn probe_error(e: ProbeError) -> Response {
    let code = match e {
        ProbeError::Usage(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    refuse(code, &e.to_string())
}

/// Run `f` on the blocking pool, one probe at a time.
async fn blocking(
    app: &App,
    f: impl FnOnce() -> Result<Value, ProbeError> + Send + 'static,
) -> Response {
    let _one = app.probe.lock().await;
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(e)) => probe_error(e),
        Err(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "the probe failed"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixBody {
    timeout: Option<f64>,
    count: Option<u32>,
}

async fn matrix(State(app): Shared, b: Bytes) -> Response {
    let req: MatrixBody = match body(&b) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let timeout = match secs(req.timeout) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let count = req.count.unwrap_or(1).clamp(1, 10);
    let nodes = app.hub.snapshot().nodes.clone();
    blocking(&app, move || super::probes::matrix(&nodes, timeout, count)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PairBody {
    src: String,
    dst: String,
    timeout: Option<f64>,
}

async fn trace(State(app): Shared, b: Bytes) -> Response {
    let req: PairBody = match body(&b) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let timeout = match secs(req.timeout) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    blocking(&app, move || {
        super::probes::trace(&req.src, &req.dst, timeout)
    })
    .await
}

async fn doctor(State(app): Shared, b: Bytes) -> Response {
    let req: PairBody = match body(&b) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let timeout = match secs(req.timeout) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    blocking(&app, move || {
        super::probes::doctor(&req.src, &req.dst, timeout)
    })
    .await
}

/// Changes: `--allow-changes` and the token, else 403.
fn may_change(app: &App, h: &HeaderMap) -> Result<(), Refusal> {
    if !app.allow_changes {
        return Err(Refusal(
            StatusCode::FORBIDDEN,
            "read-only: start vnet serve with --allow-changes to change the network from the page"
                .into(),
        ));
    }
    let given = h.get("x-vnet-token").and_then(|v| v.to_str().ok());
    if !guard::token_ok(&app.token, given) {
        return Err(Refusal(
            StatusCode::FORBIDDEN,
            "refused: the X-Vnet-Token header must carry the token vnet serve printed at start"
                .into(),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    node: String,
    iface: String,
    up: bool,
}

async fn link(State(app): Shared, h: HeaderMap, b: Bytes) -> Response {
    if let Err(r) = may_change(&app, &h) {
        return r.into_response();
    }
    let req: LinkBody = match body(&b) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    change(move || {
        crate::engine::impair::set_link_up(&req.node, &req.iface, req.up)?;
        Ok(json!({"node": req.node, "interface": req.iface, "up": req.up}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionsBody {
    node: String,
    iface: String,
    #[serde(default)]
    clear: bool,
    #[serde(default)]
    set: std::collections::BTreeMap<String, String>,
}

async fn conditions(State(app): Shared, h: HeaderMap, b: Bytes) -> Response {
    if let Err(r) = may_change(&app, &h) {
        return r.into_response();
    }
    let req: ConditionsBody = match body(&b) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let mut ir = crate::engine::impair::ImpairRequest {
        node: req.node.clone(),
        iface: req.iface.clone(),
        clear: req.clear,
        ..Default::default()
    };
    for (k, v) in &req.set {
        let Some(p) = crate::model::conditions::Param::ALL
            .iter()
            .copied()
            .find(|p| p.name() == k)
        else {
            return refuse(StatusCode::BAD_REQUEST, &format!("unknown condition `{k}`"));
        };
        if let Err(r) = ir.set.set(p, v) {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("{k}: {} (hint: {})", r.message, r.hint),
            );
        }
        if ir.set.get(p).is_none() {
            ir.unset.push(p);
        }
    }
    change(move || {
        let r = crate::engine::impair::impair(&ir, &crate::engine::Hooks::silent())?;
        Ok(serde_json::to_value(&r).unwrap_or_default())
    })
    .await
}

async fn change(
    f: impl FnOnce() -> Result<Value, crate::engine::EngineError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(e @ crate::engine::EngineError::Refused(_))) => {
            refuse(StatusCode::BAD_REQUEST, &e.to_string())
        }
        Ok(Err(e)) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "the change failed"),
    }
}
