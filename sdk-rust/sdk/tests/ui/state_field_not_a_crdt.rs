use calimero_sdk::app;
use calimero_sdk::storage::collections::UnorderedMap;

#[app::state]
pub struct Notes {
    title: String,
    tags: Vec<String>,
    items: UnorderedMap<String, String>,
}

fn main() {}
