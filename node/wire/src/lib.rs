//! What nodes send each other, and how each thing is checked before it is believed.
//!
//! - [`DeltaEnvelope`]: one committed change of a context, signed by the member that made it.
//!   Its body (the app's artifact and events, or a membership change) travels sealed with the
//!   context's key ([`ContextKey`]), which only members hold: a peer that subscribes to the
//!   context's topic without being a member sees ids, parents, authors and roots, never state.
//! - [`GossipMessage`]: what is published on a context's topic (deltas and heartbeats).
//! - [`SyncRequest`] / [`SyncResponse`]: the `/calimero/sync/1` request-response protocol
//!   (heads, deltas, snapshots, module chunks, joins).
//! - [`Invitation`]: a member's signed permission for someone to join, printable as one string.
//!
//! Everything is Borsh. Untrusted bytes are decoded with [`decode`], which refuses input above a
//! bound before looking at it; Borsh itself never pre-allocates more than the input can fill.

use borsh::{BorshDeserialize, BorshSerialize};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub use calimero_primitives::{
    ApplicationId, ContextId, DeltaId, Hash, IdError, PublicKey, Signature,
};

/// Signatures over delta envelopes start with this.
pub const DELTA_DOMAIN: &[u8] = b"calimero/delta/v1";
/// Signatures over invitations start with this.
pub const INVITATION_DOMAIN: &[u8] = b"calimero/invitation/v1";
/// A member's proof, in a sync request, that it is the one asking.
pub const SYNC_DOMAIN: &[u8] = b"calimero/sync/v1";
/// A joiner's proof that it holds the key it wants to join with.
pub const JOIN_DOMAIN: &[u8] = b"calimero/join/v1";

/// The largest gossip message a node accepts.
pub const MAX_GOSSIP_SIZE: usize = 1024 * 1024;
/// The largest sync request a node accepts.
pub const MAX_REQUEST_SIZE: usize = 1024 * 1024;
/// The largest sync response a node accepts.
pub const MAX_RESPONSE_SIZE: usize = 16 * 1024 * 1024;
/// The most parents a delta may name.
pub const MAX_PARENTS: usize = 256;
/// The largest sealed body of a delta.
pub const MAX_SEALED_SIZE: usize = MAX_GOSSIP_SIZE - 4096;
/// An invitation's text form is refused above this length.
pub const MAX_INVITATION_TEXT: usize = 8 * 1024;

/// Why bytes from a peer were not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("{what} is {size} bytes; the limit is {limit}")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("cannot decode {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("the delta's id does not match its parents and sealed body")]
    IdMismatch,
    #[error("bad signature on {0}")]
    BadSignature(&'static str),
    #[error("the delta names {0} parents; at most {MAX_PARENTS} are allowed")]
    TooManyParents(usize),
    #[error("the sealed body cannot be opened with this context's key")]
    CannotOpen,
    #[error("the invitation expired at {expired_at_ms} ms (now {now_ms} ms)")]
    Expired { expired_at_ms: u64, now_ms: u64 },
}

/// Decodes `bytes` as a `T`, refusing more than `limit` bytes and any trailing bytes.
pub fn decode<T: BorshDeserialize>(
    bytes: &[u8],
    limit: usize,
    what: &'static str,
) -> Result<T, WireError> {
    if bytes.len() > limit {
        return Err(WireError::TooLarge {
            what,
            size: bytes.len(),
            limit,
        });
    }
    borsh::from_slice(bytes).map_err(|e| WireError::Malformed {
        what,
        reason: e.to_string(),
    })
}

/// Borsh of a value made of plain data; encoding into a `Vec` cannot fail for these types.
pub fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing to a Vec is infallible, and every type here encodes without custom errors.
    value
        .serialize(&mut bytes)
        .expect("Borsh encoding into a Vec cannot fail");
    bytes
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn verify_signature(
    key: &PublicKey,
    message: &[u8],
    signature: &Signature,
    what: &'static str,
) -> Result<(), WireError> {
    let key =
        VerifyingKey::from_bytes(key.as_bytes()).map_err(|_| WireError::BadSignature(what))?;
    let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(message, &signature)
        .map_err(|_| WireError::BadSignature(what))
}

fn sign(key: &SigningKey, message: &[u8]) -> Signature {
    Signature(key.sign(message).to_bytes())
}

/// The public key of a signing key, as an id.
pub fn public_key(key: &SigningKey) -> PublicKey {
    PublicKey::new(key.verifying_key().to_bytes())
}

/// A context's symmetric key: seals delta bodies so that only members can read them.
#[derive(Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ContextKey(pub [u8; 32]);

impl std::fmt::Debug for ContextKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContextKey(..)")
    }
}

impl ContextKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = [0; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(key)
    }

    /// `nonce (12 bytes) ‖ ChaCha20-Poly1305(plaintext)`, bound to `context`.
    pub fn seal(&self, context: &ContextId, plaintext: &[u8]) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        // Encryption fails only for plaintexts beyond ChaCha20's 256 GiB counter range.
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("delta bodies are far below ChaCha20-Poly1305's size limit");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Opens what [`ContextKey::seal`] produced for `context`.
    pub fn open(&self, context: &ContextId, sealed: &[u8]) -> Result<Vec<u8>, WireError> {
        if sealed.len() < 12 {
            return Err(WireError::CannotOpen);
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| WireError::CannotOpen)
    }
}

/// An event an app emitted in the call that made a delta.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Event {
    pub kind: String,
    pub data: Vec<u8>,
    /// The method peers run when they apply the delta (`emit_with_handler`).
    pub handler: Option<String>,
}

/// What a delta does, sealed inside its envelope.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum DeltaBody {
    /// A committed call: the storage artifact peers apply with `__calimero_sync_next`.
    State {
        artifact: Vec<u8>,
        events: Vec<Event>,
    },
    /// `member` joins the context, admitted with `invitation` (signed by a member).
    AddMember {
        member: PublicKey,
        invitation: Box<Invitation>,
    },
    /// The context moves to `application`, a new version of its app: peers apply `artifact`
    /// (what the new version's migration wrote, empty if it has none) with the new module, then
    /// run it for everything after.
    Upgrade {
        application: ApplicationId,
        artifact: Vec<u8>,
        events: Vec<Event>,
    },
}

/// A signed delta: the unit of replication (the DAG's nodes).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DeltaEnvelope {
    pub context_id: ContextId,
    /// `SHA-256(parents in order ‖ sealed)`.
    pub id: DeltaId,
    pub parents: Vec<DeltaId>,
    /// The member that made the delta and signed it.
    pub author: PublicKey,
    /// The author's clock when it made the delta (nanoseconds since the epoch).
    pub hlc: u64,
    /// The [`DeltaBody`], sealed with the context key.
    pub sealed: Vec<u8>,
    /// The author's state root after this delta.
    pub root_hash: Hash,
    /// Ed25519 by `author` over [`DeltaEnvelope::signing_bytes`].
    pub signature: Signature,
}

#[derive(BorshSerialize)]
struct SignedDeltaFields<'a> {
    context_id: &'a ContextId,
    id: &'a DeltaId,
    parents: &'a [DeltaId],
    author: &'a PublicKey,
    hlc: u64,
    sealed: &'a [u8],
    root_hash: &'a Hash,
}

impl DeltaEnvelope {
    /// The id of a delta with these parents and sealed body.
    pub fn compute_id(parents: &[DeltaId], sealed: &[u8]) -> DeltaId {
        let mut hasher = Sha256::new();
        for parent in parents {
            hasher.update(parent.as_bytes());
        }
        hasher.update(sealed);
        DeltaId::new(hasher.finalize().into())
    }

    /// Seals `body` with `key`, computes the id and signs as `author`.
    pub fn create(
        context_id: ContextId,
        parents: Vec<DeltaId>,
        author: &SigningKey,
        hlc: u64,
        body: &DeltaBody,
        root_hash: Hash,
        key: &ContextKey,
    ) -> Self {
        let sealed = key.seal(&context_id, &encode(body));
        let id = Self::compute_id(&parents, &sealed);
        let mut delta = Self {
            context_id,
            id,
            parents,
            author: public_key(author),
            hlc,
            sealed,
            root_hash,
            signature: Signature([0; 64]),
        };
        delta.signature = sign(author, &delta.signing_bytes());
        delta
    }

    /// The domain string followed by the Borsh of every field but the signature.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = DELTA_DOMAIN.to_vec();
        bytes.extend(encode(&SignedDeltaFields {
            context_id: &self.context_id,
            id: &self.id,
            parents: &self.parents,
            author: &self.author,
            hlc: self.hlc,
            sealed: &self.sealed,
            root_hash: &self.root_hash,
        }));
        bytes
    }

    /// Checks what anyone can check: sizes, the id, and the author's signature.
    pub fn verify(&self) -> Result<(), WireError> {
        if self.parents.len() > MAX_PARENTS {
            return Err(WireError::TooManyParents(self.parents.len()));
        }
        if self.sealed.len() > MAX_SEALED_SIZE {
            return Err(WireError::TooLarge {
                what: "a delta's sealed body",
                size: self.sealed.len(),
                limit: MAX_SEALED_SIZE,
            });
        }
        if Self::compute_id(&self.parents, &self.sealed) != self.id {
            return Err(WireError::IdMismatch);
        }
        verify_signature(
            &self.author,
            &self.signing_bytes(),
            &self.signature,
            "a delta",
        )
    }

    /// Opens the body with the context key (members only).
    pub fn open(&self, key: &ContextKey) -> Result<DeltaBody, WireError> {
        let plaintext = key.open(&self.context_id, &self.sealed)?;
        decode(&plaintext, MAX_SEALED_SIZE, "a delta body")
    }
}

/// Published on a context's gossip topic.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum GossipMessage {
    Delta(DeltaEnvelope),
    /// A node's view of a context; a peer whose view differs starts a sync with the sender.
    Heartbeat {
        context_id: ContextId,
        root_hash: Hash,
        heads: Vec<DeltaId>,
        /// Makes each heartbeat distinct (gossip drops repeated identical messages).
        sent_at_ms: u64,
    },
}

/// The gossip topic of a context.
pub fn topic(context: &ContextId) -> String {
    format!("calimero/context/{context}")
}

/// A member's signature binding a sync request to the network identity that sends it, so a
/// captured request cannot be replayed from another peer.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MemberProof {
    pub member: PublicKey,
    pub signature: Signature,
}

impl MemberProof {
    fn message(context: &ContextId, peer: &str) -> Vec<u8> {
        let mut message = SYNC_DOMAIN.to_vec();
        message.extend_from_slice(context.as_bytes());
        message.extend_from_slice(peer.as_bytes());
        message
    }

    /// Signs as `member` of `context`, asking from network identity `peer` (its text form).
    pub fn sign(member: &SigningKey, context: &ContextId, peer: &str) -> Self {
        Self {
            member: public_key(member),
            signature: sign(member, &Self::message(context, peer)),
        }
    }

    /// Checks the proof for a request on `context` that arrived from `peer`.
    pub fn verify(&self, context: &ContextId, peer: &str) -> Result<(), WireError> {
        verify_signature(
            &self.member,
            &Self::message(context, peer),
            &self.signature,
            "a sync request",
        )
    }
}

/// A request of the `/calimero/sync/1` protocol.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncRequest {
    /// The responder's heads and root.
    Heads {
        context_id: ContextId,
        proof: MemberProof,
    },
    /// These deltas, by id.
    Deltas {
        context_id: ContextId,
        proof: MemberProof,
        ids: Vec<DeltaId>,
    },
    /// Deltas the asker lacks, given its heads: parents first, at most `limit`.
    DeltasSince {
        context_id: ContextId,
        proof: MemberProof,
        known_heads: Vec<DeltaId>,
        limit: u32,
    },
    /// A page of the responder's state entries, from `cursor` on.
    Snapshot {
        context_id: ContextId,
        proof: MemberProof,
        cursor: Option<Vec<u8>>,
    },
    /// A chunk of an application module used by the context.
    Blob {
        context_id: ContextId,
        proof: MemberProof,
        application_id: ApplicationId,
        offset: u64,
    },
    /// Join a context with an invitation, as `member` (which signs `proof`).
    Join {
        invitation: Invitation,
        member: PublicKey,
        proof: Signature,
    },
}

impl SyncRequest {
    /// The message a joiner signs: domain ‖ the invitation's signature ‖ its network identity.
    pub fn join_message(invitation: &Invitation, peer: &str) -> Vec<u8> {
        let mut message = JOIN_DOMAIN.to_vec();
        message.extend_from_slice(&invitation.signature.0);
        message.extend_from_slice(peer.as_bytes());
        message
    }

    /// A join request signed by `member`, sent from network identity `peer`.
    pub fn join(invitation: Invitation, member: &SigningKey, peer: &str) -> Self {
        let proof = sign(member, &Self::join_message(&invitation, peer));
        SyncRequest::Join {
            invitation,
            member: public_key(member),
            proof,
        }
    }

    /// Checks a join request's proof for the peer it came from.
    pub fn verify_join(
        invitation: &Invitation,
        member: &PublicKey,
        proof: &Signature,
        peer: &str,
    ) -> Result<(), WireError> {
        verify_signature(
            member,
            &Self::join_message(invitation, peer),
            proof,
            "a join request",
        )
    }

    /// The context the request is about.
    pub fn context_id(&self) -> &ContextId {
        match self {
            SyncRequest::Heads { context_id, .. }
            | SyncRequest::Deltas { context_id, .. }
            | SyncRequest::DeltasSince { context_id, .. }
            | SyncRequest::Snapshot { context_id, .. }
            | SyncRequest::Blob { context_id, .. } => context_id,
            SyncRequest::Join { invitation, .. } => &invitation.context_id,
        }
    }
}

/// One page of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SnapshotPage {
    /// The root and heads the whole snapshot belongs to; if they change between pages, the asker
    /// starts again.
    pub root_hash: Hash,
    /// The application the context runs at those heads (it changes with an upgrade).
    pub application: ApplicationId,
    pub heads: Vec<DeltaId>,
    /// `(key, value)` state entries in key order.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Vec<u8>>,
    /// On the last page: every delta the responder has applied (the asker counts them applied).
    pub applied: Vec<DeltaId>,
    /// On the last page: the context's members as the responder knows them.
    pub members: Vec<PublicKey>,
}

/// What a member sends back to an accepted joiner, over the encrypted connection between them.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct JoinAccepted {
    pub application_id: ApplicationId,
    pub context_key: ContextKey,
    /// The members, the joiner included.
    pub members: Vec<PublicKey>,
    /// The membership delta that admitted the joiner.
    pub membership: DeltaEnvelope,
}

/// A response of the `/calimero/sync/1` protocol.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncResponse {
    Heads {
        root_hash: Hash,
        heads: Vec<DeltaId>,
    },
    Deltas {
        deltas: Vec<DeltaEnvelope>,
        /// How many more the asker lacks after these.
        remaining: u64,
        /// Whether every head the asker named is applied here: the asker has nothing the
        /// responder lacks, so a snapshot would lose nothing.
        asker_behind: bool,
    },
    Snapshot(SnapshotPage),
    Blob {
        total: u64,
        chunk: Vec<u8>,
    },
    Joined(Box<JoinAccepted>),
    /// The request was understood and refused; the reason is for logs.
    Refused {
        reason: String,
    },
}

/// A member's signed permission to join a context.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Invitation {
    pub context_id: ContextId,
    pub application_id: ApplicationId,
    pub inviter: PublicKey,
    /// Only this key may join with it; `None` for an open invitation.
    pub invitee: Option<PublicKey>,
    pub expires_at_ms: u64,
    /// Network addresses of the inviter's node (multiaddrs ending in `/p2p/<peer id>`).
    pub addresses: Vec<String>,
    /// Makes two invitations with the same fields distinct.
    pub nonce: [u8; 16],
    pub signature: Signature,
}

#[derive(BorshSerialize)]
struct SignedInvitationFields<'a> {
    context_id: &'a ContextId,
    application_id: &'a ApplicationId,
    inviter: &'a PublicKey,
    invitee: &'a Option<PublicKey>,
    expires_at_ms: u64,
    addresses: &'a [String],
    nonce: &'a [u8; 16],
}

impl Invitation {
    /// A signed invitation from `inviter`.
    pub fn create(
        context_id: ContextId,
        application_id: ApplicationId,
        inviter: &SigningKey,
        invitee: Option<PublicKey>,
        expires_at_ms: u64,
        addresses: Vec<String>,
    ) -> Self {
        let mut nonce = [0; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut invitation = Self {
            context_id,
            application_id,
            inviter: public_key(inviter),
            invitee,
            expires_at_ms,
            addresses,
            nonce,
            signature: Signature([0; 64]),
        };
        invitation.signature = sign(inviter, &invitation.signing_bytes());
        invitation
    }

    fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = INVITATION_DOMAIN.to_vec();
        bytes.extend(encode(&SignedInvitationFields {
            context_id: &self.context_id,
            application_id: &self.application_id,
            inviter: &self.inviter,
            invitee: &self.invitee,
            expires_at_ms: self.expires_at_ms,
            addresses: &self.addresses,
            nonce: &self.nonce,
        }));
        bytes
    }

    /// Checks the inviter's signature and the expiry at `now_ms`.
    pub fn verify(&self, now_ms: u64) -> Result<(), WireError> {
        verify_signature(
            &self.inviter,
            &self.signing_bytes(),
            &self.signature,
            "an invitation",
        )?;
        if now_ms > self.expires_at_ms {
            return Err(WireError::Expired {
                expired_at_ms: self.expires_at_ms,
                now_ms,
            });
        }
        Ok(())
    }

    /// The one string a person pastes: base58 of the Borsh encoding.
    pub fn to_text(&self) -> String {
        bs58::encode(encode(self)).into_string()
    }

    /// Parses [`Invitation::to_text`] output (signature not checked here).
    pub fn from_text(text: &str) -> Result<Self, WireError> {
        let text = text.trim();
        if text.len() > MAX_INVITATION_TEXT {
            return Err(WireError::TooLarge {
                what: "the invitation",
                size: text.len(),
                limit: MAX_INVITATION_TEXT,
            });
        }
        let bytes = bs58::decode(text)
            .into_vec()
            .map_err(|e| WireError::Malformed {
                what: "the invitation",
                reason: format!(
                    "not base58 ({e}); paste the whole string `context invite` printed"
                ),
            })?;
        decode(&bytes, MAX_INVITATION_TEXT, "the invitation")
    }
}

/// A short hex prefix of a 32-byte value, for logs.
pub fn short(bytes: &[u8; 32]) -> String {
    bytes[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a module's bytes: its application id.
pub fn application_id(module: &[u8]) -> ApplicationId {
    ApplicationId::new(sha256(&[module]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn delta(key_seed: u8, body: &DeltaBody, context_key: &ContextKey) -> DeltaEnvelope {
        DeltaEnvelope::create(
            ContextId::new([7; 32]),
            vec![DeltaId::GENESIS],
            &key(key_seed),
            123,
            body,
            Hash::new([9; 32]),
            context_key,
        )
    }

    fn state_body() -> DeltaBody {
        DeltaBody::State {
            artifact: b"artifact bytes: the value is hunter2".to_vec(),
            events: vec![Event {
                kind: "Inserted".into(),
                data: b"{\"key\":\"k\"}".to_vec(),
                handler: Some("on_insert".into()),
            }],
        }
    }

    #[test]
    fn a_delta_round_trips_verifies_and_opens_only_with_its_key() {
        let context_key = ContextKey::generate();
        let envelope = delta(1, &state_body(), &context_key);
        envelope.verify().unwrap();
        let bytes = encode(&GossipMessage::Delta(envelope.clone()));
        let decoded: GossipMessage = decode(&bytes, MAX_GOSSIP_SIZE, "gossip").unwrap();
        assert_eq!(decoded, GossipMessage::Delta(envelope.clone()));
        assert_eq!(envelope.open(&context_key).unwrap(), state_body());
        assert_eq!(
            envelope.open(&ContextKey::generate()),
            Err(WireError::CannotOpen)
        );
        // The plaintext appears nowhere in what travels.
        assert!(!bytes.windows(7).any(|w| w == b"hunter2"));
        assert!(!bytes.windows(8).any(|w| w == b"Inserted"));
    }

    #[test]
    fn tampering_is_caught() {
        let context_key = ContextKey::generate();
        let good = delta(1, &state_body(), &context_key);

        let mut forged_body = good.clone();
        forged_body.sealed[20] ^= 1;
        assert_eq!(forged_body.verify(), Err(WireError::IdMismatch));

        let mut forged_id = forged_body.clone();
        forged_id.id = DeltaEnvelope::compute_id(&forged_id.parents, &forged_id.sealed);
        assert_eq!(forged_id.verify(), Err(WireError::BadSignature("a delta")));

        let mut other_author = good.clone();
        other_author.author = public_key(&key(2));
        assert_eq!(
            other_author.verify(),
            Err(WireError::BadSignature("a delta"))
        );

        let mut unsigned = good.clone();
        unsigned.signature = Signature([0; 64]);
        assert_eq!(unsigned.verify(), Err(WireError::BadSignature("a delta")));

        let mut moved = good;
        moved.context_id = ContextId::new([8; 32]);
        assert_eq!(moved.verify(), Err(WireError::BadSignature("a delta")));
        // A body sealed for one context does not open as another's.
        assert_eq!(moved.open(&context_key), Err(WireError::CannotOpen));
    }

    #[test]
    fn bounded_decoding_refuses_before_reading() {
        let big = vec![0u8; MAX_GOSSIP_SIZE + 1];
        assert!(matches!(
            decode::<GossipMessage>(&big, MAX_GOSSIP_SIZE, "gossip"),
            Err(WireError::TooLarge { .. })
        ));
        // A length prefix claiming 4 GiB of parents in a few bytes fails without allocating it.
        let mut claim = vec![0u8];
        claim.extend_from_slice(&[7; 64]);
        claim.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode::<GossipMessage>(&claim, MAX_GOSSIP_SIZE, "gossip"),
            Err(WireError::Malformed { .. })
        ));
        let mut trailing = encode(&GossipMessage::Heartbeat {
            context_id: ContextId::new([1; 32]),
            root_hash: Hash::ZERO,
            heads: vec![],
            sent_at_ms: 0,
        });
        trailing.push(0);
        assert!(matches!(
            decode::<GossipMessage>(&trailing, MAX_GOSSIP_SIZE, "gossip"),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn invitations_print_parse_and_check() {
        let invitation = Invitation::create(
            ContextId::new([1; 32]),
            ApplicationId::new([2; 32]),
            &key(3),
            Some(public_key(&key(4))),
            1_000,
            vec!["/ip4/127.0.0.1/tcp/1/p2p/x".into()],
        );
        let text = invitation.to_text();
        let parsed = Invitation::from_text(&format!("  {text}\n")).unwrap();
        assert_eq!(parsed, invitation);
        parsed.verify(999).unwrap();
        assert_eq!(
            parsed.verify(1_001),
            Err(WireError::Expired {
                expired_at_ms: 1_000,
                now_ms: 1_001
            })
        );
        let mut widened = parsed.clone();
        widened.invitee = None;
        assert_eq!(
            widened.verify(0),
            Err(WireError::BadSignature("an invitation"))
        );
        let error = Invitation::from_text("not an invitation!").unwrap_err();
        assert!(error.to_string().contains("not base58"), "{error}");
    }

    #[test]
    fn proofs_bind_the_member_to_the_asking_peer() {
        let context = ContextId::new([5; 32]);
        let proof = MemberProof::sign(&key(1), &context, "peer-a");
        proof.verify(&context, "peer-a").unwrap();
        assert!(proof.verify(&context, "peer-b").is_err());
        assert!(proof.verify(&ContextId::new([6; 32]), "peer-a").is_err());

        let invitation = Invitation::create(
            context,
            ApplicationId::new([2; 32]),
            &key(3),
            None,
            u64::MAX,
            vec![],
        );
        let SyncRequest::Join {
            invitation,
            member,
            proof,
        } = SyncRequest::join(invitation, &key(9), "peer-a")
        else {
            unreachable!()
        };
        SyncRequest::verify_join(&invitation, &member, &proof, "peer-a").unwrap();
        assert!(SyncRequest::verify_join(&invitation, &member, &proof, "peer-b").is_err());
    }
}
