use std::collections::HashMap;

use super::*;

fn key(i: u32) -> Pubkey {
    let mut k = [0u8; 32];
    k[..4].copy_from_slice(&i.to_be_bytes());
    // Spread the keys so that sorted order is not the numbering order.
    k[4..].copy_from_slice(&Hash::of(&i.to_le_bytes()).0[..28]);
    Pubkey(k)
}

/// `n` nodes with stakes 1..=n (and every 7th unstaked, to mix both kinds).
fn cluster(n: u32) -> Vec<(Pubkey, u64)> {
    (0..n)
        .map(|i| (key(i), if i % 7 == 3 { 0 } else { u64::from(i) + 1 }))
        .collect()
}

/// Checks the tree invariants for one shred: the shuffle is a permutation of the non-leader nodes,
/// and the children lists partition every position but the root, each under its heap parent.
fn check_tree(tree: &TurbineTree, nodes: &[(Pubkey, u64)], leader: &Pubkey, shred: ShredId) {
    let order = tree.shuffled(leader, shred);
    let mut expected: Vec<Pubkey> = nodes.iter().map(|n| n.0).filter(|k| k != leader).collect();
    expected.sort();
    expected.dedup();
    let mut got = order.clone();
    got.sort();
    assert_eq!(got, expected, "every non-leader node exactly once");
    assert!(!order.contains(leader));
    assert_eq!(tree.root(leader, shred), order.first().copied());

    let mut parent_of: HashMap<Pubkey, Pubkey> = HashMap::new();
    let mut scratch = TurbineScratch::default();
    let mut kids = Vec::new();
    for (p, k) in order.iter().enumerate() {
        assert_eq!(tree.position_with(leader, shred, k, &mut scratch), Some(p));
        tree.children_into(leader, shred, k, &mut scratch, &mut kids);
        assert!(kids.len() <= tree.fanout());
        for (j, c) in kids.iter().enumerate() {
            assert_eq!(order[p * tree.fanout() + 1 + j], *c);
            assert!(parent_of.insert(*c, *k).is_none(), "{c} has two parents");
        }
    }
    assert_eq!(parent_of.len(), order.len().saturating_sub(1));
    if let Some(root) = order.first() {
        assert!(!parent_of.contains_key(root));
    }
    assert!(tree.children(leader, shred, leader).is_empty());
    assert_eq!(tree.position(leader, shred, leader), None);
}

#[test]
fn input_order_does_not_matter() {
    let nodes = cluster(100);
    let mut permuted = nodes.clone();
    permuted.reverse();
    permuted.rotate_left(37);
    let a = TurbineTree::new(&nodes, DEFAULT_FANOUT);
    let b = TurbineTree::new(&permuted, DEFAULT_FANOUT);
    assert_eq!(a, b);
    for i in 0..50 {
        let shred = ShredId::data(Slot(9), i);
        assert_eq!(
            a.shuffled(&key(5), shred),
            b.shuffled(&key(5), shred),
            "shred {i}"
        );
    }
}

#[test]
fn duplicates_keep_the_largest_stake_whatever_the_order() {
    let a = TurbineTree::new(&[(key(1), 5), (key(1), 50), (key(2), 1)], 8);
    let b = TurbineTree::new(&[(key(1), 50), (key(2), 1), (key(1), 5)], 8);
    assert_eq!(a, b);
    assert_eq!(a.len(), 2);
}

#[test]
fn trees_partition_the_cluster_at_every_size_and_fanout() {
    for &n in &[4u32, 100, 1000] {
        let nodes = cluster(n);
        for &fanout in &[8, DEFAULT_FANOUT] {
            let tree = TurbineTree::new(&nodes, fanout);
            // A member leader and a stranger leader.
            for leader in [key(n / 2), key(n + 1)] {
                let shreds = if n == 1000 { 2 } else { 6 };
                for i in 0..shreds {
                    check_tree(&tree, &nodes, &leader, ShredId::data(Slot(3), i));
                    check_tree(&tree, &nodes, &leader, ShredId::coding(Slot(3), i));
                }
            }
        }
    }
}

#[test]
fn seed_depends_on_every_field() {
    let tree = TurbineTree::new(&cluster(100), 8);
    let l = key(0);
    let base = tree.shuffled(&l, ShredId::data(Slot(1), 1));
    assert_ne!(base, tree.shuffled(&l, ShredId::coding(Slot(1), 1)));
    assert_ne!(base, tree.shuffled(&l, ShredId::data(Slot(2), 1)));
    assert_ne!(base, tree.shuffled(&l, ShredId::data(Slot(1), 2)));
    let other_leader = tree.shuffled(&key(1), ShredId::data(Slot(1), 1));
    assert_ne!(base.iter().filter(|k| **k != key(1)).collect::<Vec<_>>(), {
        other_leader.iter().filter(|k| **k != l).collect::<Vec<_>>()
    });
}

#[test]
fn large_fanout_is_one_hop() {
    let nodes = cluster(100);
    let tree = TurbineTree::new(&nodes, 200);
    let leader = key(0);
    let shred = ShredId::data(Slot(4), 0);
    let root = tree.root(&leader, shred).unwrap();
    assert_eq!(tree.children(&leader, shred, &root).len(), 98);
    for (k, _) in &nodes {
        if *k != root {
            assert!(tree.children(&leader, shred, k).is_empty());
        }
    }
}

#[test]
fn unstaked_nodes_come_after_all_staked_ones() {
    let nodes = cluster(100);
    let tree = TurbineTree::new(&nodes, 8);
    let stake: HashMap<Pubkey, u64> = nodes.iter().copied().collect();
    for i in 0..20 {
        let order = tree.shuffled(&key(1), ShredId::data(Slot(7), i));
        let first_unstaked = order.iter().position(|k| stake[k] == 0).unwrap();
        assert!(order[first_unstaked..].iter().all(|k| stake[k] == 0));
    }
}

#[test]
fn heavier_stake_is_root_far_more_often() {
    // One node with 10× the stake of each of the nine others: it holds 10/19 of the stake, so it
    // should be root about 53% of the time; a small node about 5%.
    let mut nodes: Vec<(Pubkey, u64)> = (1..10).map(|i| (key(i), 100)).collect();
    nodes.push((key(0), 1000));
    nodes.push((key(99), 0));
    let tree = TurbineTree::new(&nodes, 8);
    let leader = key(99);
    let mut roots: HashMap<Pubkey, u32> = HashMap::new();
    let mut scratch = TurbineScratch::default();
    for slot in 0..40 {
        for i in 0..50 {
            let root = tree
                .root_with(&leader, ShredId::data(Slot(slot), i), &mut scratch)
                .unwrap();
            *roots.entry(root).or_default() += 1;
        }
    }
    let heavy = roots[&key(0)];
    let small = roots.get(&key(1)).copied().unwrap_or(0);
    assert!(heavy > 800 && heavy < 1300, "heavy root {heavy} of 2000");
    assert!(heavy > 5 * small, "heavy {heavy}, small {small}");
    assert!(!roots.contains_key(&key(99)));
}

#[test]
fn empty_and_single_node_clusters_have_no_children() {
    let empty = TurbineTree::new(&[], 8);
    assert!(empty.is_empty());
    let shred = ShredId::data(Slot(1), 0);
    assert_eq!(empty.root(&key(1), shred), None);
    assert!(empty.children(&key(1), shred, &key(2)).is_empty());
    assert_eq!(empty.position(&key(1), shred, &key(2)), None);

    let single = TurbineTree::new(&[(key(1), 10)], 8);
    // The only node leads: no tree at all.
    assert_eq!(single.root(&key(1), shred), None);
    assert!(single.children(&key(1), shred, &key(1)).is_empty());
    // Someone else leads: the node is root and has no children.
    assert_eq!(single.root(&key(2), shred), Some(key(1)));
    assert!(single.children(&key(2), shred, &key(1)).is_empty());
    assert_eq!(single.position(&key(2), shred, &key(1)), Some(0));

    let unstaked = TurbineTree::new(&[(key(1), 0), (key(2), 0)], 0);
    assert_eq!(unstaked.fanout(), 1);
    check_tree(
        &unstaked,
        &[(key(1), 0), (key(2), 0)],
        &key(3),
        ShredId::data(Slot(0), 0),
    );
}

#[test]
fn huge_stakes_do_not_overflow() {
    let nodes = [
        (key(1), u64::MAX),
        (key(2), u64::MAX),
        (key(3), 1),
        (key(4), 0),
    ];
    let tree = TurbineTree::new(&nodes, 2);
    for i in 0..10 {
        check_tree(&tree, &nodes, &key(9), ShredId::data(Slot(0), i));
    }
}
