//! `#[app::private]`: a value kept in the node's private storage, collections included, that
//! never reaches a delta or another member.

use calimero_sdk::borsh::{BorshDeserialize, BorshSerialize};
use calimero_sdk::storage::collections::{Counter, UnorderedMap, UnorderedSet, Vector};
use calimero_sdk::testing::TestApp;
use calimero_sdk::{app, storage::collections::LwwRegister};
use serde_json::json;

#[app::state]
pub struct Game {
    hints: UnorderedMap<String, LwwRegister<String>>,
}

#[derive(BorshSerialize, BorshDeserialize, Default)]
#[borsh(crate = "calimero_sdk::borsh")]
#[app::private]
pub struct Secrets {
    answers: UnorderedMap<String, String>,
    guessed: UnorderedMap<String, UnorderedSet<String>>,
    log: Vector<String>,
    wrong: Counter,
    added: u64,
}

/// `(answer, guesses, wrong guesses, log, added)`.
type Mine = (Option<String>, Vec<String>, u64, Vec<String>, u64);

#[app::logic]
impl Game {
    #[app::init]
    pub fn init() -> Game {
        Game {
            hints: UnorderedMap::new(),
        }
    }

    /// Keeps the answer private, publishes a hint.
    pub fn add(&mut self, game: String, answer: String, hint: String) -> app::Result<u64> {
        let mut secrets = Secrets::private_load_or_default()?;
        let mut secrets = secrets.as_mut();
        secrets.answers.insert(game.clone(), answer)?;
        secrets.log.push(format!("added {game}"))?;
        secrets.added += 1;
        self.hints.insert(game, hint.into())?;
        Ok(secrets.added)
    }

    pub fn guess(&mut self, game: String, guess: String) -> app::Result<bool> {
        let mut secrets = Secrets::private_load_or_default()?;
        let mut secrets = secrets.as_mut();
        let right = secrets.answers.get(&game)? == Some(guess.clone());
        secrets
            .guessed
            .entry(game)?
            .or_insert_with(UnorderedSet::new)?
            .insert(guess)?;
        if !right {
            secrets.wrong.increment()?;
        }
        Ok(right)
    }

    /// `(answer, guesses, wrong guesses, log, added)` as this node knows them.
    pub fn mine(&self, game: String) -> app::Result<Option<Mine>> {
        let Some(secrets) = Secrets::private_load()? else {
            return Ok(None);
        };
        let guesses = match secrets.guessed.get(&game)? {
            Some(set) => set.iter()?.collect(),
            None => Vec::new(),
        };
        Ok(Some((
            secrets.answers.get(&game)?,
            guesses,
            secrets.wrong.value()?,
            secrets.log.iter()?.collect(),
            secrets.added,
        )))
    }
}

#[test]
fn private_state_persists_on_its_node_and_never_leaves_it() {
    let author = TestApp::<Game>::with_member([4; 32], [1; 32]);
    author.init(json!({})).unwrap();
    let peer = TestApp::<Game>::with_member([4; 32], [2; 32]);
    peer.sync(&author.last().artifact).unwrap();

    assert_eq!(
        author
            .call(
                "add",
                json!({"game": "g", "answer": "swordfish", "hint": "a fish"})
            )
            .unwrap(),
        json!(1)
    );
    let artifact = author.last().artifact;
    assert!(
        !artifact.windows(9).any(|w| w == b"swordfish"),
        "the answer is in the delta"
    );
    assert_eq!(
        author
            .call("guess", json!({"game": "g", "guess": "cod"}))
            .unwrap(),
        json!(false)
    );
    assert_eq!(
        author
            .call("guess", json!({"game": "g", "guess": "swordfish"}))
            .unwrap(),
        json!(true)
    );
    assert!(
        !author.last().artifact.windows(9).any(|w| w == b"swordfish"),
        "a private-only change makes no public delta carrying it"
    );
    assert_eq!(
        author.call("mine", json!({"game": "g"})).unwrap(),
        json!(["swordfish", ["cod", "swordfish"], 1, ["added g"], 1])
    );

    // The peer gets the hint, not the answer.
    peer.sync(&artifact).unwrap();
    assert_eq!(
        peer.call("mine", json!({"game": "g"})).unwrap(),
        json!(null)
    );
    let private_keys: Vec<Vec<u8>> = author.host().private_storage().into_keys().collect();
    assert_eq!(private_keys, vec![b"calimero:private:Secrets".to_vec()]);
    assert!(peer.host().private_storage().is_empty());
}
