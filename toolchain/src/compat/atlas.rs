//! Names storage keys and decodes their values for a person, from a store's own index records
//! and the module's ABI: `todos["a"]` rather than `0x3f9a…`, `{title: "x", due: 42}` rather than
//! Borsh bytes.
//!
//! A storage key is `SHA-256(tag ‖ entity id)`, so it cannot be read backwards; but every index
//! record holds its entity's id and parent, which is enough to rebuild the tree, and the ids of
//! state fields, map entries and nested collections are derived from names the ABI and the data
//! carry. Whatever cannot be named or decoded is shown as hex, never guessed.

use std::collections::BTreeMap;

use borsh::BorshDeserialize;
use calimero_storage::address::{Id, Key};
use calimero_storage::entities::{CrdtType, EntityIndex};
use serde_json::Value;

/// What a storage key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Index,
    Data,
    Watermark,
}

/// The entities of one store, by id, and which key belongs to which entity.
pub struct Atlas<'a> {
    abi: Option<&'a Value>,
    context: Id,
    indexes: BTreeMap<Id, EntityIndex>,
    keys: BTreeMap<[u8; 32], (Part, Id)>,
}

/// What the atlas knows of an entity: its name and the ABI type of its data, if any.
struct Entity {
    name: String,
    data: DataShape,
}

/// How an entity's data is laid out.
enum DataShape {
    /// Raw bytes (unknown layout).
    Unknown,
    /// The app state: the root record, then its own id.
    State(Value),
    /// A collection entity: its own id.
    OwnId,
    /// A map entry: `key ‖ value ‖ id`.
    Entry(Value, Value),
    /// A set or vector element: `item ‖ id`.
    Item(Value),
    /// A counter slot: the device's total.
    Slot,
}

impl<'a> Atlas<'a> {
    /// Reads the index records of `store` (one side of a compat run) with that side's `abi`.
    pub fn new(
        store: &BTreeMap<Vec<u8>, Vec<u8>>,
        abi: Option<&'a Value>,
        context: [u8; 32],
    ) -> Self {
        let mut indexes = BTreeMap::new();
        let mut keys = BTreeMap::new();
        for (key, value) in store {
            let Ok(index) = EntityIndex::try_from_slice(value) else {
                continue;
            };
            if Key::Index(index.id).to_bytes().as_slice() != key.as_slice() {
                continue;
            }
            let id = index.id;
            keys.insert(Key::Index(id).to_bytes(), (Part::Index, id));
            keys.insert(Key::Entry(id).to_bytes(), (Part::Data, id));
            keys.insert(Key::SyncState(id).to_bytes(), (Part::Watermark, id));
            indexes.insert(id, index);
        }
        Self {
            abi,
            context: Id::new(context),
            indexes,
            keys,
        }
    }

    /// A person's name for storage key `key`, e.g. ``the data of `todos` element 1f2e3d…``.
    pub fn name(&self, key: &[u8]) -> Option<String> {
        let key: [u8; 32] = key.try_into().ok()?;
        let (part, id) = self.keys.get(&key)?;
        let entity = self.entity(*id, 0);
        Some(match part {
            Part::Index => format!("the index record of {}", entity.name),
            Part::Data => format!("the data of {}", entity.name),
            Part::Watermark => format!("the deletion watermark of {}", entity.name),
        })
    }

    /// The value under `key` decoded as far as the ABI allows (`None`: show the raw bytes).
    pub fn decode(&self, key: &[u8], value: &[u8]) -> Option<String> {
        let key: [u8; 32] = key.try_into().ok()?;
        let (part, id) = self.keys.get(&key)?;
        match part {
            Part::Data => {}
            Part::Index => return Some(format!("{:?}", EntityIndex::try_from_slice(value).ok()?)),
            Part::Watermark => return None,
        }
        let mut reader = Reader(value);
        let text = match self.entity(*id, 0).data {
            DataShape::Unknown => return None,
            DataShape::State(ty) => self.read(&ty, &mut reader, 0)?,
            DataShape::OwnId => {
                reader.take(32)?;
                "(the collection's own id)".to_owned()
            }
            DataShape::Entry(k, v) => {
                let key = self.read(&k, &mut reader, 0)?;
                let value = self.read(&v, &mut reader, 0)?;
                format!("{key} => {value}")
            }
            DataShape::Item(ty) => self.read(&ty, &mut reader, 0)?,
            DataShape::Slot => u64::try_from_slice(reader.take(8)?).ok()?.to_string(),
        };
        // Elements end with their own id; the state with its own id too.
        if !matches!(self.entity(*id, 0).data, DataShape::Slot | DataShape::OwnId) {
            reader.take(32)?;
        }
        reader.0.is_empty().then_some(text)
    }

    fn resolve(&self, ty: &Value) -> Value {
        match (ty["$ref"].as_str(), self.abi) {
            (Some(name), Some(abi)) => abi["types"][name].clone(),
            _ => ty.clone(),
        }
    }

    fn entity(&self, id: Id, depth: usize) -> Entity {
        let unknown = |name: String| Entity {
            name,
            data: DataShape::Unknown,
        };
        let short = |id: Id| format!("{id:?}");
        if id == self.context {
            return unknown("the context root".into());
        }
        let Some(abi) = self.abi else {
            return unknown(format!("entity {}", short(id)));
        };
        let state = self.resolve(&serde_json::json!({"$ref": abi["state_root"]}));
        if id == Id::ROOT_ENTRY {
            return Entity {
                name: "the app state".into(),
                data: DataShape::State(state),
            };
        }
        let Some(index) = self.indexes.get(&id) else {
            return unknown(format!("entity {}", short(id)));
        };
        if depth > 16 {
            return unknown(format!("entity {}", short(id)));
        }
        let tag = match &index.metadata.crdt_type {
            Some(CrdtType::Custom(name)) => Some(name.as_str()),
            _ => None,
        };
        // A state field: its id is derived from its name.
        if index.parent_id == Some(self.context)
            && let Some(field) = index.metadata.field_name.as_deref()
        {
            return Entity {
                name: format!("`{field}`"),
                data: DataShape::OwnId,
            };
        }
        let Some(parent) = index.parent_id else {
            return unknown(format!("entity {}", short(id)));
        };
        if tag == Some("bucket") {
            return unknown(format!(
                "a bucket of {}",
                self.entity(parent, depth + 1).name
            ));
        }
        // Elements hang under two levels of buckets of their collection.
        let collection = self
            .indexes
            .get(&parent)
            .and_then(|bucket| bucket.parent_id)
            .and_then(|upper| self.indexes.get(&upper))
            .and_then(|upper| upper.parent_id);
        let is_bucket = |id: Id| {
            self.indexes.get(&id).is_some_and(
                |i| matches!(&i.metadata.crdt_type, Some(CrdtType::Custom(n)) if n == "bucket"),
            )
        };
        if is_bucket(parent)
            && let Some(collection) = collection
        {
            let owner = self.entity(collection, depth + 1).name;
            let ty = self.collection_type(collection, depth + 1);
            if tag == Some("counter_slot") || index.metadata.field_name.is_some() {
                let sign = index.metadata.field_name.as_deref().unwrap_or("+");
                return Entity {
                    name: format!("{owner} slot {sign} {}", short(id)),
                    data: DataShape::Slot,
                };
            }
            let data = match &ty {
                Some(ty) if ty["kind"] == "map" => {
                    DataShape::Entry(ty["key"].clone(), ty["value"].clone())
                }
                Some(ty) if ty["kind"] == "list" => DataShape::Item(ty["items"].clone()),
                _ => DataShape::Unknown,
            };
            return Entity {
                name: format!("{owner} element {}", short(id)),
                data,
            };
        }
        // A collection nested in an element's value: its id is the element's and its position.
        if let Some(n) = (0..64).find(|n| Id::collection(Some(parent), &n.to_string()) == id) {
            return Entity {
                name: format!("collection {n} in {}", self.entity(parent, depth + 1).name),
                data: DataShape::OwnId,
            };
        }
        unknown(format!("entity {}", short(id)))
    }

    /// The ABI type of collection `id`: a state field's, or the `n`th collection inside an
    /// element's value.
    fn collection_type(&self, id: Id, depth: usize) -> Option<Value> {
        let abi = self.abi?;
        let index = self.indexes.get(&id)?;
        if index.parent_id == Some(self.context) {
            let field = index.metadata.field_name.as_deref()?;
            let state = self.resolve(&serde_json::json!({"$ref": abi["state_root"]}));
            let found = state["fields"]
                .as_array()?
                .iter()
                .find(|f| f["name"] == field)?;
            return Some(self.resolve(&found["type"]));
        }
        if depth > 16 {
            return None;
        }
        let element = index.parent_id?;
        let n = (0..64).find(|n| Id::collection(Some(element), &n.to_string()) == id)?;
        // The element's value type: from its own collection.
        let bucket = self.indexes.get(&element)?.parent_id?;
        let upper = self.indexes.get(&bucket)?.parent_id?;
        let owner = self.indexes.get(&upper)?.parent_id?;
        let owner_type = self.collection_type(owner, depth + 1)?;
        let value_type = match owner_type["kind"].as_str()? {
            "map" => owner_type["value"].clone(),
            _ => owner_type["items"].clone(),
        };
        let mut found = Vec::new();
        self.collections_in(&value_type, &mut found, 0);
        found.into_iter().nth(n)
    }

    /// The collection types inside `ty`, in the order Borsh writes them.
    fn collections_in(&self, ty: &Value, out: &mut Vec<Value>, depth: usize) {
        let ty = self.resolve(ty);
        if depth > 8 {
            return;
        }
        if ty.get("crdt_type").is_some() && ty["crdt_type"] != "lww_register" {
            out.push(ty);
            return;
        }
        match ty["kind"].as_str() {
            Some("record") if ty["crdt_type"] == "lww_register" => {
                self.collections_in(&ty["inner_type"], out, depth + 1);
            }
            Some("record") => {
                for field in ty["fields"].as_array().into_iter().flatten() {
                    self.collections_in(&field["type"], out, depth + 1);
                }
            }
            Some("tuple") => {
                for element in ty["elements"].as_array().into_iter().flatten() {
                    self.collections_in(element, out, depth + 1);
                }
            }
            _ => {}
        }
    }

    /// Reads one value of ABI type `ty` as text (`None`: the bytes do not fit the type).
    fn read(&self, ty: &Value, r: &mut Reader, depth: usize) -> Option<String> {
        if depth > 32 {
            return None;
        }
        if ty["nullable"] == true {
            let mut inner = ty.clone();
            inner.as_object_mut()?.remove("nullable");
            return match r.take(1)?[0] {
                0 => Some("null".into()),
                1 => self.read(&inner, r, depth + 1),
                _ => None,
            };
        }
        let ty = self.resolve(ty);
        let int = |r: &mut Reader, n: usize| r.take(n).map(|b| b.to_vec());
        if ty.get("crdt_type").is_some() {
            return match ty["crdt_type"].as_str()? {
                "lww_register" => {
                    let value = self.read(&ty["inner_type"], r, depth + 1)?;
                    r.take(24 + 32)?; // the stamp and the writing device
                    Some(value)
                }
                kind => {
                    r.take(32)?;
                    Some(format!("({kind})"))
                }
            };
        }
        Some(match ty["kind"].as_str()? {
            "unit" => "()".into(),
            "bool" => match r.take(1)?[0] {
                0 => "false".into(),
                1 => "true".into(),
                _ => return None,
            },
            "u32" => u32::from_le_bytes(int(r, 4)?.try_into().ok()?).to_string(),
            "i32" => i32::from_le_bytes(int(r, 4)?.try_into().ok()?).to_string(),
            "u64" => u64::from_le_bytes(int(r, 8)?.try_into().ok()?).to_string(),
            "i64" => i64::from_le_bytes(int(r, 8)?.try_into().ok()?).to_string(),
            "u128" => u128::from_le_bytes(int(r, 16)?.try_into().ok()?).to_string(),
            "i128" => i128::from_le_bytes(int(r, 16)?.try_into().ok()?).to_string(),
            "f32" => format!("{:?}", f32::from_le_bytes(int(r, 4)?.try_into().ok()?)),
            "f64" => format!("{:?}", f64::from_le_bytes(int(r, 8)?.try_into().ok()?)),
            "string" => {
                let n = r.length()?;
                format!("{:?}", std::str::from_utf8(r.take(n)?).ok()?)
            }
            "bytes" => {
                let n = match ty["size"].as_u64() {
                    Some(n) => n as usize,
                    None => r.length()?,
                };
                let bytes = r.take(n)?;
                format!(
                    "0x{}",
                    bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
                )
            }
            "list" => {
                let n = r.length()?;
                let items = (0..n)
                    .map(|_| self.read(&ty["items"], r, depth + 1))
                    .collect::<Option<Vec<_>>>()?;
                format!("[{}]", items.join(", "))
            }
            "map" => {
                let n = r.length()?;
                let entries = (0..n)
                    .map(|_| {
                        let k = self.read(&ty["key"], r, depth + 1)?;
                        let v = self.read(&ty["value"], r, depth + 1)?;
                        Some(format!("{k}: {v}"))
                    })
                    .collect::<Option<Vec<_>>>()?;
                format!("{{{}}}", entries.join(", "))
            }
            "tuple" => {
                let items = ty["elements"]
                    .as_array()?
                    .iter()
                    .map(|e| self.read(e, r, depth + 1))
                    .collect::<Option<Vec<_>>>()?;
                format!("({})", items.join(", "))
            }
            "record" => {
                let fields = ty["fields"]
                    .as_array()?
                    .iter()
                    .map(|f| {
                        let mut field_type = f["type"].clone();
                        if f["nullable"] == true {
                            field_type["nullable"] = Value::Bool(true);
                        }
                        let v = self.read(&field_type, r, depth + 1)?;
                        Some(format!("{}: {v}", f["name"].as_str()?))
                    })
                    .collect::<Option<Vec<_>>>()?;
                format!("{{{}}}", fields.join(", "))
            }
            "variant" => {
                let tag = r.take(1)?[0] as usize;
                let variant = ty["variants"].as_array()?.get(tag)?;
                let name = variant["name"].as_str()?;
                match variant.get("payload") {
                    None => name.to_owned(),
                    Some(payload) => format!("{name}({})", self.read(payload, r, depth + 1)?),
                }
            }
            _ => return None,
        })
    }
}

/// Bytes being read front to back.
struct Reader<'b>(&'b [u8]);

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> Option<&'b [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    /// A Borsh `u32` length, refused when more than the bytes left could hold.
    fn length(&mut self) -> Option<usize> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize;
        (n <= self.0.len() * 8 + 8).then_some(n)
    }
}
