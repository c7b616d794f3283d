use calimero_sdk::app;
use calimero_sdk::borsh::{BorshDeserialize, BorshSerialize};
use calimero_sdk::storage::collections::{LwwRegister, UnorderedMap};

#[derive(BorshSerialize, BorshDeserialize, app::Mergeable)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct Profile {
    name: LwwRegister<String>,
    age: u32,
}

#[app::state]
pub struct Directory {
    people: UnorderedMap<String, Profile>,
}

fn main() {}
