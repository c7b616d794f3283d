//! The app surface end to end on the native host: events with handlers, logs, errors built with
//! `err!`/`bail!`, read-only views, static methods, and Option/Vec/struct arguments.

use calimero_sdk::app;
use calimero_sdk::serde::{Deserialize, Serialize};
use calimero_sdk::storage::collections::{LwwRegister, Vector};
use calimero_sdk::testing::{CallError, TestApp};
use serde_json::json;

#[app::state(emits = Event)]
pub struct Board {
    posts: Vector<Post>,
    motd: LwwRegister<Option<String>>,
}

#[derive(
    Clone,
    Debug,
    Serialize,
    Deserialize,
    calimero_sdk::borsh::BorshSerialize,
    calimero_sdk::borsh::BorshDeserialize,
    app::Mergeable,
)]
#[serde(crate = "calimero_sdk::serde")]
#[borsh(crate = "calimero_sdk::borsh")]
#[mergeable(plain)]
pub struct Post {
    author: String,
    text: String,
    tags: Vec<String>,
}

#[app::event]
pub enum Event {
    Posted(u32),
    MotdChanged { motd: Option<String> },
}

#[app::logic]
impl Board {
    #[app::init]
    pub fn init(motd: Option<String>) -> Board {
        Board {
            posts: Vector::new(),
            motd: LwwRegister::new(motd),
        }
    }

    pub fn post(&mut self, post: Post) -> app::Result<u32> {
        if post.text.is_empty() {
            app::bail!("post by {} is empty", post.author);
        }
        self.posts.push(post)?;
        let count = self.posts.len()? as u32;
        app::emit!((Event::Posted(count), "on_posted"));
        app::log!("{count} posts");
        Ok(count)
    }

    pub fn set_motd(&mut self, motd: Option<String>) {
        app::emit!(Event::MotdChanged { motd: motd.clone() });
        self.motd.set(motd);
    }

    #[app::view]
    pub fn motd(&self) -> Option<String> {
        self.motd.get().clone()
    }

    pub fn posts(&self) -> app::Result<Vec<Post>> {
        Ok(self.posts.iter()?.collect())
    }

    pub fn limit(&self, index: u32) -> app::Result<Post> {
        self.posts
            .get(index as usize)?
            .ok_or_else(|| app::err!(calimero_sdk::serde_json::json!({ "missing": index })))
    }

    pub fn version() -> &'static str {
        "1.0"
    }
}

#[test]
fn init_takes_arguments_and_views_read_them() {
    let app = TestApp::<Board>::new([5; 32]);
    app.init(json!({"motd": "hello"})).unwrap();
    assert_eq!(app.call("motd", json!({})).unwrap(), json!("hello"));
    assert!(app.last().root_hash.is_none());
    app.call("set_motd", json!({"motd": null})).unwrap();
    assert_eq!(
        app.last_events(),
        vec![("MotdChanged".into(), json!({"motd": null}))]
    );
    assert_eq!(app.call("motd", json!({})).unwrap(), json!(null));
}

#[test]
fn events_carry_their_handler_and_tuple_payload() {
    let app = TestApp::<Board>::new([5; 32]);
    app.init(json!({"motd": null})).unwrap();
    let post = json!({"post": {"author": "ann", "text": "hi", "tags": ["a", "b"]}});
    assert_eq!(app.call("post", post).unwrap(), json!(1));
    let events = app.last().events;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "Posted");
    assert_eq!(events[0].data, b"1");
    assert_eq!(events[0].handler.as_deref(), Some("on_posted"));
    assert_eq!(app.last().logs, ["1 posts"]);
    assert_eq!(
        app.call("posts", json!({})).unwrap(),
        json!([{"author": "ann", "text": "hi", "tags": ["a", "b"]}])
    );
}

#[test]
fn errors_from_bail_and_err_reach_the_caller_as_json() {
    let app = TestApp::<Board>::new([5; 32]);
    app.init(json!({"motd": null})).unwrap();
    let before = app.host().storage();
    let error = app
        .call(
            "post",
            json!({"post": {"author": "bo", "text": "", "tags": []}}),
        )
        .unwrap_err();
    assert_eq!(error, CallError::App(json!("post by bo is empty")));
    assert!(!app.last().persisted);
    assert_eq!(app.host().storage(), before);
    assert_eq!(
        app.call("limit", json!({"index": 3})).unwrap_err(),
        CallError::App(json!({"missing": 3}))
    );
}

#[test]
fn static_methods_need_no_state() {
    let app = TestApp::<Board>::new([5; 32]);
    assert_eq!(app.call("version", json!({})).unwrap(), json!("1.0"));
}

#[test]
fn the_manifest_records_intents_nullability_and_events() {
    use calimero_sdk::__private::AppMethods;
    let abi: serde_json::Value = serde_json::from_str(&Board::abi()).unwrap();
    let method = |name: &str| {
        abi["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(method("motd")["intent"], "read_only");
    assert_eq!(method("motd")["returns_nullable"], true);
    assert_eq!(method("version")["intent"], "unspecified");
    assert_eq!(method("post")["params"][0]["type"], json!({"$ref": "Post"}));
    assert_eq!(method("init")["params"][0]["nullable"], true);
    assert_eq!(
        abi["events"][1],
        json!({"name": "Posted", "payload": {"kind": "u32"}})
    );
}
