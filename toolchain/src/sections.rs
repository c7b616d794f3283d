//! Rewriting a module's custom sections without touching anything else.

/// Reads a LEB128 u32 at `*at`.
fn leb(bytes: &[u8], at: &mut usize) -> Option<u32> {
    let mut result = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        result |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(result);
        }
    }
    None
}

fn write_leb(mut value: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A custom section named `name` with `payload`, encoded.
pub fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    write_leb(name.len() as u32, &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut section = vec![0u8];
    write_leb(body.len() as u32, &mut section);
    section.extend(body);
    section
}

/// `module` without the custom sections whose names `drop` returns true for.
pub fn remove_custom_sections(
    module: &[u8],
    drop: impl Fn(&str) -> bool,
) -> Result<Vec<u8>, String> {
    if module.get(..8) != Some(b"\0asm\x01\0\0\0") {
        return Err("not a WebAssembly module".into());
    }
    let mut out = module[..8].to_vec();
    let mut at = 8;
    while at < module.len() {
        let start = at;
        let id = module[at];
        at += 1;
        let size = leb(module, &mut at).ok_or("truncated section header")? as usize;
        let end = at
            .checked_add(size)
            .filter(|&e| e <= module.len())
            .ok_or("truncated section")?;
        let keep = if id == 0 {
            let mut inner = at;
            let len = leb(module, &mut inner).ok_or("truncated section name")? as usize;
            let name = std::str::from_utf8(
                module
                    .get(inner..inner + len)
                    .ok_or("truncated section name")?,
            )
            .map_err(|_| "section name is not UTF-8")?;
            !drop(name)
        } else {
            true
        };
        if keep {
            out.extend_from_slice(&module[start..end]);
        }
        at = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_removed_and_appended() {
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend(custom_section("keep", b"a"));
        module.extend(custom_section("drop", b"bb"));
        let mut trimmed = remove_custom_sections(&module, |n| n == "drop").unwrap();
        trimmed.extend(custom_section("new", b"ccc"));
        let names: Vec<String> = calimero_wasm_abi::custom_sections(&trimmed, "keep")
            .unwrap()
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        assert_eq!(names, ["a"]);
        assert!(
            calimero_wasm_abi::custom_sections(&trimmed, "drop")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            calimero_wasm_abi::custom_sections(&trimmed, "new").unwrap(),
            [b"ccc"]
        );
    }
}
