//! The rule-shadowed check's index: for each rule, the first earlier allow rule that matches
//! every in-scope record it matches, found without comparing it with every earlier rule.
//!
//! A rule `by` shadows `rule` when, on every key `by` writes, what `rule` and the scope leave
//! ([`effective`]) lies inside `by`'s set. Compared pair by pair, allocating a set per key,
//! that took 146 s for the 62,000 `{dst_port = N}` rules a 1 MiB policy can hold (issue 27).
//! Here the allow rules are grouped by the keys they write (only a group whose keys the rule
//! constrains can shadow it), and each group is indexed on one of its keys, the one whose
//! values differ most between its rules: a rule's set must hold the first value (or the first
//! range) of what the queried rule leaves on that key, so the index hands out only rules that
//! hold that value, in file order, and the first of them that holds the rest on every key is
//! the answer. Ports and addresses go into a segment tree of their ranges (a rule sits in the
//! O(log n) nodes that make up each of its ranges; a point's candidates are the lists on its
//! leaf's path to the root), protocols, directions, actions and ids into a list per value.
//!
//! The findings are exactly the pairwise check's: the property test at the bottom holds the
//! index to it. The cost per rule is the candidates the index hands out before the first one
//! that holds (allocation-free set comparisons), which for rules that differ on their most
//! varied key is a handful; rules that share a value there and differ elsewhere fall back
//! towards comparing with each of those, never with more than the pairwise check would.

use std::collections::{HashMap, HashSet};

use crate::policy::matcher::Key;
use crate::policy::sets::{Point, RangeSet};
use crate::policy::{Policy, Rule};

use super::{effective, get, Set};

/// A key's position in [`Key::ALL`], for bit masks of keys.
fn bit(key: Key) -> u16 {
    1 << Key::ALL.iter().position(|&k| k == key).expect("a key") as u16
}

/// The allow rules that can shadow others, indexed. Positions are indices into `rules`.
pub(super) struct Shadowers<'r> {
    rules: Vec<&'r Rule>,
    /// Each rule's sets on the keys it writes.
    sets: Vec<Vec<(Key, Set)>>,
    groups: Vec<Group>,
}

/// The rules that write exactly the keys of `keys`, indexed on `lead`.
struct Group {
    keys: u16,
    lead: Key,
    index: Index,
    /// Every member, ascending: the candidates when the queried rule leaves nothing on `lead`.
    members: Vec<u32>,
}

/// Where a group's rules are listed by their values on the lead key, each list ascending.
enum Index {
    Ports(Stab<u16>),
    Addrs(Stab<u32>, Stab<u128>),
    /// One list per protocol number, direction bit or action bit.
    Values(Vec<Vec<u32>>),
    Ids(HashMap<Box<str>, Vec<u32>>),
}

impl<'r> Shadowers<'r> {
    /// Indexes `rules` (allow rules that do not cover the scope, in file order).
    pub(super) fn new(rules: Vec<&'r Rule>) -> Shadowers<'r> {
        let sets: Vec<Vec<(Key, Set)>> = rules
            .iter()
            .map(|r| {
                r.matcher
                    .keys()
                    .into_iter()
                    .map(|k| (k, get(&r.matcher, k).expect("a key of the rule")))
                    .collect()
            })
            .collect();
        let mut by_keys: HashMap<u16, Vec<u32>> = HashMap::new();
        let mut order = Vec::new();
        for (pos, s) in sets.iter().enumerate() {
            let keys = s.iter().fold(0, |m, (k, _)| m | bit(*k));
            by_keys
                .entry(keys)
                .or_insert_with(|| {
                    order.push(keys);
                    Vec::new()
                })
                .push(pos as u32);
        }
        let groups = order
            .into_iter()
            .map(|keys| {
                let members = by_keys.remove(&keys).expect("a group");
                Group::new(keys, members, &sets)
            })
            .collect();
        Shadowers {
            rules,
            sets,
            groups,
        }
    }

    /// The first of the rules before position `before` that matches every in-scope record
    /// `rule` matches.
    pub(super) fn first_containing(
        &self,
        p: &Policy,
        rule: &Rule,
        before: usize,
    ) -> Option<&'r Rule> {
        if before == 0 {
            return None;
        }
        let left: Vec<Option<Set>> = Key::ALL.iter().map(|&k| effective(p, rule, k)).collect();
        let constrained =
            Key::ALL
                .iter()
                .zip(&left)
                .fold(0, |m, (&k, s)| if s.is_some() { m | bit(k) } else { m });
        let holds = |pos: u32| {
            self.sets[pos as usize].iter().all(|(k, theirs)| {
                left[key_index(*k)]
                    .as_ref()
                    .is_some_and(|mine| mine.is_subset(theirs))
            })
        };
        let mut best = before;
        for group in &self.groups {
            // A key the rule and scope leave open is never held (a record may hold `-`).
            if group.keys & !constrained != 0 {
                continue;
            }
            let mine = left[key_index(group.lead)].as_ref().expect("constrained");
            for list in group.candidates(mine) {
                for &pos in list {
                    if pos as usize >= best {
                        break;
                    }
                    if holds(pos) {
                        best = pos as usize;
                        break;
                    }
                }
            }
        }
        self.rules.get(best).copied().filter(|_| best < before)
    }
}

fn key_index(key: Key) -> usize {
    bit(key).trailing_zeros() as usize
}

impl Group {
    fn new(keys: u16, members: Vec<u32>, sets: &[Vec<(Key, Set)>]) -> Group {
        let set_of = |pos: u32, key: Key| -> &Set {
            &sets[pos as usize]
                .iter()
                .find(|(k, _)| *k == key)
                .expect("a key of the group")
                .1
        };
        // The lead: the key whose first values differ most between the members.
        let lead = Key::ALL
            .into_iter()
            .filter(|&k| keys & bit(k) != 0)
            .max_by_key(|&k| {
                let firsts: HashSet<Option<u128>> = members
                    .iter()
                    .map(|&pos| first_value(set_of(pos, k)))
                    .collect();
                // Ties go to the first key in `Key::ALL` order.
                (firsts.len(), std::cmp::Reverse(key_index(k)))
            })
            .expect("an allow rule that does not cover the scope writes a key");
        let lead_sets = members.iter().map(|&pos| (pos, set_of(pos, lead)));
        let index = match set_of(members[0], lead) {
            Set::Port(_) => Index::Ports(Stab::new(lead_sets.flat_map(|(pos, s)| match s {
                Set::Port(s) => ranges(s, pos),
                _ => unreachable!("sets of one key have one kind"),
            }))),
            Set::Addr(_) => {
                let mut v4 = Vec::new();
                let mut v6 = Vec::new();
                for (pos, s) in lead_sets {
                    let Set::Addr(s) = s else {
                        unreachable!("sets of one key have one kind")
                    };
                    v4.extend(ranges(s.v4(), pos));
                    v6.extend(ranges(s.v6(), pos));
                }
                Index::Addrs(Stab::new(v4), Stab::new(v6))
            }
            Set::Proto(_) | Set::Bits(_) => {
                let mut lists = vec![Vec::new(); 256];
                for (pos, s) in lead_sets {
                    for v in values(s) {
                        lists[usize::from(v)].push(pos);
                    }
                }
                Index::Values(lists)
            }
            Set::Id(_) => {
                let mut lists: HashMap<Box<str>, Vec<u32>> = HashMap::new();
                for (pos, s) in lead_sets {
                    let Set::Id(s) = s else {
                        unreachable!("sets of one key have one kind")
                    };
                    for id in s.ids() {
                        lists.entry(id.clone()).or_default().push(pos);
                    }
                }
                Index::Ids(lists)
            }
        };
        Group {
            keys,
            lead,
            index,
            members,
        }
    }

    /// Lists (each ascending) holding every member whose lead set could hold `mine`: those
    /// holding its first value. An empty `mine` is inside every set: all members.
    fn candidates<'g>(&'g self, mine: &Set) -> Vec<&'g [u32]> {
        let everyone = || vec![self.members.as_slice()];
        match (&self.index, mine) {
            (Index::Ports(stab), Set::Port(s)) => match s.ranges().first() {
                Some(&(lo, _)) => stab.lists_at(lo),
                None => everyone(),
            },
            (Index::Addrs(v4, v6), Set::Addr(s)) => {
                match (s.v4().ranges().first(), s.v6().ranges().first()) {
                    (Some(&(lo, _)), _) => v4.lists_at(lo),
                    (None, Some(&(lo, _))) => v6.lists_at(lo),
                    (None, None) => everyone(),
                }
            }
            (Index::Values(lists), Set::Proto(_) | Set::Bits(_)) => match values(mine).next() {
                Some(v) => vec![lists[usize::from(v)].as_slice()],
                None => everyone(),
            },
            (Index::Ids(lists), Set::Id(s)) => match s.ids().first() {
                Some(id) => lists.get(id).map(Vec::as_slice).into_iter().collect(),
                None => everyone(),
            },
            _ => unreachable!("sets of one key have one kind"),
        }
    }
}

/// A set's ranges, tagged with the rule's position.
fn ranges<T: Point>(s: &RangeSet<T>, pos: u32) -> impl Iterator<Item = (T, T, u32)> + '_ {
    s.ranges().iter().map(move |&(lo, hi)| (lo, hi, pos))
}

/// The values of a protocol, direction or action set, ascending.
fn values(s: &Set) -> Box<dyn Iterator<Item = u8> + '_> {
    match s {
        Set::Proto(s) => Box::new(s.numbers()),
        Set::Bits(b) => Box::new((0..8).filter(move |&i| b.contains(i))),
        _ => unreachable!("only protocols, directions and actions are value lists"),
    }
}

/// What the lead key is chosen by: a set's first value, as a number (ids by a hash).
fn first_value(s: &Set) -> Option<u128> {
    match s {
        Set::Port(s) => s.ranges().first().map(|r| u128::from(r.0)),
        Set::Addr(s) => s
            .v4()
            .ranges()
            .first()
            .map(|r| u128::from(r.0))
            .or_else(|| s.v6().ranges().first().map(|r| r.0 ^ 1)),
        Set::Proto(_) | Set::Bits(_) => values(s).next().map(u128::from),
        Set::Id(s) => s.ids().first().map(|id| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            id.hash(&mut h);
            u128::from(h.finish())
        }),
    }
}

/// Ranges of one domain, for "which of them hold this point": a segment tree over the
/// elementary intervals their ends cut the domain into. Each range is listed in the O(log n)
/// nodes that make it up; the ranges holding a point are those listed on its leaf's path to
/// the root. Lists keep insertion order, which is the rules' order.
struct Stab<T> {
    /// Where each elementary interval starts, ascending.
    starts: Vec<T>,
    /// Leaves at `size..2 * size`, the root at 1.
    lists: Vec<Vec<u32>>,
    size: usize,
}

impl<T: Point> Stab<T> {
    /// From `(lo, hi, position)` ranges, inclusive, given in ascending position.
    fn new(entries: impl IntoIterator<Item = (T, T, u32)>) -> Stab<T> {
        let entries: Vec<(T, T, u32)> = entries.into_iter().collect();
        let mut starts: Vec<T> = entries
            .iter()
            .flat_map(|&(lo, hi, _)| std::iter::once(lo).chain(hi.succ()))
            .collect();
        starts.sort_unstable();
        starts.dedup();
        let size = starts.len().next_power_of_two();
        let mut lists = vec![Vec::new(); 2 * size];
        let leaf = |x: T| starts.binary_search(&x).expect("an end of a range");
        for (lo, hi, pos) in entries {
            let first = leaf(lo);
            let last = hi.succ().map_or(starts.len() - 1, |next| leaf(next) - 1);
            let (mut l, mut r) = (first + size, last + size + 1);
            while l < r {
                if l & 1 == 1 {
                    lists[l].push(pos);
                    l += 1;
                }
                if r & 1 == 1 {
                    r -= 1;
                    lists[r].push(pos);
                }
                l >>= 1;
                r >>= 1;
            }
        }
        Stab {
            starts,
            lists,
            size,
        }
    }

    /// The lists that together hold every range holding `x`.
    fn lists_at(&self, x: T) -> Vec<&[u32]> {
        let at = self.starts.partition_point(|&s| s <= x);
        if at == 0 {
            return Vec::new();
        }
        let mut node = at - 1 + self.size;
        let mut out = Vec::new();
        while node >= 1 {
            if !self.lists[node].is_empty() {
                out.push(self.lists[node].as_slice());
            }
            node >>= 1;
        }
        out
    }
}
