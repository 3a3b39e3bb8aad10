//! A layered layout for boxes of known size, joined by edges: the most
//! central node in the middle column, its neighbours' branches spread to
//! the left and right by distance, each column ordered to keep neighbours
//! level (barycentre sweeps), connected parts stacked. Boxes never overlap
//! by construction: columns are separated, and boxes in a column stacked.

use std::collections::{BTreeMap, VecDeque};

/// Gap between columns, wide enough for edges to bend.
pub const COL_GAP: f64 = 110.0;
/// Gap between boxes in a column.
pub const ROW_GAP: f64 = 28.0;
/// Gap between connected parts of the picture.
pub const PART_GAP: f64 = 44.0;
/// Exact centrality up to this many nodes in a part; an estimate above.
const EXACT_CENTER: usize = 400;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Placed {
    /// Top-left corner.
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    /// Column, left to right, within the whole picture.
    pub col: i64,
}

/// Place boxes of `sizes` (w, h) joined by `edges`; returns the boxes and
/// the size of the whole.
pub fn layout(sizes: &[(f64, f64)], edges: &[(usize, usize)]) -> (Vec<Placed>, f64, f64) {
    let n = sizes.len();
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        if a < n && b < n && a != b && !adj[a].contains(&b) {
            adj[a].push(b);
            adj[b].push(a);
        }
    }
    let mut placed: Vec<Placed> = sizes
        .iter()
        .map(|&(w, h)| Placed {
            w,
            h,
            ..Placed::default()
        })
        .collect();
    let mut part_of = vec![usize::MAX; n];
    let mut y0 = 0.0;
    let mut width: f64 = 0.0;
    for start in 0..n {
        if part_of[start] != usize::MAX {
            continue;
        }
        let members = bfs(&adj, start)
            .into_iter()
            .map(|(v, _)| v)
            .collect::<Vec<_>>();
        for &v in &members {
            part_of[v] = start;
        }
        let (w, h) = place_part(&adj, &members, &mut placed, y0);
        width = width.max(w);
        y0 += h + PART_GAP;
    }
    (placed, width, (y0 - PART_GAP).max(0.0))
}

/// Breadth-first order from `s`, with distances.
fn bfs(adj: &[Vec<usize>], s: usize) -> Vec<(usize, usize)> {
    let mut dist = BTreeMap::new();
    dist.insert(s, 0usize);
    let mut order = vec![(s, 0)];
    let mut q = VecDeque::from([s]);
    while let Some(v) = q.pop_front() {
        let d = dist[&v];
        let mut next = adj[v].clone();
        next.sort_unstable();
        for u in next {
            if let std::collections::btree_map::Entry::Vacant(e) = dist.entry(u) {
                e.insert(d + 1);
                order.push((u, d + 1));
                q.push_back(u);
            }
        }
    }
    order
}

/// The node whose farthest node is nearest (ties: more neighbours, then first).
fn center(adj: &[Vec<usize>], members: &[usize]) -> usize {
    if members.len() > EXACT_CENTER {
        // Double sweep: the middle of a longest shortest path.
        let far = bfs(adj, members[0]).last().map_or(members[0], |x| x.0);
        let from_a: BTreeMap<usize, usize> = bfs(adj, far).into_iter().collect();
        let end = from_a
            .iter()
            .max_by_key(|(v, d)| (**d, usize::MAX - **v))
            .map_or(far, |x| *x.0);
        let from_b: BTreeMap<usize, usize> = bfs(adj, end).into_iter().collect();
        let diameter = from_a.get(&end).copied().unwrap_or(0);
        return members
            .iter()
            .copied()
            .find(|v| {
                let (a, b) = (
                    from_a.get(v).copied().unwrap_or(0),
                    from_b.get(v).copied().unwrap_or(0),
                );
                a + b == diameter && a == diameter / 2
            })
            .unwrap_or(members[0]);
    }
    let mut best = (usize::MAX, 0usize, usize::MAX);
    let mut pick = members[0];
    for &v in members {
        let ecc = bfs(adj, v).last().map_or(0, |x| x.1);
        let key = (ecc, usize::MAX - adj[v].len(), v);
        if key < (best.0, usize::MAX - best.1, best.2) {
            best = (ecc, adj[v].len(), v);
            pick = v;
        }
    }
    pick
}

/// Place one connected part with its top at `y0`; returns its size.
fn place_part(adj: &[Vec<usize>], members: &[usize], placed: &mut [Placed], y0: f64) -> (f64, f64) {
    let c = center(adj, members);
    let order = bfs(adj, c);
    // Each neighbour of the centre roots a branch; branches go left or right.
    let mut parent: BTreeMap<usize, usize> = BTreeMap::new();
    let mut branch: BTreeMap<usize, usize> = BTreeMap::new();
    let dist: BTreeMap<usize, usize> = order.iter().copied().collect();
    for &(v, d) in &order {
        if d == 0 {
            continue;
        }
        let p = adj[v]
            .iter()
            .copied()
            .filter(|u| dist.get(u) == Some(&(d - 1)))
            .min()
            .unwrap_or(c);
        parent.insert(v, p);
        let b = if p == c {
            v
        } else {
            branch.get(&p).copied().unwrap_or(v)
        };
        branch.insert(v, b);
    }
    let mut size: BTreeMap<usize, usize> = BTreeMap::new();
    for b in branch.values() {
        *size.entry(*b).or_default() += 1;
    }
    let mut roots: Vec<usize> = size.keys().copied().collect();
    roots.sort_by_key(|r| (usize::MAX - size[r], *r));
    let (mut left, mut right) = (0usize, 0usize);
    let mut side: BTreeMap<usize, i64> = BTreeMap::new();
    for r in roots {
        // Balance the sides; on a tie, earlier nodes (file order) go left.
        let s = if left < right || (left == right && r < c) {
            -1
        } else {
            1
        };
        if s < 0 {
            left += size[&r];
        } else {
            right += size[&r];
        }
        side.insert(r, s);
    }
    let mut cols: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for &(v, d) in &order {
        let col = if d == 0 {
            0
        } else {
            side[&branch[&v]] * d as i64
        };
        placed[v].col = col;
        cols.entry(col).or_default().push(v);
    }
    order_columns(adj, &mut cols, placed);
    // Coordinates.
    let mut x = 0.0;
    for vs in cols.values() {
        let w = vs.iter().map(|v| placed[*v].w).fold(0.0, f64::max);
        for v in vs {
            // Centred in the column.
            placed[*v].x = x + (w - placed[*v].w) / 2.0;
        }
        x += w + COL_GAP;
    }
    let centers = level_columns(adj, &cols, placed);
    let top = cols
        .values()
        .flatten()
        .map(|v| centers[v] - placed[*v].h / 2.0)
        .fold(f64::MAX, f64::min);
    let mut height: f64 = 0.0;
    for v in cols.values().flatten() {
        placed[*v].y = y0 + centers[v] - placed[*v].h / 2.0 - top;
        height = height.max(placed[*v].y + placed[*v].h - y0);
    }
    (x - COL_GAP, height)
}

/// Vertical centres: the middle column stacked, then each column outward
/// with every box as level as it can be with its neighbours nearer the
/// middle, pushed down only as far as the box above it requires.
fn level_columns(
    adj: &[Vec<usize>],
    cols: &BTreeMap<i64, Vec<usize>>,
    placed: &[Placed],
) -> BTreeMap<usize, f64> {
    let mut center: BTreeMap<usize, f64> = BTreeMap::new();
    let mut keys: Vec<i64> = cols.keys().copied().collect();
    keys.sort_by_key(|c| (c.abs(), *c));
    for col in keys {
        let vs = &cols[&col];
        let mut bottom = f64::MIN;
        for &v in vs {
            let h = placed[v].h;
            let near: Vec<f64> = adj[v]
                .iter()
                .filter(|u| placed[**u].col.abs() < col.abs())
                .filter_map(|u| center.get(u).copied())
                .collect();
            let want = if near.is_empty() {
                if bottom == f64::MIN {
                    h / 2.0
                } else {
                    bottom + ROW_GAP + h / 2.0
                }
            } else {
                near.iter().sum::<f64>() / near.len() as f64
            };
            let c = if bottom == f64::MIN {
                want
            } else {
                want.max(bottom + ROW_GAP + h / 2.0)
            };
            center.insert(v, c);
            bottom = c + h / 2.0;
        }
    }
    center
}

/// Barycentre sweeps: each column ordered by where its neighbours sit in the
/// columns next to it, outward from the centre then back.
fn order_columns(adj: &[Vec<usize>], cols: &mut BTreeMap<i64, Vec<usize>>, placed: &[Placed]) {
    let keys: Vec<i64> = cols.keys().copied().collect();
    let mut pos: BTreeMap<usize, f64> = BTreeMap::new();
    for vs in cols.values() {
        for (i, v) in vs.iter().enumerate() {
            pos.insert(*v, i as f64);
        }
    }
    for round in 0..6 {
        let outward: Vec<i64> = if round % 2 == 0 {
            let mut k = keys.clone();
            k.sort_by_key(|c| c.abs());
            k
        } else {
            let mut k = keys.clone();
            k.sort_by_key(|c| std::cmp::Reverse(c.abs()));
            k
        };
        for col in outward {
            let Some(vs) = cols.get(&col) else { continue };
            let mut keyed: Vec<(f64, usize, usize)> = vs
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let ns: Vec<f64> = adj[v]
                        .iter()
                        .filter(|u| placed[**u].col != col)
                        .filter_map(|u| pos.get(u).copied())
                        .collect();
                    let bc = if ns.is_empty() {
                        i as f64
                    } else {
                        ns.iter().sum::<f64>() / ns.len() as f64
                    };
                    (bc, i, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let new: Vec<usize> = keyed.into_iter().map(|x| x.2).collect();
            for (i, v) in new.iter().enumerate() {
                pos.insert(*v, i as f64);
            }
            cols.insert(col, new);
        }
    }
}

/// Whether two placed boxes overlap (touching edges do not).
pub fn overlap(a: &Placed, b: &Placed) -> bool {
    a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_laid_left_to_right_around_its_middle() {
        let sizes = vec![(100.0, 50.0); 3];
        let (p, w, h) = layout(&sizes, &[(0, 2), (2, 1)]);
        assert!(p[0].x < p[2].x && p[2].x < p[1].x, "{p:?}");
        assert_eq!(h, 50.0);
        assert!(w >= 300.0);
    }

    #[test]
    fn nothing_overlaps_in_a_star_and_loose_parts() {
        let mut sizes = vec![(120.0, 60.0); 30];
        sizes.push((80.0, 200.0));
        let mut edges: Vec<(usize, usize)> = (1..20).map(|i| (0, i)).collect();
        edges.push((20, 21));
        let (p, _, _) = layout(&sizes, &edges);
        for i in 0..p.len() {
            for j in i + 1..p.len() {
                assert!(!overlap(&p[i], &p[j]), "{i} {j}: {:?} {:?}", p[i], p[j]);
            }
        }
    }
}
