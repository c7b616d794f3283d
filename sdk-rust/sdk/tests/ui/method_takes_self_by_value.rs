use calimero_sdk::app;
use calimero_sdk::storage::collections::Counter;

#[app::state]
pub struct App {
    count: Counter,
}

#[app::logic]
impl App {
    #[app::init]
    pub fn init() -> App {
        App { count: Counter::new() }
    }

    pub fn consume(self) -> u64 {
        0
    }
}

fn main() {}
