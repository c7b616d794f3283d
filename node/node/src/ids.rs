//! Ids as clients see them: base58 strings.

/// Base58 text of a 32-byte id.
pub fn encode(id: &[u8; 32]) -> String {
    bs58::encode(id).into_string()
}

/// Parses a base58 32-byte id; `what` names it in the error.
pub fn decode(text: &str, what: &str) -> Result<[u8; 32], String> {
    let bytes = bs58::decode(text)
        .into_vec()
        .map_err(|e| format!("{what} `{text}` is not valid base58: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{what} `{text}` decodes to {} bytes; expected 32", b.len()))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
