//! {{name}}: a Calimero app. Every member of a context sees the same greetings, and every
//! member's visits count, whatever order their changes arrive in.

use calimero_sdk::app;
use calimero_storage::collections::{Counter, LwwRegister, UnorderedMap};

#[app::state(emits = Event)]
pub struct App {
    greetings: UnorderedMap<String, LwwRegister<String>>,
    visits: Counter,
}

#[app::event]
pub enum Event {
    Greeted { name: String },
}

#[app::logic]
impl App {
    #[app::init]
    pub fn init() -> App {
        App { greetings: UnorderedMap::new(), visits: Counter::new() }
    }

    /// Stores a greeting for `name` and counts a visit.
    pub fn greet(&mut self, name: String, message: String) -> app::Result<()> {
        if message.is_empty() {
            app::bail!("the greeting for {name} is empty");
        }
        app::emit!(Event::Greeted { name: name.clone() });
        self.greetings.insert(name, message.into())?;
        self.visits.increment()?;
        Ok(())
    }

    /// The greeting stored for `name`.
    pub fn greeting(&self, name: &str) -> app::Result<Option<String>> {
        Ok(self.greetings.get(name)?.map(|g| g.get().clone()))
    }

    /// How many greetings were stored, by everyone.
    pub fn visits(&self) -> app::Result<u64> {
        Ok(self.visits.value()?)
    }
}

#[cfg(test)]
mod tests {
    use calimero_sdk::testing::{CallError, TestApp};
    use serde_json::json;

    use super::App;

    #[test]
    fn greetings_are_stored_and_visits_counted() {
        let app = TestApp::<App>::new([1; 32]);
        app.init(json!({})).unwrap();
        app.call("greet", json!({"name": "ada", "message": "hello"})).unwrap();
        assert_eq!(app.last_events()[0].0, "Greeted");
        assert_eq!(app.call("greeting", json!({"name": "ada"})).unwrap(), json!("hello"));
        assert_eq!(app.call("visits", json!({})).unwrap(), json!(1));
        let error = app.call("greet", json!({"name": "bob", "message": ""})).unwrap_err();
        assert_eq!(error, CallError::App(json!("the greeting for bob is empty")));
    }
}
