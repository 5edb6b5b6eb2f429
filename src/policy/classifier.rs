//! All policies' scopes, allow rules and waivers compiled into one lookup, so that what a
//! record costs grows with the policies whose scope holds it, not with the rules there are.
//!
//! A record is judged in two steps. [`Classifier::lookup`] does the work every policy shares,
//! once per record: the addresses converted for the sets (the interface's and, if some scope
//! wants them, the packet's), then every scope at once through per-field tables of bit rows
//! (`scopes`: one lookup per field, a few ANDs per 64 policies), which gives the policies
//! whose scope holds the record and, for each, which end is its peer end. Then
//! [`Classifier::judge`] for each of those policies: the scope's `action` list (step 3 of
//! DESIGN.md's verdict), the allow rules, and only when none matched the waivers, each set of
//! rules compiled per orientation of the peer end into a decision tree (`rules`) that leads a
//! record to the few rules that can match it, every one of which is then tested and, if it
//! matches, counted.
//!
//! [`Policy::judge`] stays as the reference: the plain per-policy reading of the same
//! verdict, which `suggest` uses for its one policy and which the property tests in
//! `classifier/tests.rs` hold the classifier to, verdict and hit counts, record by record.
//! docs/performance.md says what each structure costs.

mod ids;
mod intervals;
mod rules;
mod scopes;

use crate::flowlog::{Action, Flow};

pub use ids::{fold, id_hash};

use super::matcher::action_bit;
use super::sets::{Bits, Ip};
use super::{Policy, Verdict};
use rules::{Orientation, Oriented, RuleIndex};
use scopes::{Ends, Scopes};

/// Every policy of a run, compiled. Built once per run; shared by every worker.
#[derive(Clone, Debug)]
pub struct Classifier {
    scopes: Scopes,
    policies: Vec<Compiled>,
    /// Whether some policy matches on packet addresses, so the lookup computes them.
    packet: bool,
}

/// One policy's rules, per orientation of its peer end.
#[derive(Clone, Debug)]
struct Compiled {
    /// 0: matched on the interface's addresses; 1: on the packet's.
    view: usize,
    /// The actions the scope judges (step 3).
    actions: Bits,
    /// For the peer end at dst (or a scope without peer networks), and at src.
    sides: [Side; 2],
}

#[derive(Clone, Debug, Default)]
struct Side {
    /// The scope's keys, when the scope index does not settle them alone.
    scope: Option<Option<Oriented>>,
    allows: RuleIndex,
    /// Waivers, each live (`today` on or before its date) or not.
    waivers: RuleIndex,
    live: Vec<bool>,
}

/// What [`Classifier::lookup`] found for one record: which policies' scope holds it. One per
/// worker, reused from record to record.
#[derive(Clone, Debug)]
pub struct Lookup {
    candidates: Vec<u64>,
    peer_dst: Vec<u64>,
    /// Per view, the (src, dst) addresses as the sets are keyed.
    ends: [Ends; 2],
}

impl Lookup {
    /// The policies whose scope holds the record, 64 to a word (bit `i % 64` of word
    /// `i / 64` is policy `i`).
    pub fn candidates(&self) -> &[u64] {
        &self.candidates
    }
}

impl Classifier {
    /// Compiles `policies` (in the order the engine indexes them); waivers are judged live
    /// through `today`.
    pub fn new(policies: &[Policy], today: time::Date) -> Classifier {
        let scopes = Scopes::new(policies);
        let compiled = policies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let side = |o: Orientation| {
                    let index = |rules: Vec<&super::Rule>| {
                        let rules = rules.into_iter().enumerate();
                        RuleIndex::new(
                            rules
                                .filter_map(|(k, r)| {
                                    Some((k as u32, Oriented::new(&r.matcher, o)?))
                                })
                                .collect(),
                        )
                    };
                    Side {
                        scope: (!scopes.settled(i)).then(|| Oriented::new(&p.scope.matcher, o)),
                        allows: index(p.allows.iter().collect()),
                        waivers: index(p.waivers.iter().map(|w| &w.rule).collect()),
                        live: p.waivers.iter().map(|w| today <= w.expires).collect(),
                    }
                };
                let sides = if p.scope.has_peer() {
                    [side(Orientation::PeerIsDst), side(Orientation::PeerIsSrc)]
                } else {
                    let s = side(Orientation::NoPeer);
                    [s.clone(), s]
                };
                Compiled {
                    view: scopes::view(p),
                    actions: p.scope.actions,
                    sides,
                }
            })
            .collect();
        Classifier {
            scopes,
            packet: policies.iter().any(|p| scopes::view(p) == 1),
            policies: compiled,
        }
    }

    /// A fresh [`Lookup`] for this classifier's policies.
    pub fn new_lookup(&self) -> Lookup {
        let words = self.scopes.words();
        Lookup {
            candidates: vec![0; words],
            peer_dst: vec![0; words],
            ends: [(None, None); 2],
        }
    }

    /// The per-record work every policy shares: the addresses converted once per view, and
    /// which policies' scope holds the record. `interface` is `flow.interface` hashed with
    /// [`id_hash`], which the engine computes anyway for its count of interfaces.
    #[inline]
    pub fn lookup(&self, flow: &Flow<'_>, interface: Option<u64>, look: &mut Lookup) {
        look.ends = self.ends(flow);
        self.scopes.lookup(
            flow,
            &look.ends,
            interface,
            &mut look.candidates,
            &mut look.peer_dst,
        );
    }

    /// The record's (src, dst) per view, as the sets are keyed.
    #[inline]
    fn ends(&self, flow: &Flow<'_>) -> [Ends; 2] {
        let (src, dst) = (flow.src.map(Ip::from), flow.dst.map(Ip::from));
        let mut ends = [(src, dst), (None, None)];
        if self.packet {
            let packet = |p: Option<std::net::IpAddr>, a| p.map(Ip::from).or(a);
            ends[1] = (packet(flow.pkt_src, src), packet(flow.pkt_dst, dst));
        }
        ends
    }

    /// Whether `pick` says yes for some policy whose scope holds the record (the scope's
    /// `action` list aside, and a probe's own `peer` and `action` keys left to `pick`), asked
    /// in policy order: for callers that ask once per record and keep no [`Lookup`] (sample's
    /// cut). Allocates nothing for up to 256 policies.
    pub fn any_in_scope(&self, flow: &Flow<'_>, mut pick: impl FnMut(usize) -> bool) -> bool {
        const STACK: usize = 4;
        let words = self.scopes.words();
        let mut stack = [[0u64; STACK]; 2];
        let mut heap: (Vec<u64>, Vec<u64>);
        let (candidates, peer_dst): (&mut [u64], &mut [u64]) = if words <= STACK {
            let [c, p] = &mut stack;
            (&mut c[..words], &mut p[..words])
        } else {
            heap = (vec![0; words], vec![0; words]);
            (&mut heap.0, &mut heap.1)
        };
        let interface = flow.interface.map(id_hash);
        self.scopes
            .lookup(flow, &self.ends(flow), interface, candidates, peer_dst);
        for (w, &word) in candidates.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let i = 64 * w + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if pick(i) {
                    return true;
                }
            }
        }
        false
    }

    /// Steps 3-6 of DESIGN.md's verdict of policy `i` for an OK record that `look` (the same
    /// record's [`Classifier::lookup`]) found in its scope; `OutOfScope` only when the scope
    /// writes a key the lookup left to this step. Every matching allow rule gets a hit; only
    /// when none matched are the waivers tested, each matching one getting a hit. A record
    /// without an action counts as ACCEPT. Allocates nothing.
    #[inline]
    pub fn judge(
        &self,
        i: usize,
        look: &Lookup,
        flow: &Flow<'_>,
        allow_hits: &mut [u64],
        waiver_hits: &mut [u64],
    ) -> Verdict {
        let p = &self.policies[i];
        let peer_dst = look.peer_dst[i / 64] >> (i % 64) & 1 != 0;
        let side = &p.sides[usize::from(!peer_dst)];
        let (src, dst) = look.ends[p.view];
        if let Some(scope) = &side.scope {
            if !scope.as_ref().is_some_and(|s| s.matches(src, dst, flow)) {
                return Verdict::OutOfScope;
            }
        }
        if !p
            .actions
            .contains(action_bit(flow.action.unwrap_or(Action::Accept)))
        {
            return Verdict::AlreadyRejected;
        }
        let mut allowed = false;
        side.allows.each_match(src, dst, flow, |k| {
            allow_hits[k] += 1;
            allowed = true;
        });
        if allowed {
            return Verdict::Allowed;
        }
        if side.waivers.is_empty() {
            return Verdict::Violation {
                expired_waiver: None,
            };
        }
        let mut waived = false;
        let mut expired_waiver = None;
        side.waivers.each_match(src, dst, flow, |k| {
            waiver_hits[k] += 1;
            if side.live[k] {
                waived = true;
            } else if expired_waiver.is_none() {
                expired_waiver = Some(k);
            }
        });
        if waived {
            Verdict::Waived
        } else {
            Verdict::Violation { expired_waiver }
        }
    }
}

#[cfg(test)]
mod tests;
