//! Authentication against a real node: the static admin token, JWT access tokens with
//! permissions, expiry, single-use refresh tokens, and the `?token=` fallback.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use calimero_server::auth::{self, Claims, Secret, TokenType};
use calimero_tests::node::TestNode;
use serde_json::{Value, json};

fn kv_store() -> &'static [u8] {
    static MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    MODULE.get_or_init(|| calimero_tests::build_app("kv-store"))
}

/// An answer: status, the `X-Auth-Error` header, the JSON body.
#[derive(Debug)]
struct Answer {
    status: u16,
    auth_error: Option<String>,
    body: Value,
}

impl Answer {
    fn error(&self) -> String {
        match &self.body["error"] {
            Value::String(message) => message.clone(),
            other => other.to_string(),
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// A request with an optional `Authorization` header value (sent verbatim) and JSON body.
fn send(
    node: &TestNode,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let url = format!("{}{path}", node.url);
    let agent = agent();
    let response = match method {
        "GET" | "DELETE" => {
            let mut request = if method == "GET" {
                agent.get(&url)
            } else {
                agent.delete(&url)
            };
            if let Some(authorization) = authorization {
                request = request.header("Authorization", authorization);
            }
            request.call()
        }
        _ => {
            let mut request = agent.post(&url).header("Content-Type", "application/json");
            if let Some(authorization) = authorization {
                request = request.header("Authorization", authorization);
            }
            let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
            request.send(&bytes.unwrap_or_default()[..])
        }
    };
    let mut response = response.expect("the node answers");
    let status = response.status().as_u16();
    let auth_error = response
        .headers()
        .get("x-auth-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status,
        auth_error,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn execute(context: &str, method: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "execute",
        "params": {"contextId": context, "method": method, "argsJson": args}})
}

/// Mints a pair with `permissions`, authenticated by `token`; returns (access, refresh).
fn mint(node: &TestNode, token: &str, permissions: &[&str]) -> (String, String) {
    let answer = send(
        node,
        "POST",
        "/admin-api/token",
        Some(&bearer(token)),
        Some(&json!({"permissions": permissions})),
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    let data = &answer.body["data"];
    assert_eq!(data["expires_in"], 3600);
    (
        data["access_token"].as_str().unwrap().to_owned(),
        data["refresh_token"].as_str().unwrap().to_owned(),
    )
}

fn node_home(node: &TestNode) -> PathBuf {
    node.home().join("n1")
}

/// Claims as the node would make them, for `token_type`, expiring at `exp`.
fn claims(permissions: &[&str], token_type: TokenType, exp: u64) -> Claims {
    let now = auth::now_secs();
    Claims {
        sub: "test".into(),
        iss: auth::ISSUER.into(),
        aud: auth::AUDIENCE.into(),
        exp,
        iat: now.min(exp),
        jti: format!("test-{exp}"),
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        token_type,
    }
}

struct Setup {
    node: TestNode,
    app: String,
    context: String,
}

fn setup() -> Setup {
    let node = TestNode::start(env!("CARGO_BIN_EXE_merod").as_ref());
    let app = node.install(kv_store());
    let context = node.create_context(&app);
    node.call(&context, "set", json!({"key": "kept", "value": "safe"}))
        .unwrap();
    Setup { node, app, context }
}

impl Setup {
    fn root(&self) -> Value {
        self.node.admin_ok(
            "GET",
            &format!("/admin-api/contexts/{}", self.context),
            None,
        )["rootHash"]
            .clone()
    }

    fn kept(&self) -> Value {
        self.node
            .call(&self.context, "get", json!({"key": "kept"}))
            .unwrap()
    }
}

#[test]
fn every_route_but_health_refuses_no_token_and_wrong_tokens() {
    let s = setup();
    let (app, ctx) = (&s.app, &s.context);
    let before = s.root();
    let routes: Vec<(&str, String, Value)> = vec![
        (
            "POST",
            "/jsonrpc".into(),
            execute(ctx, "set", json!({"key": "kept", "value": "stolen"})),
        ),
        (
            "POST",
            "/admin-api/install-dev-application".into(),
            json!({"path": "/dev/null"}),
        ),
        (
            "POST",
            "/admin-api/install-application".into(),
            json!({"url": "file:///dev/null"}),
        ),
        ("GET", "/admin-api/applications".into(), Value::Null),
        ("GET", format!("/admin-api/applications/{app}"), Value::Null),
        (
            "DELETE",
            format!("/admin-api/applications/{app}"),
            Value::Null,
        ),
        (
            "GET",
            format!("/admin-api/applications/{app}/abi"),
            Value::Null,
        ),
        ("GET", "/admin-api/contexts".into(), Value::Null),
        (
            "POST",
            "/admin-api/contexts".into(),
            json!({"applicationId": app}),
        ),
        ("GET", format!("/admin-api/contexts/{ctx}"), Value::Null),
        ("DELETE", format!("/admin-api/contexts/{ctx}"), Value::Null),
        (
            "GET",
            format!("/admin-api/contexts/{ctx}/members"),
            Value::Null,
        ),
        (
            "POST",
            format!("/admin-api/contexts/{ctx}/invite"),
            json!({}),
        ),
        (
            "POST",
            format!("/admin-api/contexts/{ctx}/sync"),
            Value::Null,
        ),
        (
            "POST",
            "/admin-api/contexts/join".into(),
            json!({"invitation": "x"}),
        ),
        ("GET", "/admin-api/peers".into(), Value::Null),
        ("POST", "/admin-api/identity".into(), Value::Null),
        ("GET", "/admin-api/node".into(), Value::Null),
        (
            "POST",
            "/admin-api/token".into(),
            json!({"permissions": ["admin"]}),
        ),
    ];
    let foreign = auth::sign(
        &Secret::generate(),
        &claims(&["admin"], TokenType::Access, auth::now_secs() + 600),
    );
    for (method, path, body) in &routes {
        let body = (!body.is_null()).then_some(body);
        let answer = send(&s.node, method, path, None, body);
        assert_eq!(
            answer.status, 401,
            "{method} {path} without a token: {answer:?}"
        );
        assert_eq!(answer.auth_error.as_deref(), Some("missing_token"));
        assert!(
            answer
                .error()
                .contains("missing `Authorization: Bearer <token>`"),
            "{method} {path}: {}",
            answer.error()
        );
        for (wrong, what) in [
            (bearer("not-the-token"), "a wrong static token"),
            (bearer(&foreign), "a JWT signed by another node"),
            ("Basic YWRtaW46YWRtaW4=".to_owned(), "another scheme"),
        ] {
            let answer = send(&s.node, method, path, Some(&wrong), body);
            assert_eq!(
                answer.status, 401,
                "{method} {path} with {what}: {answer:?}"
            );
            assert_eq!(
                answer.auth_error.as_deref(),
                Some("invalid_token"),
                "{method} {path} with {what}"
            );
        }
    }
    // Open: health, and the refresh route (its body is the credential).
    assert_eq!(
        send(&s.node, "GET", "/admin-api/health", None, None).status,
        200
    );
    let answer = send(
        &s.node,
        "POST",
        "/admin-api/refresh-jwt-token",
        None,
        Some(&json!({})),
    );
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(
        answer.error().contains("refreshToken"),
        "{}",
        answer.error()
    );
    // Nothing was changed, deleted or minted.
    assert_eq!(s.root(), before);
    assert_eq!(s.kept(), json!("safe"));
    assert_eq!(
        s.node.admin_ok("GET", "/admin-api/applications", None)["apps"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn an_admin_jwt_can_do_what_the_admin_token_can() {
    let s = setup();
    let (access, _) = mint(&s.node, &s.node.token, &["admin"]);
    let auth = bearer(&access);
    let answer = send(
        &s.node,
        "POST",
        "/jsonrpc",
        Some(&auth),
        Some(&execute(
            &s.context,
            "set",
            json!({"key": "jwt", "value": "yes"}),
        )),
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["result"]["output"], Value::Null, "{answer:?}");
    assert_eq!(
        s.node.call(&s.context, "get", json!({"key": "jwt"})),
        Ok(json!("yes"))
    );
    let answer = send(
        &s.node,
        "POST",
        "/admin-api/contexts",
        Some(&auth),
        Some(&json!({"applicationId": s.app})),
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = send(&s.node, "GET", "/admin-api/node", Some(&auth), None);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["data"]["contexts"], 2);
    // An admin JWT may mint, both kinds.
    mint(&s.node, &access, &["read"]);
    mint(&s.node, &access, &["admin"]);
    // Unknown or missing permissions are refused.
    for body in [
        json!({"permissions": ["root"]}),
        json!({"permissions": []}),
        json!({}),
    ] {
        let answer = send(
            &s.node,
            "POST",
            "/admin-api/token",
            Some(&auth),
            Some(&body),
        );
        assert_eq!(answer.status, 400, "{body}: {answer:?}");
        assert!(answer.error().contains("\"read\""), "{}", answer.error());
    }
}

#[test]
fn a_read_jwt_reads_but_changes_nothing() {
    let s = setup();
    let before = s.root();
    let (read, _) = mint(&s.node, &s.node.token, &["read"]);
    let auth = bearer(&read);

    // Reads: a read-only method, sync_status, GET routes.
    let answer = send(
        &s.node,
        "POST",
        "/jsonrpc",
        Some(&auth),
        Some(&execute(&s.context, "get", json!({"key": "kept"}))),
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["result"]["output"], "safe");
    let status = json!({"jsonrpc": "2.0", "id": 2, "method": "sync_status",
        "params": {"contextId": s.context}});
    let answer = send(&s.node, "POST", "/jsonrpc", Some(&auth), Some(&status));
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["result"]["isInitialized"], true, "{answer:?}");
    for path in [
        "/admin-api/contexts".to_owned(),
        format!("/admin-api/contexts/{}", s.context),
        format!("/admin-api/applications/{}/abi", s.app),
        "/admin-api/node".to_owned(),
    ] {
        let answer = send(&s.node, "GET", &path, Some(&auth), None);
        assert_eq!(answer.status, 200, "GET {path}: {answer:?}");
    }

    // Writes: a mutating method, and every admin route that changes something.
    let answer = send(
        &s.node,
        "POST",
        "/jsonrpc",
        Some(&auth),
        Some(&execute(
            &s.context,
            "set",
            json!({"key": "kept", "value": "stolen"}),
        )),
    );
    assert_eq!(answer.status, 403, "{answer:?}");
    assert_eq!(answer.body["error"]["type"], "Forbidden");
    let message = answer.body["error"]["data"]["data"]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("`set`") && message.contains("`admin`"),
        "{message}"
    );
    let refused: Vec<(&str, String, Value)> = vec![
        (
            "POST",
            "/admin-api/install-application".into(),
            json!({"url": "file:///dev/null"}),
        ),
        (
            "POST",
            "/admin-api/install-dev-application".into(),
            json!({"path": "/dev/null"}),
        ),
        (
            "POST",
            "/admin-api/contexts".into(),
            json!({"applicationId": s.app}),
        ),
        (
            "DELETE",
            format!("/admin-api/contexts/{}", s.context),
            Value::Null,
        ),
        (
            "DELETE",
            format!("/admin-api/applications/{}", s.app),
            Value::Null,
        ),
        ("POST", "/admin-api/identity".into(), Value::Null),
        (
            "POST",
            "/admin-api/token".into(),
            json!({"permissions": ["admin"]}),
        ),
        (
            "POST",
            "/admin-api/token".into(),
            json!({"permissions": ["read"]}),
        ),
    ];
    for (method, path, body) in &refused {
        let body = (!body.is_null()).then_some(body);
        let answer = send(&s.node, method, path, Some(&auth), body);
        assert_eq!(answer.status, 403, "{method} {path}: {answer:?}");
        assert!(
            answer.error().contains("needs the `admin` permission"),
            "{method} {path}: {}",
            answer.error()
        );
    }
    // Installing by bytes is refused too. (A small body: the refusal comes before the body is
    // read, and a client still sending a large one may see the connection close under it.)
    let (status, value) = s.node.post_raw(
        "/admin-api/install-application",
        Some(&read),
        b"\0asm\x01\0\0\0".to_vec(),
        "application/wasm",
    );
    assert_eq!(status, 403, "{value}");

    assert_eq!(s.root(), before, "the state root moved");
    assert_eq!(s.kept(), json!("safe"));
    let data = s.node.admin_ok("GET", "/admin-api/node", None);
    assert_eq!(
        (data["contexts"].clone(), data["applications"].clone()),
        (json!(1), json!(1))
    );
}

#[test]
fn an_expired_access_token_asks_for_a_refresh() {
    let s = setup();
    let secret = Secret::load(&node_home(&s.node)).expect("the node keeps its JWT secret");
    let past = auth::now_secs() - 5;
    let expired = auth::sign(&secret, &claims(&["admin"], TokenType::Access, past));
    let answer = send(
        &s.node,
        "GET",
        "/admin-api/contexts",
        Some(&bearer(&expired)),
        None,
    );
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.auth_error.as_deref(), Some("token_expired"));
    assert!(
        answer.error().contains("/admin-api/refresh-jwt-token"),
        "{}",
        answer.error()
    );

    // The same claims, valid, work: the secret file is the node's.
    let valid = auth::sign(
        &secret,
        &claims(&["admin"], TokenType::Access, auth::now_secs() + 60),
    );
    let answer = send(
        &s.node,
        "GET",
        "/admin-api/contexts",
        Some(&bearer(&valid)),
        None,
    );
    assert_eq!(answer.status, 200, "{answer:?}");

    // Expired but forged, or not an access token: invalid, not expired.
    let forged = auth::sign(
        &Secret::generate(),
        &claims(&["admin"], TokenType::Access, past),
    );
    let answer = send(
        &s.node,
        "GET",
        "/admin-api/contexts",
        Some(&bearer(&forged)),
        None,
    );
    assert_eq!(answer.auth_error.as_deref(), Some("invalid_token"));
    let (_, refresh) = mint(&s.node, &s.node.token, &["admin"]);
    let answer = send(
        &s.node,
        "GET",
        "/admin-api/contexts",
        Some(&bearer(&refresh)),
        None,
    );
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.auth_error.as_deref(), Some("invalid_token"));
    assert!(
        answer.error().contains("refresh token"),
        "{}",
        answer.error()
    );

    // The secret is private to the node's user.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(Secret::path(&node_home(&s.node)))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn refresh_gives_a_working_pair_and_each_refresh_token_works_once() {
    let mut s = setup();
    let (access, refresh) = mint(&s.node, &s.node.token, &["read"]);

    // The upstream client's shape: {"refreshToken"} → {"data": {access_token, refresh_token}}.
    let answer = send(
        &s.node,
        "POST",
        "/admin-api/refresh-jwt-token",
        None,
        Some(&json!({"refreshToken": refresh})),
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    let new_access = answer.body["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_refresh = answer.body["data"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_access, access);
    let answer = send(
        &s.node,
        "GET",
        "/admin-api/contexts",
        Some(&bearer(&new_access)),
        None,
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    // The permissions carry over: still read-only.
    let answer = send(
        &s.node,
        "POST",
        "/jsonrpc",
        Some(&bearer(&new_access)),
        Some(&execute(
            &s.context,
            "set",
            json!({"key": "kept", "value": "x"}),
        )),
    );
    assert_eq!(answer.status, 403, "{answer:?}");

    // The spent refresh token is refused.
    let answer = send(
        &s.node,
        "POST",
        "/admin-api/refresh-jwt-token",
        None,
        Some(&json!({"refreshToken": refresh})),
    );
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.auth_error.as_deref(), Some("invalid_token"));
    assert!(
        answer.error().contains("already used"),
        "{}",
        answer.error()
    );

    // An access token is no refresh token.
    let answer = send(
        &s.node,
        "POST",
        "/admin-api/refresh-jwt-token",
        None,
        Some(&json!({"refreshToken": new_access})),
    );
    assert_eq!(answer.status, 401, "{answer:?}");

    // The snake-case shape with the access token works too; a mismatched access token does not.
    let (other_access, _) = mint(&s.node, &s.node.token, &["admin"]);
    let foreign_subject = auth::sign(
        &Secret::load(&node_home(&s.node)).unwrap(),
        &claims(&["read"], TokenType::Access, auth::now_secs() + 60),
    );
    let answer = send(
        &s.node,
        "POST",
        "/admin-api/refresh-jwt-token",
        None,
        Some(&json!({"refresh_token": new_refresh, "access_token": foreign_subject})),
    );
    assert_eq!(answer.status, 401, "{answer:?}");
    let answer = send(
        &s.node,
        "POST",
        "/admin-api/refresh-jwt-token",
        None,
        Some(&json!({"refresh_token": new_refresh, "access_token": other_access})),
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    let latest_access = answer.body["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // After a restart the secret and the spent tokens are remembered.
    s.node.restart();
    let answer = send(
        &s.node,
        "GET",
        "/admin-api/contexts",
        Some(&bearer(&latest_access)),
        None,
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = send(
        &s.node,
        "POST",
        "/admin-api/refresh-jwt-token",
        None,
        Some(&json!({"refreshToken": new_refresh})),
    );
    assert_eq!(answer.status, 401, "{answer:?}");
    assert!(
        answer.error().contains("already used"),
        "{}",
        answer.error()
    );
}

#[test]
fn the_query_token_is_only_a_fallback_for_a_missing_header() {
    let s = setup();
    let (access, _) = mint(&s.node, &s.node.token, &["read"]);
    // No header: the query parameter authenticates (a JWT or the static token).
    for token in [&access, &s.node.token] {
        let answer = send(
            &s.node,
            "GET",
            &format!("/admin-api/contexts?token={token}"),
            None,
            None,
        );
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let answer = send(&s.node, "GET", "/admin-api/contexts?token=nope", None, None);
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.auth_error.as_deref(), Some("invalid_token"));
    // A header wins, even a wrong one: the valid query token is ignored.
    let answer = send(
        &s.node,
        "GET",
        &format!("/admin-api/contexts?token={}", s.node.token),
        Some(&bearer("not-the-token")),
        None,
    );
    assert_eq!(answer.status, 401, "{answer:?}");
    // And a valid header is not spoiled by a wrong query token.
    let answer = send(
        &s.node,
        "GET",
        "/admin-api/contexts?token=nope",
        Some(&bearer(&access)),
        None,
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    // The query token carries its own permissions: a read token still cannot write.
    let answer = send(
        &s.node,
        "POST",
        &format!("/admin-api/identity?token={access}"),
        None,
        None,
    );
    assert_eq!(answer.status, 403, "{answer:?}");
}

#[test]
fn meroctl_mints_and_refreshes_tokens() {
    let node = TestNode::start(env!("CARGO_BIN_EXE_merod").as_ref());
    let meroctl = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_meroctl"))
            .arg("--home")
            .arg(node.home())
            .args([
                "--node",
                "n1",
                "--api",
                &node.url,
                "--output-format",
                "json",
            ])
            .args(args)
            .output()
            .expect("meroctl runs");
        assert!(
            output.status.success(),
            "meroctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).expect("JSON output")
    };
    let pair = meroctl(&["token", "create", "--read-only"]);
    let access = pair["access_token"].as_str().unwrap();
    let answer = send(&node, "GET", "/admin-api/node", Some(&bearer(access)), None);
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = send(
        &node,
        "POST",
        "/admin-api/identity",
        Some(&bearer(access)),
        None,
    );
    assert_eq!(answer.status, 403, "{answer:?}");
    let next = meroctl(&["token", "refresh", pair["refresh_token"].as_str().unwrap()]);
    let answer = send(
        &node,
        "GET",
        "/admin-api/node",
        Some(&bearer(next["access_token"].as_str().unwrap())),
        None,
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    let admin = meroctl(&["token", "create"]);
    let answer = send(
        &node,
        "POST",
        "/admin-api/identity",
        Some(&bearer(admin["access_token"].as_str().unwrap())),
        None,
    );
    assert_eq!(answer.status, 200, "{answer:?}");
}
