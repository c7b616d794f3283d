//! Events in real time, in the shapes Calimero clients use:
//!
//! - `GET /ws`: a WebSocket. The client sends `{"id", "method": "subscribe" | "unsubscribe",
//!   "params": {"contextIds": [...]}}` or `{"id", "method": "execute", "params": <JSON-RPC
//!   execute params>}` and gets `{"id", "result" | "error"}` back; after every change of a
//!   subscribed context the server pushes `{"id": null, "result": {"contextId", "type":
//!   "StateMutation", "data": {"newRoot", "events": [{"kind", "data", "handler"}]}}}`.
//! - `GET /sse` and `POST /sse/subscription`: the same mutations as server-sent events, with
//!   ids `<session>-<n>` so that a client reconnecting with `Last-Event-ID` resumes where it
//!   left off (within the node's window of recent mutations).
//!
//! Each WebSocket client has a bounded queue. A client that stops reading fills it and is
//! closed with a reason; publishing never waits for a subscriber, so calls and the other
//! subscribers keep their pace.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};

use calimero_node::events::{Since, StateMutation};
use calimero_wire::ContextId;

use crate::auth::Grant;
use crate::{AppState, admin_error, rpc};

/// Messages waiting for one WebSocket client before it is closed as too slow.
pub const CLIENT_QUEUE: usize = 256;
/// The largest message a WebSocket client may send.
const MAX_CLIENT_MESSAGE: usize = 16 * 1024 * 1024;
/// How long one frame may take to reach a client before the connection is dropped. Long
/// enough that a client which stopped reading for a while still finds the close frame with the
/// reason after what was already on its way; the memory held meanwhile is one frame.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
const PING_EVERY: Duration = Duration::from_secs(30);
const PONG_TIMEOUT: Duration = Duration::from_secs(10);
/// Close code 1008 (policy violation), with the reason in the frame.
const CLOSE_POLICY: u16 = 1008;
/// Close code 1001 (going away).
const CLOSE_GOING_AWAY: u16 = 1001;

/// A mutation as clients receive it (the `result` of a push).
pub fn mutation_json(mutation: &StateMutation) -> Value {
    let events: Vec<Value> = mutation
        .events
        .iter()
        .map(|e| json!({"kind": e.kind, "data": e.data, "handler": e.handler}))
        .collect();
    json!({
        "contextId": mutation.context,
        "type": "StateMutation",
        "data": {"newRoot": mutation.new_root, "events": events},
    })
}

/// Parses `params.contextIds`.
fn context_ids(params: &Value) -> Result<Vec<ContextId>, String> {
    let Some(ids) = params.get("contextIds").and_then(Value::as_array) else {
        return Err("`params.contextIds` (an array of base58 context ids) is required".into());
    };
    ids.iter()
        .map(|id| {
            id.as_str()
                .ok_or_else(|| format!("{id} is not a context id (a base58 string)"))?
                .parse::<ContextId>()
                .map_err(|e| e.to_string())
        })
        .collect()
}

fn ws_error(id: Value, kind: &str, message: impl Into<String>) -> Value {
    let error = crate::error_body(kind, kind, message.into(), None, Value::Null);
    json!({"id": id, "error": error})
}

/// The answer to a subscription without the `read` permission, if the grant lacks it.
fn refuse_without_read(grant: &Grant) -> Option<Response> {
    (!grant.can_read()).then(|| {
        admin_error(
            StatusCode::FORBIDDEN,
            format!(
                "subscribing needs the `read` permission (this token has: {})",
                grant.describe()
            ),
        )
    })
}

// ---- WebSocket ----

/// `GET /ws`.
pub(crate) async fn ws(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Some(refused) = refuse_without_read(&grant) {
        return refused;
    }
    upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve(state, grant, socket))
}

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}

async fn serve(state: AppState, grant: Grant, socket: WebSocket) {
    let (sink, mut incoming) = socket.split();
    let (queue, outgoing) = mpsc::channel::<Message>(CLIENT_QUEUE);
    let (close, closing) = oneshot::channel::<CloseFrame>();
    let writer = tokio::spawn(write(sink, outgoing, closing));
    let mut feed = state.node.feed.subscribe();
    let mut subscribed: HashSet<ContextId> = HashSet::new();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut pong_due: Option<tokio::time::Instant> = None;
    let too_slow = || {
        close_frame(
            CLOSE_POLICY,
            "too slow: more than 256 messages were waiting for this client; read faster or \
             subscribe to fewer contexts, then reconnect",
        )
    };

    let reason = loop {
        tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let reply = request(&state, &grant, &mut subscribed, text.as_str()).await;
                    if queue.try_send(Message::Text(reply.to_string().into())).is_err() {
                        break Some(too_slow());
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let reply = ws_error(Value::Null, "ParseError", "send JSON requests as text frames");
                    if queue.try_send(Message::Text(reply.to_string().into())).is_err() {
                        break Some(too_slow());
                    }
                }
                Some(Ok(Message::Pong(_))) => pong_due = None,
                Some(Ok(Message::Ping(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
            },
            mutation = feed.recv() => match mutation {
                Ok(mutation) => {
                    if subscribed.contains(&mutation.context) {
                        let push = json!({"id": null, "result": mutation_json(&mutation)});
                        if queue.try_send(Message::Text(push.to_string().into())).is_err() {
                            break Some(too_slow());
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => break Some(too_slow()),
                Err(broadcast::error::RecvError::Closed) => {
                    break Some(close_frame(CLOSE_GOING_AWAY, "the node is shutting down"));
                }
            },
            _ = ping.tick() => {
                if queue.try_send(Message::Ping(Vec::new().into())).is_err() {
                    break Some(too_slow());
                }
                pong_due.get_or_insert(tokio::time::Instant::now() + PONG_TIMEOUT);
            }
            _ = async { tokio::time::sleep_until(pong_due.unwrap_or_else(tokio::time::Instant::now)).await }, if pong_due.is_some() => {
                break Some(close_frame(CLOSE_POLICY, "no pong within 10 s of a ping"));
            }
        }
    };
    if let Some(frame) = reason {
        tracing::info!(reason = %frame.reason, "closing a WebSocket client");
        let _ = close.send(frame);
    } else {
        drop(close);
    }
    drop(queue);
    let _ = writer.await;
}

/// Sends queued messages; on a close reason, drops what is still queued, sends the close frame
/// and stops. A frame that cannot be written within [`SEND_TIMEOUT`] drops the connection.
async fn write(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut outgoing: mpsc::Receiver<Message>,
    mut closing: oneshot::Receiver<CloseFrame>,
) {
    loop {
        tokio::select! {
            biased;
            frame = &mut closing => {
                if let Ok(frame) = frame {
                    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
                } else {
                    // The client left, or the server stopped serving it: send what is queued.
                    while let Ok(message) = outgoing.try_recv() {
                        if !matches!(tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await, Ok(Ok(()))) {
                            return;
                        }
                    }
                }
                return;
            }
            message = outgoing.recv() => {
                let Some(message) = message else { return };
                if !matches!(tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await, Ok(Ok(()))) {
                    return;
                }
            }
        }
    }
}

/// Answers one client request.
async fn request(
    state: &AppState,
    grant: &Grant,
    subscribed: &mut HashSet<ContextId>,
    text: &str,
) -> Value {
    let request: Value = match serde_json::from_str(text) {
        Ok(request) => request,
        Err(e) => return ws_error(Value::Null, "ParseError", format!("not valid JSON: {e}")),
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    match request.get("method").and_then(Value::as_str) {
        Some(method @ ("subscribe" | "unsubscribe")) => match context_ids(&params) {
            Ok(ids) if method == "subscribe" => {
                if let Some(unknown) = ids
                    .iter()
                    .find(|context| state.node.get_context(context).is_err())
                {
                    return ws_error(
                        id,
                        "ContextNotFound",
                        format!("this node holds no context {unknown}"),
                    );
                }
                subscribed.extend(ids.iter().copied());
                json!({"id": id, "result": {"contextIds": ids}})
            }
            Ok(ids) => {
                for context in &ids {
                    if method == "subscribe" {
                        subscribed.insert(*context);
                    } else {
                        subscribed.remove(context);
                    }
                }
                json!({"id": id, "result": {"contextIds": ids}})
            }
            Err(message) => ws_error(id, "ParseError", message),
        },
        Some("execute") => {
            let call = json!({"jsonrpc": "2.0", "id": id, "method": "execute", "params": params});
            let (_, answer) = rpc(state, grant, call).await;
            match answer.get("error") {
                Some(error) => json!({"id": id, "error": error}),
                None => {
                    json!({"id": id, "result": answer.get("result").cloned().unwrap_or(Value::Null)})
                }
            }
        }
        Some(other) => ws_error(
            id,
            "ParseError",
            format!("unknown method `{other}`; use \"subscribe\", \"unsubscribe\" or \"execute\""),
        ),
        None => ws_error(
            id,
            "ParseError",
            "missing `method`: use \"subscribe\", \"unsubscribe\" or \"execute\"",
        ),
    }
}

// ---- Server-sent events ----

/// SSE sessions kept at once; the oldest disconnected ones are forgotten first.
const MAX_SSE_SESSIONS: usize = 1024;
/// How long a disconnected session's subscriptions are kept for a reconnect.
const SSE_SESSION_TTL: Duration = Duration::from_secs(600);
/// Events waiting for one SSE client before its stream ends as too slow.
const SSE_QUEUE: usize = 256;

/// One SSE client's subscriptions, kept across reconnects.
#[derive(Default)]
pub(crate) struct SseSession {
    contexts: HashSet<ContextId>,
    connected: bool,
    last_seen: Option<Instant>,
}

/// Every SSE session of the server.
pub(crate) type SseSessions = Arc<Mutex<HashMap<String, SseSession>>>;

fn new_session_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `<session>-<n>` from `Last-Event-ID`.
fn resume_point(headers: &HeaderMap) -> Option<(String, u64)> {
    let value = headers.get("last-event-id")?.to_str().ok()?;
    let (session, seq) = value.rsplit_once('-')?;
    Some((session.to_owned(), seq.parse().ok()?))
}

fn sse_data(id: Option<String>, data: &Value) -> SseEvent {
    let event = SseEvent::default().event("message").data(data.to_string());
    match id {
        Some(id) => event.id(id),
        None => event,
    }
}

/// `GET /sse`.
pub(crate) async fn sse(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse_without_read(&grant) {
        return refused;
    }
    // Subscribe before looking back, so nothing falls between the replay and the live feed.
    let mut feed = state.node.feed.subscribe();
    let resume = resume_point(&headers);
    let (session, replay_after, reconnect) = {
        let mut sessions = state.sse.lock().unwrap_or_else(|e| e.into_inner());
        match resume {
            Some((session, seq)) if sessions.contains_key(&session) => {
                if let Some(entry) = sessions.get_mut(&session) {
                    entry.connected = true;
                }
                (session, Some(seq), true)
            }
            _ => {
                if sessions.len() >= MAX_SSE_SESSIONS {
                    let now = Instant::now();
                    sessions.retain(|_, s| {
                        s.connected || s.last_seen.is_some_and(|t| now - t < SSE_SESSION_TTL)
                    });
                }
                if sessions.len() >= MAX_SSE_SESSIONS {
                    return admin_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "this node serves at most {MAX_SSE_SESSIONS} SSE sessions; try again later"
                        ),
                    );
                }
                let session = new_session_id();
                sessions.insert(
                    session.clone(),
                    SseSession {
                        connected: true,
                        ..SseSession::default()
                    },
                );
                (session, None, false)
            }
        }
    };

    let (events, mut stream) = mpsc::channel::<SseEvent>(SSE_QUEUE);
    let sessions = state.sse.clone();
    let node = state.node.clone();
    let task_session = session.clone();
    tokio::spawn(async move {
        let session = task_session;
        let wanted = |context: &ContextId| {
            sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&session)
                .is_some_and(|s| s.contexts.contains(context))
        };
        let push = |mutation: &StateMutation| {
            sse_data(
                Some(format!("{session}-{}", mutation.seq)),
                &json!({"result": mutation_json(mutation)}),
            )
        };
        let connect = json!({"type": "connect", "session_id": session, "reconnect": reconnect});
        let mut last = match replay_after {
            Some(seq) => seq,
            None => node.feed.next_seq().saturating_sub(1),
        };
        let send = |event: SseEvent| events.try_send(event).is_ok();
        let mut alive = send(
            sse_data(Some(format!("{session}-{last}")), &connect)
                .retry(Duration::from_millis(3000)),
        );
        if alive && let Some(seq) = replay_after {
            let (missed, kept) = match node.feed.since(seq) {
                Since::Complete(kept) => (false, kept),
                Since::Gap(kept) => (true, kept),
            };
            if missed {
                alive = send(sse_data(
                    None,
                    &json!({"error": {"type": "EventsMissed", "data": "some mutations since the last event id are no longer kept; reload the state"}}),
                ));
            }
            for mutation in kept {
                last = mutation.seq;
                if alive && wanted(&mutation.context) {
                    alive = send(push(&mutation));
                }
            }
        }
        while alive {
            let next = tokio::select! {
                next = feed.recv() => next,
                // The client went away: end now, not at the next mutation.
                _ = events.closed() => break,
            };
            match next {
                Ok(mutation) if mutation.seq <= last => {}
                Ok(mutation) => {
                    last = mutation.seq;
                    if wanted(&mutation.context) {
                        alive = send(push(&mutation));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = send(sse_data(
                        None,
                        &json!({"error": {"type": "TooSlow", "data": "this client fell too far behind; reconnect with Last-Event-ID"}}),
                    ));
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
            if events.is_closed() {
                break;
            }
        }
        if let Some(entry) = sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&session)
        {
            entry.connected = false;
            entry.last_seen = Some(Instant::now());
        }
    });

    let stream = futures::stream::poll_fn(move |cx| {
        stream
            .poll_recv(cx)
            .map(|event| event.map(Ok::<_, std::convert::Infallible>))
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&session) {
        headers.insert("x-sse-session-id", value);
    }
    headers.insert(
        "x-sse-reconnect",
        HeaderValue::from_static(if reconnect { "true" } else { "false" }),
    );
    response
}

/// `POST /sse/subscription`: `{"id": <session>, "method": "subscribe" | "unsubscribe",
/// "params": {"contextIds": [...]}}`.
pub(crate) async fn sse_subscription(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = refuse_without_read(&grant) {
        return refused;
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return admin_error(
                StatusCode::BAD_REQUEST,
                format!("the request is not valid JSON: {e}"),
            );
        }
    };
    let Some(session) = request.get("id").and_then(Value::as_str) else {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "`id` (the session id from the X-SSE-Session-ID header of GET /sse) is required".into(),
        );
    };
    let subscribe = match request.get("method").and_then(Value::as_str) {
        Some("subscribe") => true,
        Some("unsubscribe") => false,
        _ => {
            return admin_error(
                StatusCode::BAD_REQUEST,
                "`method` must be \"subscribe\" or \"unsubscribe\"".into(),
            );
        }
    };
    let ids = match context_ids(request.get("params").unwrap_or(&Value::Null)) {
        Ok(ids) => ids,
        Err(message) => return admin_error(StatusCode::BAD_REQUEST, message),
    };
    let mut sessions = state.sse.lock().unwrap_or_else(|e| e.into_inner());
    let Some(entry) = sessions.get_mut(session) else {
        return admin_error(
            StatusCode::NOT_FOUND,
            format!("no SSE session {session}: open one with GET /sse first"),
        );
    };
    for context in &ids {
        if subscribe {
            entry.contexts.insert(*context);
        } else {
            entry.contexts.remove(context);
        }
    }
    Json(json!({"result": {"contextIds": ids}})).into_response()
}
