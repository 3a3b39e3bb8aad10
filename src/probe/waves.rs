//! The all-pairs matrix in waves, pure. The kernel's neighbour table (ARP
//! for IPv4, NDP for IPv6) is one table for every namespace on the machine,
//! with a hard limit (gc_thresh3): all pairs of a large lab at once would
//! overflow it, and then address resolution fails for everyone. So the
//! pairs go out in waves, each sized to the room left in the table; the
//! prober releases what a wave made before the next.

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;

/// A neighbour entry: (namespace, address it resolves).
pub type NeighKey = (String, IpAddr);

/// One family's neighbour table: its hard limit and how full it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    pub limit: usize,
    pub entries: usize,
}

/// Entries left free for everyone else on the machine (the host's own
/// traffic, other labs): an eighth of the table, at least 64.
pub fn margin(limit: usize) -> usize {
    (limit / 8).max(64).min(limit)
}

/// Room for new entries: half of what is free below the limit minus the
/// margin — so that two runs reading the table at the same moment still
/// stay below it together — and, when the user capped vnet's use (`cap`),
/// within what is left of the cap given `ours` entries not yet released.
pub fn room(t: Table, cap: Option<usize>, ours: usize) -> usize {
    let free = t
        .limit
        .saturating_sub(t.entries)
        .saturating_sub(margin(t.limit))
        / 2;
    match cap {
        Some(c) => free.min(c.saturating_sub(ours)),
        None => free,
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Room {
    pub v4: usize,
    pub v6: usize,
}

/// A unit of work: the probes between two nodes (both ways) and the
/// neighbour entries they make.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Item {
    pub probes: Vec<usize>,
    pub keys: Vec<NeighKey>,
}

/// New entries an item adds to a wave (keys already there cost nothing).
fn cost(item: &Item, wave: &HashSet<&NeighKey>, present: &HashSet<NeighKey>) -> Room {
    let mut c = Room::default();
    let mut seen: HashSet<&NeighKey> = HashSet::new();
    for k in &item.keys {
        if wave.contains(k) || present.contains(k) || !seen.insert(k) {
            continue;
        }
        if k.1.is_ipv4() {
            c.v4 += 1;
        } else {
            c.v6 += 1;
        }
    }
    c
}

/// Take items from the front of `queue` while their new entries fit in
/// `room`. Empty when not even the first fits.
pub fn next_wave(
    queue: &mut VecDeque<usize>,
    items: &[Item],
    room: Room,
    present: &HashSet<NeighKey>,
) -> Vec<usize> {
    let mut wave = Vec::new();
    let mut keys: HashSet<&NeighKey> = HashSet::new();
    let mut used = Room::default();
    while let Some(&i) = queue.front() {
        let c = cost(&items[i], &keys, present);
        if used.v4 + c.v4 > room.v4 || used.v6 + c.v6 > room.v6 {
            break;
        }
        used.v4 += c.v4;
        used.v6 += c.v6;
        keys.extend(items[i].keys.iter());
        wave.push(i);
        queue.pop_front();
    }
    wave
}

/// The waves `items` need when each wave has `room` and the entries of one
/// wave are released before the next (None: one item alone does not fit).
pub fn plan(items: &[Item], room: Room) -> Option<Vec<Vec<usize>>> {
    let mut queue: VecDeque<usize> = (0..items.len()).collect();
    let present = HashSet::new();
    let mut waves = Vec::new();
    while !queue.is_empty() {
        let w = next_wave(&mut queue, items, room, &present);
        if w.is_empty() {
            return None;
        }
        waves.push(w);
    }
    Some(waves)
}

/// Entries an item needs when it cannot be worked out from the routes: the
/// two ends' entries for each other.
pub fn default_keys(a: &str, a_addr: Option<IpAddr>, b: &str, b_addr: IpAddr) -> Vec<NeighKey> {
    let mut k = vec![(a.to_string(), b_addr)];
    if let Some(x) = a_addr {
        k.push((b.to_string(), x));
    }
    k
}

/// Within a wave, the probes from the lower-numbered node of each pair go
/// first: the neighbour resolution they trigger teaches both ends, so the
/// probes back (the second phase) need no ARP broadcast of their own.
pub fn phases(probes: &[(usize, usize)], wave: &[usize]) -> (Vec<usize>, Vec<usize>) {
    wave.iter()
        .copied()
        .partition(|&p| probes[p].0 < probes[p].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// All pairs of an N-node star on one subnet: one item per unordered
    /// pair, costing the two ends' entries for each other.
    fn star(n: usize) -> Vec<Item> {
        let mut items = Vec::new();
        let addr = |i: usize| ip(&format!("10.0.{}.{}", i / 256, i % 256));
        let mut p = 0;
        for a in 1..=n {
            for b in a + 1..=n {
                items.push(Item {
                    probes: vec![p, p + 1],
                    keys: vec![(format!("ns{a}"), addr(b)), (format!("ns{b}"), addr(a))],
                });
                p += 2;
            }
        }
        items
    }

    #[test]
    fn room_keeps_a_margin_and_honours_a_cap() {
        let t = Table {
            limit: 1024,
            entries: 10,
        };
        assert_eq!(margin(1024), 128);
        assert_eq!(room(t, None, 0), (1024 - 10 - 128) / 2);
        assert_eq!(room(t, Some(100), 30), 70);
        // Two runs that read the table at once take at most all of it.
        let both = 2 * room(t, None, 0);
        assert!(t.entries + both <= t.limit - margin(t.limit));
        assert_eq!(room(t, Some(10), 30), 0);
        // A nearly full table leaves no room at all, never an underflow.
        assert_eq!(
            room(
                Table {
                    limit: 1024,
                    entries: 1000
                },
                None,
                0
            ),
            0
        );
        assert_eq!(margin(16), 16);
    }

    #[test]
    fn small_labs_fit_in_one_wave() {
        // 20 nodes: 190 pairs, 380 entries: below (1024 - 128) / 2.
        let items = star(20);
        let waves = plan(&items, Room { v4: 448, v6: 448 }).unwrap();
        assert_eq!(waves.len(), 1);
        assert_eq!(waves[0].len(), 190);
    }

    #[test]
    fn a_hundred_nodes_need_waves_that_never_exceed_the_room() {
        // 100 nodes: 4950 pairs, 9900 entries on default settings.
        let items = star(100);
        let room = Room { v4: 448, v6: 448 };
        let waves = plan(&items, room).unwrap();
        assert_eq!(waves.len(), 9900usize.div_ceil(448));
        let mut all: Vec<usize> = waves.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..items.len()).collect::<Vec<_>>(), "each pair once");
        for w in &waves {
            let keys: HashSet<&NeighKey> = w.iter().flat_map(|&i| items[i].keys.iter()).collect();
            assert!(keys.len() <= 448, "{}", keys.len());
        }
    }

    #[test]
    fn shared_entries_are_counted_once() {
        // Behind a router every pair shares the hosts' entries for the
        // gateway: ten pairs cost far less than twenty entries each.
        let gw = ip("10.0.0.1");
        let items: Vec<Item> = (0..10)
            .map(|i| Item {
                probes: vec![i],
                keys: vec![("h1".into(), gw), ("r".into(), ip("10.0.0.2"))],
            })
            .collect();
        let waves = plan(&items, Room { v4: 2, v6: 0 }).unwrap();
        assert_eq!(waves.len(), 1);
        // Entries already in the table cost nothing either.
        let present: HashSet<NeighKey> = [("h1".to_string(), gw)].into();
        let mut q: VecDeque<usize> = (0..10).collect();
        assert_eq!(
            next_wave(&mut q, &items, Room { v4: 1, v6: 0 }, &present).len(),
            10
        );
        // IPv6 entries count against the IPv6 table.
        let v6 = [Item {
            probes: vec![0],
            keys: vec![
                ("a".into(), ip("2001:db8::2")),
                ("b".into(), ip("2001:db8::1")),
            ],
        }];
        assert!(plan(&v6, Room { v4: 100, v6: 1 }).is_none());
        assert_eq!(plan(&v6, Room { v4: 0, v6: 2 }).unwrap().len(), 1);
    }

    #[test]
    fn the_lower_node_of_each_pair_goes_first() {
        let probes = [(0, 1), (1, 0), (2, 0), (0, 2)];
        let (first, second) = phases(&probes, &[0, 1, 2, 3]);
        assert_eq!(first, [0, 3]);
        assert_eq!(second, [1, 2]);
    }
}
