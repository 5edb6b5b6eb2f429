//! Where an archive shows an end to be a server, as the survey notes it for every end of the
//! archive being read: `engine::server::Lines` in 12 bytes instead of 24.
//!
//! The survey's table of an archive's ends is touched twice a record, and twice more for each
//! record in scope when the archive ends (to decide its server). With 64-bit line numbers its
//! slots took 40 bytes, with these 24, so more of it stays in a core's cache while the
//! archive's text streams through. Nothing else changes: the lines are widened when the
//! archive ends. A line number that does not fit (an archive of more than 4 billion lines) is
//! noted as unknown: its end then gets no witness from the survey, and the read-back
//! (`verify`) keeps the witnesses it needs by reading the archive again, as it does for any
//! record the sample keys otherwise than the input.

use crate::engine::server::{Lines, Witness};

/// A line number that did not fit.
const UNKNOWN: u32 = u32::MAX;

/// [`Lines`] with 32-bit line numbers (0: none, as there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Near {
    first: u32,
    second: u32,
    flag: u32,
}

fn narrow(line: u64) -> u32 {
    u32::try_from(line).unwrap_or(UNKNOWN)
}

impl Witness for Near {
    #[inline]
    fn first(line: u64) -> Self {
        Near {
            first: narrow(line),
            second: 0,
            flag: 0,
        }
    }

    #[inline]
    fn fan_in(&mut self, line: u64) {
        if self.second == 0 {
            self.second = narrow(line);
        }
    }

    #[inline]
    fn flagged(&mut self, line: u64) {
        if self.flag == 0 {
            self.flag = narrow(line);
        }
    }
}

impl Near {
    /// The lines as `engine::server::Lines` holds them; an unknown one is none, and a fan-in
    /// witness needs both of its lines.
    pub fn wide(self) -> Lines {
        let wide = |l: u32| if l == UNKNOWN { 0 } else { u64::from(l) };
        let first = wide(self.first);
        let second = if first == 0 { 0 } else { wide(self.second) };
        Lines {
            first,
            second,
            flag: wide(self.flag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same notes give the same lines as `Lines` gets, for any line that fits.
    #[test]
    fn near_lines_widen_to_the_engines() {
        let runs: [&[(u8, u64)]; 4] = [
            &[(0, 7)],
            &[(0, 7), (1, 9), (1, 12), (2, 15), (2, 20)],
            &[(0, 1), (2, 3)],
            &[(0, 5), (2, 6), (1, 8), (1, 9), (2, 10)],
        ];
        for run in runs {
            let (mut lines, mut near) = (Lines::default(), Near::default());
            for &(what, line) in run {
                match what {
                    0 => {
                        lines = Lines::first(line);
                        near = Near::first(line);
                    }
                    1 => {
                        lines.fan_in(line);
                        near.fan_in(line);
                    }
                    _ => {
                        lines.flagged(line);
                        near.flagged(line);
                    }
                }
            }
            assert_eq!(near.wide(), lines, "{run:?}");
            assert_eq!(near.wide().witnesses(), lines.witnesses());
        }
    }

    /// A line past 32 bits is no witness: a fan-in pair with an unknown line is dropped whole,
    /// a flag kept when its own line fits.
    #[test]
    fn lines_that_do_not_fit_are_no_witnesses() {
        let far = u64::from(u32::MAX) + 3;
        let mut n = Near::first(far);
        n.fan_in(40);
        assert!(n.wide().witnesses().is_empty());
        n.flagged(41);
        assert_eq!(n.wide().witnesses(), vec![41]);

        let mut n = Near::first(3);
        n.fan_in(far);
        assert!(n.wide().witnesses().is_empty());
        assert_eq!(n.wide().first, 3);
        assert_eq!(std::mem::size_of::<Near>(), 12);
    }
}
