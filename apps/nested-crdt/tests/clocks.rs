//! Clocks under attack: remote times far in the future are refused, times at the end of the
//! range saturate instead of wrapping, and a write that follows another (causally) wins,
//! whatever the wall clocks say.

use calimero_sdk::testing::TestApp;
use nested_crdt::Collections;
use proptest::prelude::*;
use serde_json::{Value, json};

const CONTEXT: [u8; 32] = [9; 32];
const BASE: u64 = 1_750_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;

fn replica(member: u8) -> TestApp<Collections> {
    TestApp::with_member(CONTEXT, [member; 32])
}

/// Runs `method` on `app` with its wall clock at `at`; the artifact it produced.
fn run(app: &TestApp<Collections>, at: u64, method: &str, args: Value) -> Vec<u8> {
    app.host().set_clock(at, 1);
    app.call(method, args).unwrap();
    app.last().artifact
}

fn sync_at(app: &TestApp<Collections>, at: u64, artifact: &[u8]) -> Result<(), String> {
    app.host().set_clock(at, 1);
    app.sync(artifact).map(|_| ()).map_err(|e| e.to_string())
}

fn snapshot(app: &TestApp<Collections>) -> Value {
    app.call("snapshot", json!({})).unwrap()
}

/// Two replicas of one freshly created context, both at `at`.
fn pair(at: u64) -> (TestApp<Collections>, TestApp<Collections>) {
    let a = replica(1);
    a.host().set_clock(at, 1);
    a.init(json!({})).unwrap();
    let b = replica(2);
    b.host().load_snapshot(a.host().storage());
    (a, b)
}

#[test]
fn a_remote_write_more_than_five_seconds_ahead_is_refused_until_the_clock_catches_up() {
    let (a, b) = pair(BASE);
    let ahead = run(
        &b,
        BASE + 10 * SECOND,
        "retitle",
        json!({"title": "future"}),
    );
    let before = snapshot(&a);
    for at in [BASE, BASE + 4 * SECOND] {
        let error = sync_at(&a, at, &ahead).unwrap_err();
        assert!(error.contains("5 s ahead"), "{error}");
        assert_eq!(snapshot(&a), before, "a refused delta changes nothing");
    }
    // Once the local clock is within 5 s of it, the same delta applies.
    sync_at(&a, BASE + 6 * SECOND, &ahead).unwrap();
    assert_eq!(snapshot(&a)["title"], "future");
}

#[test]
fn times_at_the_end_of_the_range_saturate_instead_of_wrapping() {
    let end = u64::MAX - 10;
    let (a, b) = pair(end);
    // Each write needs a time after the previous one; at u64::MAX there is none left, and
    // `+ 1` used to overflow (a panic here, a wrap to zero in a release build).
    let mut deltas = Vec::new();
    for (i, at) in [end, u64::MAX, u64::MAX, u64::MAX].into_iter().enumerate() {
        deltas.push(run(
            &b,
            at,
            "put",
            json!({"key": "k", "value": format!("v{i}")}),
        ));
        deltas.push(run(&b, at, "retitle", json!({"title": format!("t{i}")})));
        deltas.push(run(&b, at, "delete", json!({"key": "gone"})));
    }
    for delta in &deltas {
        sync_at(&a, u64::MAX, delta).unwrap();
    }
    assert_eq!(
        snapshot(&a),
        snapshot(&b),
        "the replicas agree at the end of time"
    );
}

#[test]
fn a_write_after_applying_a_remote_one_wins_even_when_the_local_wall_clock_is_behind() {
    // B's wall clock runs 3 s ahead of A's (within the drift bound). A applies B's title, then
    // sets its own: A's write comes causally after B's, so it must win on both replicas.
    let (a, b) = pair(BASE);
    let from_b = run(&b, BASE + 3 * SECOND, "retitle", json!({"title": "from b"}));
    sync_at(&a, BASE + SECOND, &from_b).unwrap();
    let from_a = run(&a, BASE + SECOND, "retitle", json!({"title": "from a"}));
    sync_at(&b, BASE + 3 * SECOND, &from_a).unwrap();
    assert_eq!(snapshot(&a)["title"], "from a");
    assert_eq!(snapshot(&b)["title"], "from a");
}

#[test]
fn writes_stay_ordered_when_the_wall_clock_jumps_back() {
    let (a, b) = pair(BASE);
    // A writes one key late, then (its wall clock set back by a minute) another key.
    let late = run(
        &a,
        BASE + 60 * SECOND,
        "put",
        json!({"key": "x", "value": "1"}),
    );
    let after = run(&a, BASE, "put", json!({"key": "x", "value": "2"}));
    for delta in [&late, &after] {
        sync_at(&b, BASE + 60 * SECOND, delta).unwrap();
    }
    assert_eq!(snapshot(&a)["registers"], snapshot(&b)["registers"]);
    assert_eq!(snapshot(&b)["registers"], json!([["x", "2"]]));
}

#[derive(Clone, Debug)]
struct Write {
    writer: usize,
    /// How far true time moved on since the previous write, in ms.
    advance_ms: u16,
    /// How far the writer's wall clock reads behind its usual skew this time (it jumped back).
    jump_back_ms: u16,
    key: u8,
    value: u8,
}

fn write() -> impl Strategy<Value = Write> {
    (0..3usize, 0..500u16, 0..2000u16, 0..3u8, any::<u8>()).prop_map(
        |(writer, advance_ms, jump_back_ms, key, value)| Write {
            writer,
            advance_ms,
            jump_back_ms,
            key,
            value,
        },
    )
}

fn at(ms: i64) -> u64 {
    (i128::from(BASE) + i128::from(ms) * 1_000_000) as u64
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The model: in a history where every write is delivered everywhere before the next one
    /// (each write causally follows the previous), the last write of each key and of the title
    /// wins on every replica, whatever the wall clocks said. Each replica's clock is skewed by
    /// up to ±2 s from true time (so any two are within the 5 s drift bound) and a writer's may
    /// also jump back by up to 2 s.
    #[test]
    fn in_a_causal_history_the_last_write_wins_whatever_the_wall_clocks(
        skews in prop::collection::vec(-2000i64..2000, 3),
        writes in prop::collection::vec(write(), 1..24),
    ) {
        let first = replica(1);
        first.host().set_clock(at(skews[0]), 1);
        first.init(json!({})).unwrap();
        let replicas = [first, replica(2), replica(3)];
        for other in &replicas[1..] {
            other.host().load_snapshot(replicas[0].host().storage());
        }
        let mut model = std::collections::BTreeMap::new();
        let mut title = String::new();
        let mut now_ms = 0i64;
        for w in &writes {
            now_ms += i64::from(w.advance_ms);
            let key = format!("k{}", w.key);
            let value = format!("v{}", w.value);
            let author = &replicas[w.writer];
            let writer_clock = at(now_ms + skews[w.writer] - i64::from(w.jump_back_ms));
            let put = run(author, writer_clock, "put", json!({"key": key, "value": value}));
            let retitle = run(author, writer_clock, "retitle", json!({"title": value}));
            for (i, other) in replicas.iter().enumerate() {
                if i != w.writer {
                    let receiver_clock = at(now_ms + skews[i]);
                    let applied = sync_at(other, receiver_clock, &put)
                        .and_then(|()| sync_at(other, receiver_clock, &retitle));
                    prop_assert!(applied.is_ok(), "{:?}", applied);
                }
            }
            model.insert(key, value.clone());
            title = value;
        }
        for replica in &replicas {
            let view = snapshot(replica);
            // Entries come in creation order; the model is keyed.
            let registers: std::collections::BTreeMap<String, String> =
                serde_json::from_value::<Vec<(String, String)>>(view["registers"].clone())
                    .unwrap()
                    .into_iter()
                    .collect();
            prop_assert_eq!(&registers, &model);
            prop_assert_eq!(&view["title"], &json!(title));
        }
    }
}
