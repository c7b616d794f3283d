use super::*;

const G: u32 = 0;

fn ids<T>(ready: &[Ready<u32, T>]) -> Vec<u32> {
    ready.iter().map(|r| r.id).collect()
}

fn ready(offer: Offer<u32, &'static str>) -> Vec<u32> {
    match offer {
        Offer::Ready(ready) => ids(&ready),
        other => panic!("expected Ready, got {other:?}"),
    }
}

fn buffered(offer: Offer<u32, &'static str>) -> (Vec<u32>, Option<u32>) {
    match offer {
        Offer::Buffered { missing, evicted } => (missing, evicted),
        other => panic!("expected Buffered, got {other:?}"),
    }
}

#[test]
fn genesis_is_applied_but_never_a_head() {
    let mut dag: Dag<u32, &str> = Dag::new(G, 10);
    assert!(dag.is_applied(&G));
    assert!(dag.contains_all(&[G]));
    assert_eq!(dag.applied_len(), 0);
    assert!(dag.heads().is_empty());
    assert_eq!(dag.offer(G, vec![], "genesis"), Offer::Duplicate);
    assert_eq!(dag.parents(&G), None);

    assert_eq!(ready(dag.offer(1, vec![G], "a")), [1]);
    assert_eq!(dag.heads(), [1]);
    assert_eq!(dag.applied_len(), 1);
    assert_eq!(dag.parents(&1), Some(&[G][..]));
}

#[test]
fn empty_parent_list_means_genesis() {
    let mut dag: Dag<u32, &str> = Dag::new(G, 10);
    let Offer::Ready(released) = dag.offer(1, vec![], "a") else {
        panic!("a delta without parents hangs off genesis");
    };
    assert_eq!(released[0].parents, [G]);
    dag.record_applied(2, vec![]);
    assert_eq!(dag.parents(&2), Some(&[G][..]));
    assert_eq!(dag.heads(), [1, 2]);
}

#[test]
fn linear_chain_delivered_in_reverse() {
    let mut dag: Dag<u32, &str> = Dag::new(G, 100);
    for id in (2..=10).rev() {
        assert_eq!(
            buffered(dag.offer(id, vec![id - 1], "x")),
            (vec![id - 1], None)
        );
        assert_eq!(dag.missing(), [id - 1]);
    }
    assert_eq!(dag.pending_len(), 9);
    assert!(dag.heads().is_empty());

    assert_eq!(
        ready(dag.offer(1, vec![G], "x")),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(dag.heads(), [10]);
    assert_eq!(dag.pending_len(), 0);
    assert!(dag.missing().is_empty());
    assert_eq!(dag.applied_len(), 10);
}

#[test]
fn deep_chain_does_not_recurse() {
    let mut dag: Dag<u32, ()> = Dag::new(G, 200_000);
    let n = 100_000;
    for id in (2..=n).rev() {
        assert!(matches!(
            dag.offer(id, vec![id - 1], ()),
            Offer::Buffered { .. }
        ));
    }
    let Offer::Ready(released) = dag.offer(1, vec![G], ()) else {
        panic!("parent is genesis");
    };
    assert_eq!(released.len(), n as usize);
    assert!(released.windows(2).all(|w| w[0].id + 1 == w[1].id));
    assert_eq!(dag.heads(), [n]);
    let (since, total) = dag.since(&[1], 3);
    assert_eq!((since, total), (vec![2, 3, 4], n as usize - 1));
}

#[test]
fn diamond() {
    // 1 <- 2, 1 <- 3, {2, 3} <- 4
    let mut dag: Dag<u32, &str> = Dag::new(G, 100);
    assert_eq!(buffered(dag.offer(4, vec![3, 2], "d")), (vec![2, 3], None));
    assert_eq!(buffered(dag.offer(2, vec![1], "b")), (vec![1], None));
    assert_eq!(dag.missing(), [1, 3]);
    assert_eq!(buffered(dag.offer(3, vec![1], "c")), (vec![1], None));
    assert_eq!(dag.missing(), [1]);

    let released = ready(dag.offer(1, vec![G], "a"));
    assert_eq!(released.len(), 4);
    assert_eq!(released[0], 1);
    assert_eq!(released[3], 4);
    assert_eq!(dag.heads(), [4]);
    assert_eq!(dag.pending_len(), 0);
}

#[test]
fn concurrent_branches_are_all_heads() {
    let mut dag: Dag<u32, &str> = Dag::new(G, 100);
    assert_eq!(ready(dag.offer(1, vec![G], "a")), [1]);
    assert_eq!(ready(dag.offer(3, vec![1], "c")), [3]);
    assert_eq!(ready(dag.offer(2, vec![1], "b")), [2]);
    assert_eq!(dag.heads(), [2, 3]);
    assert_eq!(ready(dag.offer(4, vec![2, 3], "d")), [4]);
    assert_eq!(dag.heads(), [4]);
}

#[test]
fn duplicates_change_nothing() {
    let mut dag: Dag<u32, &str> = Dag::new(G, 100);
    assert_eq!(ready(dag.offer(1, vec![G], "a")), [1]);
    assert_eq!(dag.offer(1, vec![G], "again"), Offer::Duplicate);
    assert_eq!(buffered(dag.offer(3, vec![2], "first")), (vec![2], None));
    assert_eq!(dag.offer(3, vec![7], "second"), Offer::Duplicate);
    assert_eq!(dag.pending_len(), 1);
    assert_eq!(dag.missing(), [2]);

    let taken = dag.take_pending();
    assert_eq!(
        taken,
        [Ready {
            id: 3,
            parents: vec![2],
            payload: "first"
        }]
    );
    assert_eq!(dag.applied_len(), 1);
    assert_eq!(dag.heads(), [1]);
}

#[test]
fn eviction_drops_the_oldest_and_keeps_its_descendants() {
    // Chain 1 <- 2 <- 3 <- 4, buffer of two.
    let mut dag: Dag<u32, &str> = Dag::new(G, 2);
    assert_eq!(buffered(dag.offer(2, vec![1], "b")), (vec![1], None));
    assert_eq!(buffered(dag.offer(3, vec![2], "c")), (vec![], None));
    assert_eq!(buffered(dag.offer(4, vec![3], "d")), (vec![], Some(2)));
    assert_eq!(dag.pending_len(), 2);
    assert!(!dag.is_pending(&2));
    assert!(dag.is_pending(&3) && dag.is_pending(&4));
    assert_eq!(dag.missing(), [2]);

    assert_eq!(ready(dag.offer(1, vec![G], "a")), [1]);
    assert_eq!(ready(dag.offer(2, vec![1], "b")), [2, 3, 4]);
    assert_eq!(dag.heads(), [4]);
    assert_eq!(dag.pending_len(), 0);
}

#[test]
fn evicting_a_parent_reports_it_missing() {
    let mut dag: Dag<u32, &str> = Dag::new(G, 1);
    assert_eq!(buffered(dag.offer(2, vec![1], "b")), (vec![1], None));
    // Buffering 3 evicts 2, so 2 is neither applied nor buffered any more.
    assert_eq!(buffered(dag.offer(3, vec![2], "c")), (vec![2], Some(2)));
    assert_eq!(dag.missing(), [2]);
}

#[test]
fn zero_capacity_buffers_nothing() {
    let mut dag: Dag<u32, &str> = Dag::new(G, 0);
    assert_eq!(buffered(dag.offer(2, vec![1], "b")), (vec![1], Some(2)));
    assert_eq!(dag.pending_len(), 0);
    assert!(dag.missing().is_empty());
    assert_eq!(ready(dag.offer(1, vec![G], "a")), [1]);
}

#[test]
fn install_snapshot_releases_buffered_children() {
    let mut dag: Dag<u32, &str> = Dag::new(G, 100);
    assert_eq!(buffered(dag.offer(6, vec![5], "f")), (vec![5], None));
    assert_eq!(buffered(dag.offer(5, vec![4], "e")), (vec![4], None));
    assert_eq!(
        buffered(dag.offer(7, vec![4, 99], "g")),
        (vec![4, 99], None)
    );
    assert_eq!(
        buffered(dag.offer(3, vec![2], "in snapshot")),
        (vec![2], None)
    );

    let released = dag.install_snapshot([1, 2, 3], vec![4]);
    assert_eq!(ids(&released), [5, 6]);
    assert_eq!(dag.heads(), [6]);
    assert!(dag.contains_all(&[1, 2, 3, 4, 5, 6]));
    assert_eq!(dag.parents(&4), None);
    assert_eq!(dag.parents(&5), Some(&[4][..]));
    assert_eq!(dag.applied_len(), 6);
    // The snapshot applied 3, so its buffered copy is gone.
    assert!(!dag.is_pending(&3));
    assert!(dag.is_pending(&7));
    assert_eq!(dag.missing(), [99]);
}

#[test]
fn install_snapshot_sets_heads_exactly() {
    let mut dag: Dag<u32, &str> = Dag::new(G, 100);
    dag.record_applied(1, vec![G]);
    let released = dag.install_snapshot([2, 3, 4], vec![3, 4]);
    assert!(released.is_empty());
    assert_eq!(dag.heads(), [3, 4]);
    assert_eq!(ready(dag.offer(5, vec![3, 4], "e")), [5]);
    assert_eq!(dag.heads(), [5]);
}

#[test]
fn record_applied_child_before_parent() {
    let mut dag: Dag<u32, &str> = Dag::new(G, 100);
    dag.record_applied(4, vec![2, 3]);
    assert_eq!(dag.heads(), [4]);
    dag.record_applied(1, vec![G]);
    assert_eq!(dag.heads(), [1, 4]);
    dag.record_applied(3, vec![1]);
    dag.record_applied(2, vec![1]);
    assert_eq!(dag.heads(), [4]);
    dag.record_applied(2, vec![1]);
    assert_eq!(dag.applied_len(), 4);
    assert_eq!(dag.heads(), [4]);
}

#[test]
fn record_applied_leaves_release_to_release_ready() {
    let mut dag: Dag<u32, &str> = Dag::new(G, 100);
    assert_eq!(buffered(dag.offer(2, vec![1], "b")), (vec![1], None));
    dag.record_applied(1, vec![G]);
    assert!(dag.is_pending(&2));
    assert!(dag.missing().is_empty());
    assert_eq!(ids(&dag.release_ready()), [2]);
    assert!(dag.release_ready().is_empty());
    assert_eq!(dag.heads(), [2]);
}

#[test]
fn record_applied_of_a_buffered_delta_drops_the_copy() {
    let mut dag: Dag<u32, &str> = Dag::new(G, 100);
    assert_eq!(buffered(dag.offer(3, vec![2], "c")), (vec![2], None));
    assert_eq!(buffered(dag.offer(2, vec![1], "b")), (vec![1], None));
    dag.record_applied(2, vec![1]);
    assert!(!dag.is_pending(&2));
    assert!(dag.is_applied(&2));
    assert_eq!(ids(&dag.release_ready()), [3]);
    assert_eq!(dag.heads(), [3]);
    // 1 is still not applied; nothing is buffered, so nothing is missing.
    assert!(dag.missing().is_empty());
}

#[test]
fn since_with_limit() {
    // 1 <- 2 <- 3 <- 5, 1 <- 4 <- 5, and a second root 7 from genesis.
    let mut dag: Dag<u32, &str> = Dag::new(G, 100);
    dag.record_applied(1, vec![G]);
    dag.record_applied(2, vec![1]);
    dag.record_applied(3, vec![2]);
    dag.record_applied(4, vec![1]);
    dag.record_applied(5, vec![3, 4]);
    dag.record_applied(7, vec![G]);
    assert_eq!(dag.heads(), [5, 7]);

    assert_eq!(dag.since(&[], usize::MAX), (vec![1, 2, 3, 4, 5, 7], 6));
    assert_eq!(dag.since(&[2, 7], usize::MAX), (vec![3, 4, 5], 3));
    assert_eq!(dag.since(&[2, 7], 2), (vec![3, 4], 3));
    assert_eq!(dag.since(&[2, 7], 0), (vec![], 3));
    assert_eq!(dag.since(&[4], usize::MAX), (vec![2, 3, 5, 7], 4));
    assert_eq!(dag.since(&[5, 7], usize::MAX), (vec![], 0));
    assert_eq!(dag.since(&[5, 7, 1234], usize::MAX), (vec![], 0));
    assert_eq!(dag.since(&[1234, G], 1), (vec![1], 6));
}

#[test]
fn since_never_reports_snapshot_deltas() {
    let mut dag: Dag<u32, &str> = Dag::new(G, 100);
    let _ = dag.install_snapshot([1, 2], vec![2]);
    dag.record_applied(3, vec![2]);
    assert_eq!(dag.heads(), [3]);
    // 1 and 2 came without bodies: they cannot be served, so they are never offered.
    assert_eq!(dag.since(&[3], usize::MAX), (vec![], 0));
    assert_eq!(dag.since(&[2], usize::MAX), (vec![3], 1));
    assert_eq!(dag.since(&[], usize::MAX), (vec![3], 1));
}

#[test]
fn take_pending_returns_oldest_first_and_empties_the_buffer() {
    let mut dag: Dag<u32, &str> = Dag::new(G, 100);
    assert_eq!(buffered(dag.offer(9, vec![8], "i")), (vec![8], None));
    assert_eq!(buffered(dag.offer(3, vec![2], "c")), (vec![2], None));
    assert_eq!(buffered(dag.offer(5, vec![3], "e")), (vec![], None));
    assert_eq!(ids(&dag.take_pending()), [9, 3, 5]);
    assert_eq!(dag.pending_len(), 0);
    assert!(dag.missing().is_empty());
    assert!(dag.take_pending().is_empty());
    // Nothing is left waiting: applying 2 releases nothing.
    assert_eq!(ready(dag.offer(2, vec![G], "b")), [2]);
}

#[test]
fn buffer_order_survives_churn() {
    // Many buffer/release cycles exercise the lazy compaction of the eviction order.
    let mut dag: Dag<u32, u32> = Dag::new(G, 3);
    let mut next = 1;
    for _ in 0..200 {
        let (parent, child) = (next, next + 1);
        next += 2;
        assert!(matches!(
            dag.offer(child, vec![parent], child),
            Offer::Buffered { evicted: None, .. }
        ));
        assert!(matches!(dag.offer(parent, vec![G], parent), Offer::Ready(r) if r.len() == 2));
    }
    for id in [1001, 1003, 1005, 1007] {
        let _ = dag.offer(id, vec![id - 1], id);
    }
    assert_eq!(ids(&dag.take_pending()), [1003, 1005, 1007]);
}
