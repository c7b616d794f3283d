//! Who may call the node: the static admin token from `config.toml`, or a short-lived JWT access
//! token (HS256, signed with a per-node secret kept in the node's home) that carries permissions.
//! Access tokens are renewed with single-use refresh tokens.
//!
//! Nothing here logs or prints a token or the secret; errors name what is wrong, never the value.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// The file in the node's home that holds the signing secret (64 hex digits, mode 0600).
pub const SECRET_FILE: &str = "jwt-secret";
/// The file in the node's home that lists refresh tokens already used (`<jti> <exp>` per line),
/// so that a refresh token stays single-use across restarts.
pub const USED_REFRESH_FILE: &str = "jwt-used-refresh";
/// How long an access token is valid by default, in seconds.
pub const DEFAULT_ACCESS_LIFETIME_SECS: u64 = 3600;
/// How long a refresh token is valid by default, in seconds (30 days).
pub const DEFAULT_REFRESH_LIFETIME_SECS: u64 = 30 * 24 * 3600;
/// The `iss` claim of every token this node issues.
pub const ISSUER: &str = "merod";
/// The `aud` claim of every token this node issues.
pub const AUDIENCE: &str = "calimero-node-api";
/// The `sub` of tokens minted with the static admin token.
pub const ADMIN_TOKEN_SUBJECT: &str = "admin-token";

/// A permission a token carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Everything.
    Admin,
    /// Read-only: GET admin routes, `sync_status`, and `execute` of methods the app's ABI marks
    /// read-only.
    Read,
}

impl Permission {
    /// Every permission a token may be issued with, as written in tokens and requests.
    pub const ALL: [&'static str; 2] = ["admin", "read"];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Admin => "admin",
            Permission::Read => "read",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Permission::Admin),
            "read" => Some(Permission::Read),
            _ => None,
        }
    }
}

/// Whether a token is for calling the API or for getting a new pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// The claims of this node's tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    pub permissions: Vec<String>,
    pub token_type: TokenType,
}

/// What an authenticated request may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Who: [`ADMIN_TOKEN_SUBJECT`] for the static token, else the token's `sub`.
    pub subject: String,
    /// The known permissions it carries (unknown ones are dropped).
    pub permissions: Vec<Permission>,
}

impl Grant {
    /// The grant of the static admin token, and of every request when authentication is off.
    pub fn admin(subject: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            permissions: vec![Permission::Admin],
        }
    }

    pub fn is_admin(&self) -> bool {
        self.permissions.contains(&Permission::Admin)
    }

    /// May read (GET routes, read-only methods).
    pub fn can_read(&self) -> bool {
        self.is_admin() || self.permissions.contains(&Permission::Read)
    }

    /// The permissions, for messages: `admin`, `read`, or `none`.
    pub fn describe(&self) -> String {
        if self.permissions.is_empty() {
            return "none".into();
        }
        let names: Vec<&str> = self.permissions.iter().map(|p| p.as_str()).collect();
        names.join(", ")
    }
}

/// Why a credential was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No credential at all.
    Missing,
    /// A well-signed access token past its `exp`: refreshing helps.
    Expired,
    /// Anything else: wrong static token, bad signature, malformed, wrong type, reused refresh
    /// token, expired refresh token. The message says what to do.
    Invalid(String),
    /// The node could not record a used refresh token.
    Internal(String),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Missing => f.write_str("no credential"),
            AuthError::Expired => f.write_str("the access token expired"),
            AuthError::Invalid(message) | AuthError::Internal(message) => f.write_str(message),
        }
    }
}

/// The node's signing secret: 32 random bytes.
#[derive(Clone)]
pub struct Secret([u8; 32]);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A fresh random secret.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Where the secret of the node at `node_home` lives.
    pub fn path(node_home: &Path) -> PathBuf {
        node_home.join(SECRET_FILE)
    }

    /// Writes a new secret into `node_home` (replacing an existing one, which invalidates every
    /// token signed with it).
    pub fn create(node_home: &Path) -> Result<Self, String> {
        let secret = Self::generate();
        let path = Self::path(node_home);
        write_private(&path, format!("{}\n", hex(&secret.0)).as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(secret)
    }

    /// Reads the secret of the node at `node_home`.
    pub fn load(node_home: &Path) -> Result<Self, String> {
        let path = Self::path(node_home);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let bytes = unhex(text.trim()).filter(|b| b.len() == 32).ok_or_else(|| {
            format!(
                "{} must hold 64 hex digits; delete it to have a new secret made (every token issued so far stops working)",
                path.display()
            )
        })?;
        restrict_permissions(&path);
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&bytes);
        Ok(Self(secret))
    }

    /// Reads the secret, making one first if the node has none (a node made before JWTs).
    pub fn load_or_create(node_home: &Path) -> Result<Self, String> {
        if Self::path(node_home).exists() {
            Self::load(node_home)
        } else {
            Self::create(node_home)
        }
    }
}

/// Signs `claims` with `secret` as an HS256 JWT. Tools and tests use it to make tokens the node
/// accepts; the node itself goes through [`Jwt`].
pub fn sign(secret: &Secret, claims: &Claims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(&secret.0),
    )
    .expect("HS256 signing of serializable claims cannot fail")
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An access token and the refresh token that renews it. The field names are those the Calimero
/// client libraries read (`access_token`, `refresh_token`).
#[derive(Clone, Debug, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds the access token is valid for.
    pub expires_in: u64,
}

/// Issues and checks this node's JWTs, and remembers which refresh tokens were used.
pub struct Jwt {
    secret: Secret,
    access_lifetime: u64,
    refresh_lifetime: u64,
    used: Mutex<UsedRefreshTokens>,
}

impl fmt::Debug for Jwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwt")
            .field("access_lifetime", &self.access_lifetime)
            .field("refresh_lifetime", &self.refresh_lifetime)
            .finish_non_exhaustive()
    }
}

impl Jwt {
    /// Tokens signed with `secret`, valid for the given lifetimes (seconds, at least 1); used
    /// refresh tokens are recorded in `used_file` if given, else only in memory.
    pub fn new(
        secret: Secret,
        access_lifetime: u64,
        refresh_lifetime: u64,
        used_file: Option<PathBuf>,
    ) -> Self {
        Self {
            secret,
            access_lifetime: access_lifetime.max(1),
            refresh_lifetime: refresh_lifetime.max(1),
            used: Mutex::new(UsedRefreshTokens::load(used_file)),
        }
    }

    /// The node at `node_home`: its secret (made if missing) and its used-refresh-token file.
    pub fn for_node(
        node_home: &Path,
        access_lifetime: Option<u64>,
        refresh_lifetime: Option<u64>,
    ) -> Result<Self, String> {
        Ok(Self::new(
            Secret::load_or_create(node_home)?,
            access_lifetime.unwrap_or(DEFAULT_ACCESS_LIFETIME_SECS),
            refresh_lifetime.unwrap_or(DEFAULT_REFRESH_LIFETIME_SECS),
            Some(node_home.join(USED_REFRESH_FILE)),
        ))
    }

    /// A new access and refresh token for `subject` with `permissions`.
    pub fn issue(&self, subject: &str, permissions: &[Permission]) -> TokenPair {
        let now = now_secs();
        let permissions: Vec<String> = permissions.iter().map(|p| p.as_str().into()).collect();
        let claims = |token_type, lifetime: u64| Claims {
            sub: subject.to_owned(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            exp: now.saturating_add(lifetime),
            iat: now,
            jti: random_id(),
            permissions: permissions.clone(),
            token_type,
        };
        TokenPair {
            access_token: sign(
                &self.secret,
                &claims(TokenType::Access, self.access_lifetime),
            ),
            refresh_token: sign(
                &self.secret,
                &claims(TokenType::Refresh, self.refresh_lifetime),
            ),
            expires_in: self.access_lifetime,
        }
    }

    /// The claims of `token` if this node signed it and, when `check_expiry`, it has not expired.
    fn decode(&self, token: &str, check_expiry: bool) -> Result<Claims, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = check_expiry;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let key = DecodingKey::from_secret(&self.secret.0);
        // The signature is checked (in constant time) before any claim, so `ExpiredSignature`
        // only ever reports a token this node really issued.
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::Invalid(
                    "the token's signature does not match: it was not issued by this node (or the node's jwt-secret changed)".into(),
                ),
                ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                    AuthError::Invalid("the token was not issued for this node's API".into())
                }
                ErrorKind::InvalidAlgorithm => {
                    AuthError::Invalid("the token is not signed with HS256".into())
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::Invalid(format!("the token has no `{claim}` claim"))
                }
                _ => AuthError::Invalid("the token is not a well-formed JWT of this node".into()),
            })
    }

    /// The grant of an access token.
    pub fn verify_access(&self, token: &str) -> Result<Grant, AuthError> {
        let claims = self.decode(token, true)?;
        if claims.token_type != TokenType::Access {
            return Err(AuthError::Invalid(
                "this is a refresh token; exchange it at POST /admin-api/refresh-jwt-token for an access token".into(),
            ));
        }
        Ok(grant_of(&claims))
    }

    /// Exchanges a refresh token (single use) for a new pair with the same subject and
    /// permissions. `access_token`, if given, must be an access token of the same subject that
    /// this node signed (it may have expired).
    pub fn refresh(
        &self,
        refresh_token: &str,
        access_token: Option<&str>,
    ) -> Result<TokenPair, AuthError> {
        let claims = match self.decode(refresh_token, true) {
            Ok(claims) => claims,
            Err(AuthError::Expired) => {
                return Err(AuthError::Invalid(
                    "the refresh token expired; mint a new pair with POST /admin-api/token".into(),
                ));
            }
            Err(error) => return Err(error),
        };
        if claims.token_type != TokenType::Refresh {
            return Err(AuthError::Invalid(
                "this is an access token; send the refresh token that came with it".into(),
            ));
        }
        if let Some(access) = access_token {
            let access = self.decode(access, false)?;
            if access.token_type != TokenType::Access || access.sub != claims.sub {
                return Err(AuthError::Invalid(
                    "the access token does not belong with this refresh token".into(),
                ));
            }
        }
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .mark(&claims.jti, claims.exp)?;
        let grant = grant_of(&claims);
        Ok(self.issue(&claims.sub, &grant.permissions))
    }
}

fn grant_of(claims: &Claims) -> Grant {
    let mut permissions = Vec::new();
    for permission in claims
        .permissions
        .iter()
        .filter_map(|p| Permission::parse(p))
    {
        if !permissions.contains(&permission) {
            permissions.push(permission);
        }
    }
    Grant {
        subject: claims.sub.clone(),
        permissions,
    }
}

/// The `jti` of refresh tokens already exchanged, each kept until its token expires.
struct UsedRefreshTokens {
    used: HashMap<String, u64>,
    file: Option<PathBuf>,
}

impl UsedRefreshTokens {
    fn load(file: Option<PathBuf>) -> Self {
        let now = now_secs();
        let mut used = HashMap::new();
        if let Some(text) = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()) {
            for line in text.lines() {
                let mut words = line.split_whitespace();
                if let (Some(jti), Some(Ok(exp))) = (words.next(), words.next().map(str::parse))
                    && exp >= now
                {
                    used.insert(jti.to_owned(), exp);
                }
            }
        }
        Self { used, file }
    }

    /// Records `jti` as used, or refuses it if it already was.
    fn mark(&mut self, jti: &str, exp: u64) -> Result<(), AuthError> {
        let now = now_secs();
        self.used.retain(|_, &mut until| until >= now);
        if self.used.contains_key(jti) {
            return Err(AuthError::Invalid(
                "this refresh token was already used; each refresh token works once (use the newest one, or mint a new pair with POST /admin-api/token)".into(),
            ));
        }
        self.used.insert(jti.to_owned(), exp);
        if let Some(file) = &self.file {
            let mut text = String::new();
            for (jti, exp) in &self.used {
                text.push_str(&format!("{jti} {exp}\n"));
            }
            if let Err(e) = write_private(file, text.as_bytes()) {
                self.used.remove(jti);
                return Err(AuthError::Internal(format!(
                    "cannot record the used refresh token in {}: {e}",
                    file.display()
                )));
            }
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file created with mode 0600, then renames it
/// into place, so the file is never readable by others nor seen half-written.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)
}

/// Makes a secret file private again if someone loosened its mode.
fn restrict_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How the server authenticates: the static admin token, and JWTs if enabled.
#[derive(Debug)]
pub struct Authenticator {
    admin_token: String,
    jwt: Option<std::sync::Arc<Jwt>>,
}

impl Authenticator {
    /// Accepts `admin_token` (full admin) and, with `jwt`, this node's access tokens.
    pub fn new(admin_token: String, jwt: Option<Jwt>) -> Self {
        Self {
            admin_token,
            jwt: jwt.map(std::sync::Arc::new),
        }
    }

    /// The JWT issuer, if JWTs are enabled.
    pub fn jwt(&self) -> Option<&std::sync::Arc<Jwt>> {
        self.jwt.as_ref()
    }

    /// What `token` (from a bearer header or `?token=`) may do.
    pub fn check(&self, token: &str) -> Result<Grant, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if constant_time_eq(token.as_bytes(), self.admin_token.as_bytes()) {
            return Ok(Grant::admin(ADMIN_TOKEN_SUBJECT));
        }
        match &self.jwt {
            Some(jwt) if token.split('.').count() == 3 => jwt.verify_access(token),
            _ => Err(AuthError::Invalid(
                "the bearer token is wrong; use the token in the node's config.toml (server.auth_token) or an access token from POST /admin-api/token".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt() -> Jwt {
        Jwt::new(Secret::generate(), 3600, 7200, None)
    }

    #[test]
    fn an_issued_access_token_verifies_with_its_permissions() {
        let jwt = jwt();
        let pair = jwt.issue("alice", &[Permission::Read]);
        let grant = jwt.verify_access(&pair.access_token).unwrap();
        assert_eq!(grant.subject, "alice");
        assert!(grant.can_read() && !grant.is_admin());
        assert_eq!(pair.expires_in, 3600);
    }

    #[test]
    fn a_refresh_token_is_not_an_access_token_and_the_reverse() {
        let jwt = jwt();
        let pair = jwt.issue("a", &[Permission::Admin]);
        assert!(matches!(
            jwt.verify_access(&pair.refresh_token),
            Err(AuthError::Invalid(m)) if m.contains("refresh token")
        ));
        assert!(matches!(
            jwt.refresh(&pair.access_token, None),
            Err(AuthError::Invalid(m)) if m.contains("access token")
        ));
    }

    #[test]
    fn a_refresh_token_works_once() {
        let jwt = jwt();
        let pair = jwt.issue("a", &[Permission::Read]);
        let next = jwt
            .refresh(&pair.refresh_token, Some(&pair.access_token))
            .unwrap();
        assert_eq!(
            jwt.verify_access(&next.access_token).unwrap().permissions,
            vec![Permission::Read]
        );
        assert!(matches!(
            jwt.refresh(&pair.refresh_token, None),
            Err(AuthError::Invalid(m)) if m.contains("already used")
        ));
        jwt.refresh(&next.refresh_token, None).unwrap();
    }

    #[test]
    fn used_refresh_tokens_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::create(dir.path()).unwrap();
        let file = dir.path().join(USED_REFRESH_FILE);
        let first = Jwt::new(secret.clone(), 60, 60, Some(file.clone()));
        let pair = first.issue("a", &[Permission::Admin]);
        first.refresh(&pair.refresh_token, None).unwrap();
        let second = Jwt::new(Secret::load(dir.path()).unwrap(), 60, 60, Some(file));
        assert!(second.refresh(&pair.refresh_token, None).is_err());
    }

    #[test]
    fn expired_foreign_and_tampered_tokens() {
        let jwt = jwt();
        let now = now_secs();
        let claims = Claims {
            sub: "a".into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            exp: now - 10,
            iat: now - 100,
            jti: "x".into(),
            permissions: vec!["admin".into()],
            token_type: TokenType::Access,
        };
        assert_eq!(
            jwt.verify_access(&sign(&jwt.secret, &claims)),
            Err(AuthError::Expired)
        );
        // An expired token signed by another secret is invalid, not expired.
        let foreign = sign(&Secret::generate(), &claims);
        assert!(matches!(
            jwt.verify_access(&foreign),
            Err(AuthError::Invalid(_))
        ));
        let fresh = jwt.issue("a", &[Permission::Read]).access_token;
        let mut parts: Vec<&str> = fresh.split('.').collect();
        let admin_payload = sign(
            &Secret::generate(),
            &Claims {
                exp: now + 100,
                ..claims.clone()
            },
        );
        parts[1] = admin_payload.split('.').nth(1).unwrap();
        assert!(matches!(
            jwt.verify_access(&parts.join(".")),
            Err(AuthError::Invalid(_))
        ));
        let wrong_audience = sign(
            &jwt.secret,
            &Claims {
                exp: now + 100,
                aud: "elsewhere".into(),
                ..claims
            },
        );
        assert!(matches!(
            jwt.verify_access(&wrong_audience),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn the_static_token_and_unknown_tokens() {
        let auth = Authenticator::new("s3cret".into(), Some(jwt()));
        assert!(auth.check("s3cret").unwrap().is_admin());
        assert!(matches!(auth.check("nope"), Err(AuthError::Invalid(m)) if m.contains("wrong")));
        assert!(matches!(auth.check("a.b.c"), Err(AuthError::Invalid(_))));
        assert_eq!(auth.check(""), Err(AuthError::Missing));
    }

    #[test]
    fn the_secret_file_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let made = Secret::create(dir.path()).unwrap();
        assert_eq!(Secret::load_or_create(dir.path()).unwrap().0, made.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(Secret::path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(Secret::path(dir.path()), "zz").unwrap();
        assert!(Secret::load(dir.path()).is_err());
    }
}
