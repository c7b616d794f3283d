//! Calls generated from an ABI: every method but `init`, with arguments drawn from the
//! parameters' types by a seeded generator, so a run is reproduced by its seed.
//!
//! Values are chosen to make calls meet: strings come mostly from a small pool (so a later call
//! often reads, updates or removes what an earlier one wrote), integers include the edges where
//! JavaScript numbers stop being exact (2^53 + 1), collections stay short. `u32` in the ABI also
//! stands for `u8` and `u16`, so generated `u32` values stay below 256 to respect every twin.

use serde_json::{Map, Value, json};

use super::Step;

/// A small, fast, seedable generator (SplitMix64): no dependency, same sequence everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Strings calls share: empty, short keys, non-ASCII, one with JSON-escaped characters.
const STRINGS: &[&str] = &[
    "",
    "a",
    "b",
    "c",
    "key",
    "ü-ñ",
    "日本",
    "quote\"back\\slash",
    "a b",
];

/// Unsigned 64-bit values: small ones, and the first integers a JavaScript number cannot hold.
const U64_EDGES: &[u64] = &[0, 1, 255, 65_536, 4_294_967_296, 9_007_199_254_740_993];

/// Depth beyond which lists, maps and optional values are generated empty or null, so a
/// self-referencing type ends.
const MAX_DEPTH: usize = 4;

/// `calls` generated calls of the methods `abi` declares (all but `init`).
pub fn calls(abi: &Value, calls: usize, seed: u64) -> Vec<Step> {
    let methods: Vec<&Value> = abi["methods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["name"] != "init")
        .collect();
    if methods.is_empty() {
        return Vec::new();
    }
    let mut rng = Rng::new(seed);
    (0..calls)
        .map(|_| {
            let method = *rng.pick(&methods);
            let mut args = Map::new();
            for param in method["params"].as_array().into_iter().flatten() {
                let name = param["name"].as_str().unwrap_or_default().to_owned();
                let nullable = param["nullable"] == true;
                let value = if nullable && rng.one_in(4) {
                    Value::Null
                } else {
                    value(abi, &param["type"], &mut rng, 0)
                };
                args.insert(name, value);
            }
            Step {
                method: method["name"].as_str().unwrap_or_default().to_owned(),
                args: Value::Object(args),
                expect: None,
                caller: None,
                upgrade: None,
            }
        })
        .collect()
}

/// A value of ABI type `ty`.
pub fn value(abi: &Value, ty: &Value, rng: &mut Rng, depth: usize) -> Value {
    if ty["nullable"] == true && (depth >= MAX_DEPTH || rng.one_in(4)) {
        return Value::Null;
    }
    if let Some(name) = ty["$ref"].as_str() {
        return value(abi, &abi["types"][name], rng, depth + 1);
    }
    let length = |rng: &mut Rng| {
        if depth >= MAX_DEPTH {
            0
        } else {
            rng.below(4) as usize
        }
    };
    match ty["kind"].as_str().unwrap_or("unit") {
        "bool" => json!(rng.one_in(2)),
        "u32" => json!(rng.below(256)),
        "i32" => json!(rng.below(512) as i64 - 256),
        "u64" | "u128" => {
            if rng.one_in(3) {
                json!(*rng.pick(U64_EDGES))
            } else {
                json!(rng.below(1 << 40))
            }
        }
        "i64" | "i128" => {
            let magnitude = if rng.one_in(3) {
                *rng.pick(U64_EDGES) as i64
            } else {
                rng.below(1 << 40) as i64
            };
            json!(if rng.one_in(2) { -magnitude } else { magnitude })
        }
        // Dyadic fractions: exact in binary, printed alike by every JSON writer.
        "f32" | "f64" => json!(rng.below(4096) as f64 / 8.0 - 256.0),
        "string" => {
            if rng.one_in(5) {
                let n = 1 + rng.below(12);
                json!(
                    (0..n)
                        .map(|_| (b'a' + rng.below(26) as u8) as char)
                        .collect::<String>()
                )
            } else {
                json!(*rng.pick(STRINGS))
            }
        }
        "bytes" => {
            let n = ty["size"]
                .as_u64()
                .unwrap_or_else(|| length(rng) as u64 * 4);
            let bytes: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
            // Ids (`AccountId`, `PublicKey`, ...) cross JSON as text.
            match ty["encoding"].as_str() {
                Some("hex") => json!(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()),
                Some("base58") => json!(bs58::encode(&bytes).into_string()),
                _ => json!(bytes),
            }
        }
        "list" => {
            let n = length(rng);
            json!(
                (0..n)
                    .map(|_| value(abi, &ty["items"], rng, depth + 1))
                    .collect::<Vec<_>>()
            )
        }
        "map" => {
            let n = length(rng);
            let mut map = Map::new();
            for _ in 0..n {
                map.insert(
                    (*rng.pick(STRINGS)).to_owned(),
                    value(abi, &ty["value"], rng, depth + 1),
                );
            }
            Value::Object(map)
        }
        "tuple" => json!(
            ty["elements"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| value(abi, e, rng, depth + 1))
                .collect::<Vec<_>>()
        ),
        "record" => {
            if ty["crdt_type"] == "lww_register" {
                return value(abi, &ty["inner_type"], rng, depth + 1);
            }
            let mut map = Map::new();
            for field in ty["fields"].as_array().into_iter().flatten() {
                let name = field["name"].as_str().unwrap_or_default().to_owned();
                let v = if field["nullable"] == true && (depth >= MAX_DEPTH || rng.one_in(4)) {
                    Value::Null
                } else {
                    value(abi, &field["type"], rng, depth + 1)
                };
                map.insert(name, v);
            }
            Value::Object(map)
        }
        "variant" => {
            let variants = ty["variants"].as_array().cloned().unwrap_or_default();
            if variants.is_empty() {
                return Value::Null;
            }
            let variant = rng.pick(&variants);
            let name = variant["name"].as_str().unwrap_or_default();
            match variant.get("payload") {
                None => json!(name),
                Some(payload) => json!({ name: value(abi, payload, rng, depth + 1) }),
            }
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abi() -> Value {
        json!({
            "state_root": "S",
            "types": {
                "S": {"kind": "record", "fields": []},
                "Item": {"kind": "record", "fields": [
                    {"name": "title", "type": {"kind": "string"}},
                    {"name": "due", "type": {"kind": "u64"}, "nullable": true},
                    {"name": "next", "type": {"$ref": "Item"}, "nullable": true}
                ]}
            },
            "methods": [
                {"name": "init", "params": []},
                {"name": "add", "params": [
                    {"name": "item", "type": {"$ref": "Item"}},
                    {"name": "tags", "type": {"kind": "list", "items": {"kind": "string"}}}
                ]},
                {"name": "flip", "params": [{"name": "on", "type": {"kind": "bool"}}]}
            ]
        })
    }

    #[test]
    fn the_same_seed_gives_the_same_calls_and_another_seed_other_calls() {
        let abi = abi();
        let show = |steps: Vec<Step>| {
            steps
                .into_iter()
                .map(|s| format!("{} {}", s.method, s.args))
                .collect::<Vec<_>>()
        };
        assert_eq!(show(calls(&abi, 50, 9)), show(calls(&abi, 50, 9)));
        assert_ne!(show(calls(&abi, 50, 9)), show(calls(&abi, 50, 10)));
    }

    #[test]
    fn generated_arguments_have_the_parameters_types_and_init_is_never_called() {
        let abi = abi();
        let steps = calls(&abi, 300, 3);
        assert_eq!(steps.len(), 300);
        let mut seen = std::collections::BTreeSet::new();
        for step in &steps {
            seen.insert(step.method.clone());
            match step.method.as_str() {
                "add" => {
                    let item = &step.args["item"];
                    assert!(item["title"].is_string(), "{item}");
                    assert!(item["due"].is_null() || item["due"].is_u64(), "{item}");
                    assert!(step.args["tags"].as_array().unwrap().len() < 4);
                }
                "flip" => assert!(step.args["on"].is_boolean()),
                other => panic!("unexpected method {other}"),
            }
        }
        assert_eq!(seen.len(), 2, "both methods are called: {seen:?}");
    }

    #[test]
    fn self_referencing_types_end() {
        let abi = abi();
        let mut rng = Rng::new(1);
        for _ in 0..200 {
            let item = value(&abi, &json!({"$ref": "Item"}), &mut rng, 0);
            let mut depth = 0;
            let mut at = &item;
            while !at["next"].is_null() {
                at = &at["next"];
                depth += 1;
            }
            assert!(depth <= MAX_DEPTH, "{item}");
        }
    }
}
