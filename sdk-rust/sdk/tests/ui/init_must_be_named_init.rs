use calimero_sdk::app;
use calimero_sdk::storage::collections::Counter;

#[app::state]
pub struct App {
    count: Counter,
}

#[app::logic]
impl App {
    #[app::init]
    pub fn create() -> App {
        App { count: Counter::new() }
    }
}

fn main() {}
