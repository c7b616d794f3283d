use calimero_sdk::app;

#[derive(calimero_sdk::borsh::BorshSerialize, calimero_sdk::borsh::BorshDeserialize)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct Profile {
    name: String,
}

#[app::state]
pub struct Users {
    owner: Profile,
}

fn main() {}
