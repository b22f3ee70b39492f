//! The HTTP server and the JSON-RPC 2.0 envelope: single requests, batches, notifications, and the
//! errors for bodies that are none of these.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, Method as HttpMethod, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tower_http::cors::{AllowHeaders, Any, CorsLayer};

use super::error::RpcError;
use super::listener::{accept_loop, PeerAddr};
use super::methods;
use super::params::Params;
use super::pubsub::PubSub;
use super::rate_limit::RateLimiter;
use super::{
    Chain, HttpLimits, Method, RpcStats, BATCH_REQUESTS_MAX, CONCURRENT_REQUESTS_MAX,
    REQUEST_BODY_MAX_BYTES,
};

#[derive(Clone)]
struct AppState {
    chain: Arc<dyn Chain>,
    stats: Arc<RpcStats>,
    permits: Arc<Semaphore>,
    pubsub: Option<PubSub>,
    send_limiter: Arc<RateLimiter>,
    body_read_timeout: Duration,
}

/// Serves JSON-RPC on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    chain: Arc<dyn Chain>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with_stats(listener, chain, Arc::new(RpcStats::new()), shutdown).await
}

/// [`serve`], counting requests into `stats` (which the node reads for metrics).
pub async fn serve_with_stats(
    listener: tokio::net::TcpListener,
    chain: Arc<dyn Chain>,
    stats: Arc<RpcStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with_routes(listener, chain, stats, Router::new(), shutdown).await
}

/// [`serve_with_stats`], also serving the node's own `extra` routes (e.g. `GET /metrics`) on the same
/// port.
pub async fn serve_with_routes(
    listener: tokio::net::TcpListener,
    chain: Arc<dyn Chain>,
    stats: Arc<RpcStats>,
    extra: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with_pubsub(listener, chain, stats, extra, None, shutdown).await
}

/// [`serve_with_routes`], also taking PubSub connections on this port (`GET /` with `Upgrade:
/// websocket`) when `pubsub` is given.
pub async fn serve_with_pubsub(
    listener: tokio::net::TcpListener,
    chain: Arc<dyn Chain>,
    stats: Arc<RpcStats>,
    extra: Router,
    pubsub: Option<PubSub>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_bounded(
        listener,
        chain,
        stats,
        extra,
        pubsub,
        HttpLimits::default(),
        shutdown,
    )
    .await
}

/// [`serve_with_pubsub`] with the port's connection bounds given.
pub async fn serve_bounded(
    listener: tokio::net::TcpListener,
    chain: Arc<dyn Chain>,
    stats: Arc<RpcStats>,
    extra: Router,
    pubsub: Option<PubSub>,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let state_stats = stats.clone();
    let state = AppState {
        chain,
        stats,
        permits: Arc::new(Semaphore::new(CONCURRENT_REQUESTS_MAX)),
        pubsub,
        send_limiter: Arc::new(RateLimiter::new(
            limits.send_transaction_per_sec,
            limits.send_transaction_burst,
        )),
        body_read_timeout: limits.body_read_timeout,
    };
    let router = Router::new()
        .route("/", post(rpc).get(upgrade))
        .route("/health", get(health))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_MAX_BYTES))
        .layer(cors())
        .with_state(state)
        .merge(extra);
    accept_loop(listener, router, state_stats, limits, shutdown).await
}

/// How long a browser may keep a preflight's answer (Solana's RPC: a day).
const CORS_MAX_AGE: Duration = Duration::from_secs(86_400);

/// JSON-RPC for pages of any origin, as Solana's RPC serves it: a dapp in a browser calls the node
/// from its own site, and the browser first asks (a preflight) whether it may. Every answer,
/// errors too, carries `Access-Control-Allow-Origin: *`; no credentials are involved.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([HttpMethod::GET, HttpMethod::POST])
        // The headers the page asks for (clients add their own, e.g. `solana-client`).
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(CORS_MAX_AGE)
}

async fn rpc(State(state): State<AppState>, request: Request) -> Response {
    let peer = request.extensions().get::<PeerAddr>().copied();
    // The whole body within one deadline from its head, however it trickles in: a sender of a
    // byte a second would otherwise hold the connection for the 64 KiB the size cap allows.
    let read = tokio::time::timeout(
        state.body_read_timeout,
        Bytes::from_request(request, &state),
    );
    let body = match read.await {
        Ok(Ok(body)) => body,
        Ok(Err(rejection)) => {
            // Too large (413) or unreadable: nothing to answer in JSON-RPC terms.
            state.stats.count_rejected_body();
            return rejection.into_response();
        }
        Err(_elapsed) => {
            state.stats.count_body_timed_out();
            // `Connection: close` makes hyper close the connection once this is written, with
            // the rest of the body unread.
            return (
                StatusCode::REQUEST_TIMEOUT,
                [(header::CONNECTION, "close")],
                "request body not received in time",
            )
                .into_response();
        }
    };
    // Counted on the raw bytes, before any parsing: a method name is a JSON string, and no
    // parameter (base58, base64, numbers) can contain a quote.
    let pattern: &[u8] = b"\"sendTransaction\"";
    let sends = body
        .windows(pattern.len())
        .filter(|w| *w == pattern)
        .count();
    if let (Some(PeerAddr(peer)), true) = (peer, sends > 0) {
        let n = u32::try_from(sends).unwrap_or(u32::MAX);
        if !state.send_limiter.admit(peer.ip(), n, Instant::now()) {
            state.stats.count_rate_limited();
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::to_vec(&error_response(Value::Null, &RpcError::too_many_requests()))
                    .unwrap_or_default(),
            )
                .into_response();
        }
    }
    // The semaphore is never closed, so acquiring only waits.
    let Ok(_permit) = state.permits.clone().acquire_owned().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let worker_state = state.clone();
    // Chain calls may read storage: keep them off the async workers.
    let outcome = tokio::task::spawn_blocking(move || {
        handle_body(&*worker_state.chain, &worker_state.stats, &body)
    })
    .await;
    let reply = match outcome {
        Ok(reply) => reply,
        Err(join_error) => {
            tracing::error!(%join_error, "RPC request handler panicked");
            state.stats.count_error();
            Some(error_response(
                Value::Null,
                &RpcError::internal("Internal error"),
            ))
        }
    };
    match reply {
        Some(v) => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_vec(&v).unwrap_or_default(),
        )
            .into_response(),
        // Only notifications: JSON-RPC says send nothing back.
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// A WebSocket upgrade of `GET /` becomes a PubSub connection.
async fn upgrade(
    State(state): State<AppState>,
    peer: Option<Extension<PeerAddr>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match (&state.pubsub, ws) {
        (Some(pubsub), Ok(ws)) => {
            pubsub.accept(ws, peer.map(|Extension(PeerAddr(peer))| peer.ip()))
        }
        // A plain GET, no upgrade asked: JSON-RPC over HTTP is POST only.
        (
            _,
            Err(
                WebSocketUpgradeRejection::InvalidConnectionHeader(_)
                | WebSocketUpgradeRejection::InvalidUpgradeHeader(_),
            ),
        )
        | (None, _) => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        (Some(_), Err(rejection)) => rejection.into_response(),
    }
}

/// Solana's `/health`: `ok`, or `behind` while the node is not serving current state.
async fn health(State(state): State<AppState>) -> &'static str {
    let chain = state.chain.clone();
    match tokio::task::spawn_blocking(move || chain.health()).await {
        Ok(Ok(())) => "ok",
        _ => "behind",
    }
}

/// The response to one HTTP body: a response object, an array for a batch, or `None` when every
/// request was a notification.
pub(super) fn handle_body(chain: &dyn Chain, stats: &RpcStats, body: &[u8]) -> Option<Value> {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            stats.count_error();
            return Some(error_response(Value::Null, &RpcError::parse_error()));
        }
    };
    match request {
        Value::Array(items) => {
            if let Some(refusal) = batch_refusal(items.len()) {
                stats.count_error();
                return Some(error_response(Value::Null, &refusal));
            }
            let replies: Vec<Value> = items
                .iter()
                .filter_map(|item| handle_request(chain, stats, item))
                .collect();
            (!replies.is_empty()).then_some(Value::Array(replies))
        }
        single => handle_request(chain, stats, &single),
    }
}

/// Why a batch of `len` requests is refused, if it is: empty, or over [`BATCH_REQUESTS_MAX`] (over
/// HTTP and PubSub alike).
pub(super) fn batch_refusal(len: usize) -> Option<RpcError> {
    let detail = if len == 0 {
        "empty batch".to_owned()
    } else if len > BATCH_REQUESTS_MAX {
        format!("batch of {len} requests exceeds the limit of {BATCH_REQUESTS_MAX}")
    } else {
        return None;
    };
    Some(RpcError::invalid_request(&detail))
}

/// One request object; `None` for a notification (no `id`).
fn handle_request(chain: &dyn Chain, stats: &RpcStats, request: &Value) -> Option<Value> {
    let (id, outcome) = match parse_envelope(request) {
        Ok((id, name, params)) => (id, dispatch(chain, stats, name, params)),
        Err((id, e)) => (id, Err(e)),
    };
    let id = id?;
    Some(match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "result": result, "id": id }),
        Err(e) => {
            stats.count_error();
            error_response(id, &e)
        }
    })
}

/// `(id, method, params)` of a request.
pub(super) type Envelope<'a> = (Option<Value>, &'a str, Option<&'a Value>);

/// Checks `{jsonrpc: "2.0", method, params?, id?}`; the id is `None` for a notification.
pub(super) fn parse_envelope(request: &Value) -> Result<Envelope<'_>, (Option<Value>, RpcError)> {
    let Value::Object(fields) = request else {
        return Err((
            Some(Value::Null),
            RpcError::invalid_request("not a request object"),
        ));
    };
    let id = match fields.get("id") {
        None => None,
        Some(id @ (Value::Null | Value::Number(_) | Value::String(_))) => Some(id.clone()),
        Some(_) => {
            return Err((
                Some(Value::Null),
                RpcError::invalid_request("id must be a number, string or null"),
            ))
        }
    };
    // An invalid request is answered even without an id: the client needs to know.
    let invalid = |detail: &str| {
        (
            Some(id.clone().unwrap_or(Value::Null)),
            RpcError::invalid_request(detail),
        )
    };
    if fields.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid("jsonrpc must be \"2.0\""));
    }
    let Some(name) = fields.get("method").and_then(Value::as_str) else {
        return Err(invalid("method must be a string"));
    };
    Ok((id, name, fields.get("params")))
}

fn dispatch(
    chain: &dyn Chain,
    stats: &RpcStats,
    name: &str,
    params: Option<&Value>,
) -> Result<Value, RpcError> {
    let Some(method) = Method::from_name(name) else {
        stats.count_unknown_method();
        return Err(RpcError::method_not_found());
    };
    stats.count_call(method);
    let params = Params::new(params)?;
    methods::call(chain, method, &params)
}

/// `{jsonrpc, error, id}`.
pub(super) fn error_response(id: Value, e: &RpcError) -> Value {
    json!({ "jsonrpc": "2.0", "error": e.to_json(), "id": id })
}
