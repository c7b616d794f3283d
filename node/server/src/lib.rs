//! The node's HTTP surface: JSON-RPC `execute`/`sync_status` and the admin API, including the
//! peer-to-peer routes (invite, join, sync, members, peers, node status). Handlers parse and
//! check the request, call the node (blocking work on a blocking thread), and turn its answer or
//! error into the documented JSON (`docs/node.md`).

// Handlers return `Result<_, Response>` so an error is already the HTTP answer; its size is axum's.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use calimero_wire::{ApplicationId, ContextId, PublicKey};

use calimero_node::sync::Replicator;
use calimero_node::{Node, NodeError};

pub mod auth;
pub mod events;

use auth::{AuthError, Authenticator, Grant, Permission};

/// The largest `argsJson` accepted, serialized.
pub const MAX_ARGS_SIZE: usize = 10 * 1024 * 1024;
const MAX_RPC_BODY: usize = 16 * 1024 * 1024;
const MAX_MODULE_BODY: usize = 24 * 1024 * 1024;

#[derive(Clone)]
pub(crate) struct AppState {
    node: Arc<Node>,
    auth: Option<Arc<Authenticator>>,
    replicator: Option<Replicator>,
    sse: events::SseSessions,
}

/// The router for a node; `token` is the admin bearer token (`None` disables auth), with JWTs
/// off; `replicator` serves the peer-to-peer routes (without it they answer 503).
pub fn router(node: Arc<Node>, token: Option<String>, replicator: Option<Replicator>) -> Router {
    router_with_auth(
        node,
        token.map(|token| Authenticator::new(token, None)),
        replicator,
    )
}

/// The router for a node that authenticates with `auth` (`None` disables auth): the static
/// admin token and, if the authenticator has a JWT issuer, JWT access tokens with the token
/// routes `POST /admin-api/token` and `POST /admin-api/refresh-jwt-token`.
pub fn router_with_auth(
    node: Arc<Node>,
    auth: Option<Authenticator>,
    replicator: Option<Replicator>,
) -> Router {
    let state = AppState {
        node,
        auth: auth.map(Arc::new),
        replicator,
        sse: events::SseSessions::default(),
    };
    let protected = Router::new()
        .route(
            "/jsonrpc",
            post(jsonrpc).layer(DefaultBodyLimit::max(MAX_RPC_BODY)),
        )
        .route("/admin-api/install-dev-application", post(install_dev))
        .route(
            "/admin-api/install-application",
            post(install).layer(DefaultBodyLimit::max(MAX_MODULE_BODY)),
        )
        .route("/admin-api/applications", get(list_applications))
        .route(
            "/admin-api/applications/{id}",
            get(get_application).delete(delete_application),
        )
        .route("/admin-api/applications/{id}/abi", get(application_abi))
        .route(
            "/admin-api/contexts",
            get(list_contexts).post(create_context),
        )
        .route(
            "/admin-api/contexts/{id}",
            get(get_context).delete(delete_context),
        )
        .route("/admin-api/contexts/{id}/members", get(context_members))
        .route("/admin-api/contexts/{id}/invite", post(invite))
        .route("/admin-api/contexts/{id}/sync", post(sync_context))
        .route("/admin-api/contexts/{id}/upgrade", post(upgrade_context))
        .route("/admin-api/contexts/join", post(join))
        .route("/admin-api/peers", get(peers))
        .route("/admin-api/identity", post(new_identity))
        .route("/admin-api/node", get(node_status))
        .route("/admin-api/token", post(issue_token))
        .route("/ws", get(events::ws))
        .route("/sse", get(events::sse))
        .route("/sse/subscription", post(events::sse_subscription))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route(
            "/admin-api/health",
            get(|| async { Json(json!({"data": {"status": "alive"}})) }),
        )
        // Open: the refresh token in the body is the credential.
        .route("/admin-api/refresh-jwt-token", post(refresh_token))
        .merge(protected)
        .fallback(|| async {
            admin_error(
                StatusCode::NOT_FOUND,
                "no such route; see the admin API in docs/node.md".into(),
            )
        })
        .with_state(state)
        .layer(middleware::from_fn(cors))
}

/// CORS, so that a web app served from another origin can call the node: preflight requests
/// are answered here, before authentication (browsers send them without credentials), and
/// every answer to a cross-origin request allows that origin to read it. Credentials travel
/// in the `Authorization` header (or `?token=`), never in cookies, so any origin may be allowed.
async fn cors(request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    if request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let allow_headers = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or(HeaderValue::from_static(
                "authorization, content-type, last-event-id",
            ));
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
        );
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        return response;
    }
    let mut response = next.run(request).await;
    if origin.is_some() {
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-auth-error, x-sse-session-id, x-sse-reconnect"),
        );
    }
    response
}

/// Checks the credential (the static token or a JWT access token, from `Authorization: Bearer`
/// or, only when the request has no `Authorization` header, from `?token=`), refuses a read-only
/// grant on routes that change something, and hands the grant to the handler.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(auth) = &state.auth else {
        request.extensions_mut().insert(Grant::admin("no-auth"));
        return next.run(request).await;
    };
    let grant = match credential(&request).and_then(|token| auth.check(&token)) {
        Ok(grant) => grant,
        Err(error) => return unauthorized(&error),
    };
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    // `/jsonrpc` decides per call (read-only methods) and `/sse/subscription` only subscribes
    // (a read); every other non-GET route changes state.
    let allowed = grant.is_admin() || (reads && grant.can_read());
    let decides_itself = matches!(request.uri().path(), "/jsonrpc" | "/sse/subscription");
    if !allowed && !decides_itself {
        let needed = if reads { "read" } else { "admin" };
        return admin_error(
            StatusCode::FORBIDDEN,
            format!(
                "{} {} needs the `{needed}` permission; this token has: {}",
                request.method(),
                request.uri().path(),
                grant.describe()
            ),
        );
    }
    request.extensions_mut().insert(grant);
    next.run(request).await
}

/// The token a request presents: the bearer header, else (no `Authorization` header at all)
/// the `token` query parameter, which browsers' WebSocket and EventSource need.
fn credential(request: &Request) -> Result<String, AuthError> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or_default();
        return match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Ok(token.trim().to_owned())
            }
            _ => Err(AuthError::Invalid(
                "the Authorization header must be `Bearer <token>`".into(),
            )),
        };
    }
    let query: Query<HashMap<String, String>> =
        Query::try_from_uri(request.uri()).unwrap_or_else(|_| Query(HashMap::new()));
    match query.0.get("token") {
        Some(token) => Ok(token.clone()),
        None => Err(AuthError::Missing),
    }
}

/// The 401 for a refused credential: `X-Auth-Error` says whether refreshing would help.
fn unauthorized(error: &AuthError) -> Response {
    let (kind, message) = match error {
        AuthError::Missing => (
            "missing_token",
            "missing `Authorization: Bearer <token>`; the token is in the node's config.toml (server.auth_token), or use an access token from POST /admin-api/token (browsers may pass `?token=<token>` instead of the header)".to_owned(),
        ),
        AuthError::Expired => (
            "token_expired",
            "the access token expired; get a new pair from POST /admin-api/refresh-jwt-token with {\"refreshToken\": \"<your refresh token>\"}".to_owned(),
        ),
        AuthError::Invalid(message) => ("invalid_token", message.clone()),
        AuthError::Internal(message) => {
            return admin_error(StatusCode::INTERNAL_SERVER_ERROR, message.clone());
        }
    };
    let mut response = admin_error(StatusCode::UNAUTHORIZED, message);
    let headers = response.headers_mut();
    headers.insert("x-auth-error", HeaderValue::from_static(kind));
    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

pub(crate) fn admin_error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

fn node_error(error: NodeError) -> Response {
    let status = match &error {
        NodeError::ContextNotFound(_) | NodeError::ApplicationNotInstalled(_) => {
            StatusCode::NOT_FOUND
        }
        NodeError::ParseError(_) | NodeError::FunctionCall(_) => StatusCode::BAD_REQUEST,
        NodeError::Conflict(_) | NodeError::Uninitialized(_) => StatusCode::CONFLICT,
        NodeError::DeltaTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        NodeError::Network(_) => StatusCode::BAD_GATEWAY,
        NodeError::ClockDrift(_) | NodeError::MissingApplication { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        NodeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    admin_error(status, error.to_string())
}

/// The request body as JSON, or the 400 that says it is not.
fn json_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|e| {
        admin_error(
            StatusCode::BAD_REQUEST,
            format!("the body is not valid JSON: {e}"),
        )
    })
}

fn data(value: impl serde::Serialize) -> Response {
    Json(json!({"data": value})).into_response()
}

fn parse_id<I: std::str::FromStr<Err = calimero_wire::IdError>>(text: &str) -> Result<I, Response> {
    text.parse()
        .map_err(|e: calimero_wire::IdError| admin_error(StatusCode::BAD_REQUEST, e.to_string()))
}

/// Parses `text` as an id, runs `op` with it, and answers `{"data": ...}` or the error.
fn by_id<I: std::str::FromStr<Err = calimero_wire::IdError>, T: serde::Serialize>(
    text: &str,
    op: impl FnOnce(&I) -> Result<T, NodeError>,
) -> Response {
    match parse_id::<I>(text) {
        Ok(id) => match op(&id) {
            Ok(value) => data(value),
            Err(error) => node_error(error),
        },
        Err(response) => response,
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        admin_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the call crashed: {e}"),
        )
    })
}

// ---- JSON-RPC ----

/// A JSON-RPC answer: the HTTP status (200 but for permission errors) and the envelope.
type RpcAnswer = (StatusCode, Value);

fn rpc_error(id: Value, error: Value) -> RpcAnswer {
    (
        StatusCode::OK,
        json!({"jsonrpc": "2.0", "id": id, "error": error}),
    )
}

/// A JSON-RPC error as clients see it (`docs/node.md`, "Errors"): `type` is the category,
/// `data.type` a finer kind, and `data.data.type` the one-line message, prefixed with the
/// method, that client libraries (Calimero's `JsonRpcClient`) show; `data.data.detail` keeps the
/// structured details (for `ExecutionError`, the app's error JSON).
pub(crate) fn error_body(
    category: &str,
    kind: &str,
    message: String,
    method: Option<&str>,
    detail: Value,
) -> Value {
    let shown = match method {
        Some(method) => format!("{method}: {message}"),
        None => message.clone(),
    };
    let mut inner = json!({"type": shown, "message": message, "detail": detail});
    if let Some(method) = method {
        inner["method"] = json!(method);
    }
    json!({"type": category, "data": {"type": kind, "data": inner}})
}

/// An app error as one line: `NotFound: missing` for `{"kind": "NotFound", "data": "missing"}`.
fn app_error_message(error: &Value) -> String {
    let text = |value: &Value| match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match (error.get("kind").and_then(Value::as_str), error.get("data")) {
        (Some(kind), Some(data)) if !data.is_null() => format!("{kind}: {}", text(data)),
        (Some(kind), _) => kind.to_owned(),
        _ => text(error),
    }
}

/// [`error_body`] for an error of the node (or of the call it ran).
fn node_error_body(error: &NodeError, method: Option<&str>) -> Value {
    let flat = error.to_json();
    let category = flat["type"].as_str().unwrap_or("InternalError").to_owned();
    let detail = flat.get("data").cloned().unwrap_or(Value::Null);
    let inner_kind = detail
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (kind, message) = match category.as_str() {
        "ExecutionError" => (
            detail
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("Error")
                .to_owned(),
            app_error_message(&detail),
        ),
        "HostError" | "MethodResolutionError" => (
            inner_kind.unwrap_or_else(|| category.clone()),
            error.to_string(),
        ),
        _ => (category.clone(), error.to_string()),
    };
    error_body(&category, &kind, message, method, detail)
}

fn parse_error(id: Value, message: impl Into<String>) -> RpcAnswer {
    let message = message.into();
    rpc_error(
        id,
        error_body("ParseError", "ParseError", message, None, Value::Null),
    )
}

/// A JSON-RPC error the caller's permissions caused: HTTP 403 with the usual envelope.
fn forbidden(id: Value, method: &str, message: String) -> RpcAnswer {
    let body = error_body("Forbidden", "Forbidden", message, Some(method), Value::Null);
    let (_, body) = rpc_error(id, body);
    (StatusCode::FORBIDDEN, body)
}

async fn jsonrpc(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    body: Bytes,
) -> Response {
    let (status, body) = match serde_json::from_slice::<Value>(&body) {
        Ok(request) => rpc(&state, &grant, request).await,
        Err(e) => parse_error(Value::Null, format!("the request is not valid JSON: {e}")),
    };
    (status, Json(body)).into_response()
}

/// Answers one JSON-RPC request (`POST /jsonrpc`, and `execute` over the WebSocket).
pub(crate) async fn rpc(state: &AppState, grant: &Grant, request: Value) -> RpcAnswer {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    if !(id.is_null() || id.is_string() || id.is_u64()) {
        return parse_error(
            Value::Null,
            "`id` must be a string, an unsigned integer or null",
        );
    }
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return parse_error(id, "missing `method`: use \"execute\" or \"sync_status\"");
    };
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    let Some(context) = params.get("contextId").and_then(Value::as_str) else {
        return parse_error(id, "`params.contextId` (a base58 context id) is required");
    };
    let context: ContextId = match context.parse() {
        Ok(context) => context,
        Err(error) => return parse_error(id, format!("{error}")),
    };
    let node = state.node.clone();
    // The app method an `execute` calls, named in its errors.
    let mut called: Option<String> = None;
    let result = match method {
        "execute" => {
            let Some(name) = params
                .get("method")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                return parse_error(id, "`params.method` (the app method to call) is required");
            };
            let args = match params.get("argsJson") {
                None | Some(Value::Null) => Vec::new(),
                Some(args) => serde_json::to_vec(args).unwrap_or_default(),
            };
            if args.len() > MAX_ARGS_SIZE {
                return parse_error(
                    id,
                    format!(
                        "`argsJson` is {} bytes; the limit is {MAX_ARGS_SIZE}",
                        args.len()
                    ),
                );
            }
            if !grant.is_admin() {
                let allowed = match state.node.is_read_only(&context, &name) {
                    Ok(read_only) => grant.can_read() && read_only,
                    Err(error) => return rpc_error(id, node_error_body(&error, Some(&name))),
                };
                if !allowed {
                    return forbidden(
                        id,
                        &name,
                        format!(
                            "`{name}` is not a read-only method of this context's application; calling it needs the `admin` permission (this token has: {})",
                            grant.describe()
                        ),
                    );
                }
            }
            called = Some(name.clone());
            match blocking(move || node.execute(&context, &name, args)).await {
                Ok(result) => result.map(|execution| json!({"output": execution.output})),
                Err(_) => Err(NodeError::Internal("the call crashed".into())),
            }
        }
        "sync_status" if !grant.can_read() => {
            return forbidden(
                id,
                "sync_status",
                format!(
                    "`sync_status` needs the `read` permission (this token has: {})",
                    grant.describe()
                ),
            );
        }
        "sync_status" => node.sync_status(&context),
        other => {
            return parse_error(
                id,
                format!("unknown JSON-RPC method `{other}`; use \"execute\" or \"sync_status\""),
            );
        }
    };
    match result {
        Ok(result) => (
            StatusCode::OK,
            json!({"jsonrpc": "2.0", "id": id, "result": result}),
        ),
        Err(error) => rpc_error(id, node_error_body(&error, called.as_deref())),
    }
}

// ---- admin: applications ----

async fn install_dev(State(state): State<AppState>, body: Bytes) -> Response {
    let request = match json_body(&body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    let Some(path) = request
        .get("path")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "expected {\"path\": \"/path/to/app.wasm\"} (a file on the node's machine)".into(),
        );
    };
    install_from_path(state, path).await
}

async fn install_from_path(state: AppState, path: String) -> Response {
    let limit = state.node.limits().max_module_size;
    let read = {
        let path = path.clone();
        blocking(move || read_module_file(&path, limit)).await
    };
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(message)) => return admin_error(StatusCode::BAD_REQUEST, message),
        Err(response) => return response,
    };
    let source = format!("file://{path}");
    install_bytes(state, bytes, source).await
}

/// Reads a module file of at most `limit` bytes (checked before and while reading, so neither a
/// huge file nor a device that never ends is read into memory).
fn read_module_file(path: &str, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read `{path}` on the node: {e}");
    let file = std::fs::File::open(path).map_err(cannot)?;
    let metadata = file.metadata().map_err(cannot)?;
    if !metadata.is_file() {
        return Err(format!(
            "`{path}` is not a regular file; give the path of a .wasm module"
        ));
    }
    let too_large = |size: u64| {
        format!(
            "`{path}` is {size} bytes; modules may be at most {limit} bytes (`max_module_size`)"
        )
    };
    if metadata.len() > limit {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

async fn install_bytes(state: AppState, bytes: Vec<u8>, source: String) -> Response {
    let node = state.node.clone();
    match blocking(move || node.install_application(&bytes, &source)).await {
        Ok(Ok(id)) => data(json!({"applicationId": id})),
        Ok(Err(error)) => node_error(error),
        Err(response) => response,
    }
}

async fn install(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return install_bytes(state, body.to_vec(), "upload".into()).await;
    }
    let request = match json_body(&body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    match request.get("url").and_then(Value::as_str) {
        Some(url) => match url.strip_prefix("file://") {
            Some(path) => install_from_path(state, path.to_owned()).await,
            None => admin_error(
                StatusCode::BAD_REQUEST,
                format!("only file:// URLs are supported, got `{url}`; or send the module bytes as application/wasm"),
            ),
        },
        None => admin_error(
            StatusCode::BAD_REQUEST,
            "expected {\"url\": \"file:///path/app.wasm\"}, or the module bytes with Content-Type application/wasm".into(),
        ),
    }
}

async fn list_applications(State(state): State<AppState>) -> Response {
    match state.node.applications() {
        Ok(apps) => data(json!({"apps": apps})),
        Err(error) => node_error(error),
    }
}

async fn get_application(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    by_id(&id, |id: &ApplicationId| state.node.get_application(id))
}

async fn application_abi(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    by_id(&id, |id: &ApplicationId| state.node.application_abi(id))
}

async fn delete_application(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    by_id(&id, |id: &ApplicationId| {
        state
            .node
            .delete_application(id)
            .map(|()| json!({"isDeleted": true}))
    })
}

// ---- admin: contexts ----

async fn create_context(State(state): State<AppState>, body: Bytes) -> Response {
    let request = match json_body(&body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    let Some(application) = request.get("applicationId").and_then(Value::as_str) else {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "`applicationId` (base58) is required".into(),
        );
    };
    let application: ApplicationId = match parse_id(application) {
        Ok(id) => id,
        Err(response) => return response,
    };
    // `initializationParams` is the JSON for `init`, either as bytes (upstream) or as JSON.
    let params = match request.get("initializationParams") {
        None | Some(Value::Null) => b"{}".to_vec(),
        Some(Value::Array(bytes)) if bytes.iter().all(|b| b.as_u64().is_some_and(|b| b < 256)) => {
            bytes
                .iter()
                .filter_map(|b| b.as_u64())
                .map(|b| b as u8)
                .collect()
        }
        Some(other) => serde_json::to_vec(other).unwrap_or_default(),
    };
    let node = state.node.clone();
    match blocking(move || node.create_context(&application, params)).await {
        Ok(Ok((context, member))) => data(json!({"contextId": context, "memberPublicKey": member})),
        Ok(Err(error)) => node_error(error),
        Err(response) => response,
    }
}

async fn list_contexts(State(state): State<AppState>) -> Response {
    match state.node.contexts() {
        Ok(contexts) => data(json!({"contexts": contexts})),
        Err(error) => node_error(error),
    }
}

async fn get_context(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    by_id(&id, |id: &ContextId| state.node.get_context(id))
}

async fn delete_context(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let id: ContextId = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let node = state.node.clone();
    match blocking(move || node.delete_context(&id)).await {
        Ok(Ok(())) => data(json!({"isDeleted": true})),
        Ok(Err(error)) => node_error(error),
        Err(response) => response,
    }
}

// ---- admin: peers, membership, sync ----

fn replicator(state: &AppState) -> Result<Replicator, Response> {
    state.replicator.clone().ok_or_else(|| {
        admin_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node runs without networking".into(),
        )
    })
}

async fn context_members(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    by_id(&id, |id: &ContextId| {
        state
            .node
            .members(id)
            .map(|members| json!({"members": members}))
    })
}

/// The default lifetime of an invitation.
pub const DEFAULT_INVITATION_VALIDITY_SECS: u64 = 24 * 3600;

async fn invite(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let context: ContextId = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let request = if body.is_empty() {
        json!({})
    } else {
        match json_body(&body) {
            Ok(value) => value,
            Err(response) => return response,
        }
    };
    let invitee = match request.get("invitee").and_then(Value::as_str) {
        None => None,
        Some(text) => match parse_id::<PublicKey>(text) {
            Ok(key) => Some(key),
            Err(response) => return response,
        },
    };
    let valid_for = request
        .get("validForSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_INVITATION_VALIDITY_SECS);
    let replicator = match replicator(&state) {
        Ok(replicator) => replicator,
        Err(response) => return response,
    };
    match replicator
        .invite(context, invitee, std::time::Duration::from_secs(valid_for))
        .await
    {
        Ok(invitation) => data(json!({
            "invitation": invitation.to_text(),
            "contextId": context,
            "inviter": invitation.inviter,
            "invitee": invitation.invitee,
            "expiresAtMs": invitation.expires_at_ms,
        })),
        Err(error) => node_error(error),
    }
}

async fn join(State(state): State<AppState>, body: Bytes) -> Response {
    let request = match json_body(&body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    let Some(text) = request.get("invitation").and_then(Value::as_str) else {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "expected {\"invitation\": \"<the string `context invite` printed>\"}".into(),
        );
    };
    let replicator = match replicator(&state) {
        Ok(replicator) => replicator,
        Err(response) => return response,
    };
    match replicator.join(text).await {
        Ok(report) => data(report),
        Err(error) => node_error(error),
    }
}

async fn sync_context(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let context: ContextId = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let replicator = match replicator(&state) {
        Ok(replicator) => replicator,
        Err(response) => return response,
    };
    match replicator.sync_now(context).await {
        Ok(report) => data(report),
        Err(error) => node_error(error),
    }
}

/// `POST /admin-api/contexts/{id}/upgrade {"applicationId"}`: moves the context to a new
/// version of its app, running the new version's migration.
async fn upgrade_context(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let context: ContextId = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let request = match json_body(&body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    let application: ApplicationId = match request.get("applicationId").and_then(Value::as_str) {
        Some(text) => match parse_id(text) {
            Ok(id) => id,
            Err(response) => return response,
        },
        None => {
            return node_error(NodeError::ParseError(
                "the body names the new version: {\"applicationId\": \"<id of an installed application>\"}"
                    .into(),
            ));
        }
    };
    let node = state.node.clone();
    match blocking(move || node.upgrade_context(&context, &application)).await {
        Ok(Ok(upgrade)) => data(upgrade),
        Ok(Err(error)) => node_error(error),
        Err(response) => response,
    }
}

async fn new_identity(State(state): State<AppState>) -> Response {
    let node = state.node.clone();
    match blocking(move || node.new_identity()).await {
        Ok(Ok(public)) => data(json!({"publicKey": public})),
        Ok(Err(error)) => node_error(error),
        Err(response) => response,
    }
}

async fn peers(State(state): State<AppState>) -> Response {
    match replicator(&state) {
        Ok(replicator) => data(replicator.peers().await),
        Err(response) => response,
    }
}

async fn node_status(State(state): State<AppState>) -> Response {
    let contexts = state.node.contexts().map(|c| c.len()).unwrap_or(0);
    let applications = state.node.applications().map(|a| a.len()).unwrap_or(0);
    let mut status = match &state.replicator {
        Some(replicator) => replicator.status().await,
        None => json!({"counters": state.node.metrics.snapshot()}),
    };
    status["contexts"] = json!(contexts);
    status["applications"] = json!(applications);
    data(status)
}

// ---- admin: tokens ----

/// The JWT issuer, or the 503 that says this node issues none.
fn jwt_issuer(state: &AppState) -> Result<Arc<auth::Jwt>, Response> {
    state
        .auth
        .as_ref()
        .and_then(|auth| auth.jwt().cloned())
        .ok_or_else(|| {
            admin_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "this node issues no JWTs: it runs without authentication (--no-auth) or with the static token only".into(),
            )
        })
}

/// `POST /admin-api/token` `{"permissions": ["read"] | ["admin"]}` → `{"data": {access_token,
/// refresh_token, expires_in}}`. Only an admin may mint (the middleware refuses other grants on
/// every POST but `/jsonrpc`); the check below keeps a token from ever exceeding its minter.
async fn issue_token(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    body: Bytes,
) -> Response {
    let jwt = match jwt_issuer(&state) {
        Ok(jwt) => jwt,
        Err(response) => return response,
    };
    let request = match json_body(&body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    let usage = || {
        format!(
            "expected {{\"permissions\": [...]}} with one or more of {}",
            Permission::ALL.map(|p| format!("\"{p}\"")).join(", ")
        )
    };
    let Some(requested) = request.get("permissions").and_then(Value::as_array) else {
        return admin_error(StatusCode::BAD_REQUEST, usage());
    };
    let mut permissions = Vec::new();
    for value in requested {
        match value.as_str().and_then(Permission::parse) {
            Some(permission) if !permissions.contains(&permission) => permissions.push(permission),
            Some(_) => {}
            None => {
                return admin_error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown permission {value}; {}", usage()),
                );
            }
        }
    }
    if permissions.is_empty() {
        return admin_error(StatusCode::BAD_REQUEST, usage());
    }
    if !grant.is_admin() {
        return admin_error(
            StatusCode::FORBIDDEN,
            format!(
                "minting tokens needs the `admin` permission; this token has: {}",
                grant.describe()
            ),
        );
    }
    data(jwt.issue(&grant.subject, &permissions))
}

/// `POST /admin-api/refresh-jwt-token`: a new pair for a refresh token, which is spent.
///
/// The request and answer follow the Calimero JS client (`calimero-client-js`, `NodeApi.
/// refreshToken`): it posts `{"refreshToken": "<refresh token>"}` and reads `data.access_token`
/// and `data.refresh_token`. The snake-case `refresh_token` and an optional `access_token` (or
/// `accessToken`), which the newer auth client sends, are accepted too; an access token given
/// must be one of this node's (expired is fine) with the refresh token's subject.
async fn refresh_token(State(state): State<AppState>, body: Bytes) -> Response {
    let jwt = match jwt_issuer(&state) {
        Ok(jwt) => jwt,
        Err(response) => return response,
    };
    let request = match json_body(&body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    let field = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|name| request.get(*name).and_then(Value::as_str))
            .map(str::to_owned)
    };
    let Some(refresh) = field(["refreshToken", "refresh_token"]) else {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "expected {\"refreshToken\": \"<the refresh token from POST /admin-api/token or the last refresh>\"}".into(),
        );
    };
    let access = field(["accessToken", "access_token"]);
    match blocking(move || jwt.refresh(&refresh, access.as_deref())).await {
        Ok(Ok(pair)) => data(pair),
        Ok(Err(error)) => unauthorized(&error),
        Err(response) => response,
    }
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
