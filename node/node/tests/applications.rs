//! Deleting an application races with creating a context of it: whichever wins, no context is
//! left referring to an application that is gone.

use std::sync::{Arc, Barrier};

use calimero_node::{Node, NodeError};
use calimero_runtime::Limits;

fn module() -> &'static [u8] {
    static MODULE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    MODULE.get_or_init(|| calimero_tests::build_app("kv-store"))
}

#[test]
fn deleting_an_application_never_strands_a_context_created_at_the_same_time() {
    let dir = tempfile::tempdir().unwrap();
    let node = Arc::new(
        Node::open(
            &dir.path().join("data"),
            &dir.path().join("compiled"),
            Limits::default(),
        )
        .unwrap(),
    );
    let (mut created, mut deleted) = (0, 0);
    for _ in 0..20 {
        let app = node.install_application(module(), "test").unwrap();
        let start = Arc::new(Barrier::new(2));
        let creating = {
            let (node, start) = (node.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                node.create_context(&app, b"{}".to_vec())
            })
        };
        start.wait();
        // `init` runs for a while; the delete lands in the middle of it.
        std::thread::sleep(std::time::Duration::from_micros(200));
        let deletion = node.delete_application(&app);
        let creation = creating.join().unwrap();
        match (&creation, &deletion) {
            (Ok((context, _)), Err(NodeError::Conflict(_))) => {
                // The context won: the application stays and serves it.
                assert!(node.has_application(&app).unwrap());
                node.execute(context, "entries", b"{}".to_vec()).unwrap();
                node.delete_context(context).unwrap();
                node.delete_application(&app).unwrap();
                created += 1;
            }
            (Err(NodeError::ApplicationNotInstalled(_)), Ok(())) => deleted += 1,
            other => panic!("inconsistent outcome: {other:?}"),
        }
        assert!(node.contexts().unwrap().is_empty());
    }
    // Both orders happen over 20 rounds; either way the invariant above held.
    assert_eq!(created + deleted, 20);
}
