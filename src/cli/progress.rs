//! The progress line on stderr that `check`, `inspect`, `suggest` and `sample` show while they
//! read archives, local or `s3://` alike.
//!
//! It lives apart from the commands so that each of them uses it without importing another
//! command's file. It is shown only when stderr is a terminal and only once the run has taken
//! more than a second: quick runs, files and CI logs stay clean.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A count of archives done, with what is being done to them ("archives read"), drawn as
/// `⠁ 12 archives read, 3.1/s [00:00:04]`.
pub(super) struct Progress {
    started: Instant,
    done: AtomicU64,
    /// What the count counts; a new stage starts the count again.
    stage: Mutex<String>,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// A progress line counting `stage` (e.g. "archives read"), hidden until the run has
    /// taken a second, and never drawn when stderr is not a terminal.
    pub(super) fn new(stage: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::hidden();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {pos} {msg}, {per_sec} [{elapsed}]",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.set_message(stage);
            bar
        });
        Progress {
            started: Instant::now(),
            done: AtomicU64::new(0),
            stage: Mutex::new(stage.to_string()),
            bar,
        }
    }

    /// One more archive done (called from worker threads).
    pub(super) fn tick(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            if bar.is_hidden() && self.started.elapsed() > Duration::from_secs(1) {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            // `inc`, not `set_position` of our count: two workers that finish together would
            // set their counts in either order, and the line would step back and misjudge
            // the rate.
            bar.inc(1);
        }
    }

    /// One more archive done in `stage`; the first of a new stage starts the count from zero,
    /// so that a command that reads its input more than once never counts an archive twice.
    pub(super) fn tick_in(&self, stage: &str) {
        {
            let mut current = self.stage.lock().unwrap_or_else(|e| e.into_inner());
            if *current != stage {
                stage.clone_into(&mut current);
                self.done.store(0, Ordering::Relaxed);
                if let Some(bar) = &self.bar {
                    // Switched with drawing off: setting the count or the name draws the
                    // line, which would show one stage's count under the other's name.
                    let shown = !bar.is_hidden();
                    bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
                    bar.set_position(0);
                    bar.reset_eta();
                    bar.set_message(stage.to_string());
                    if shown {
                        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    }
                }
            }
        }
        self.tick();
    }

    /// Clears the line: the run's own output follows.
    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_stage_counts_from_zero() {
        let p = Progress::new("objects fetched");
        p.tick_in("objects fetched");
        p.tick_in("objects fetched");
        assert_eq!(p.done.load(Ordering::Relaxed), 2);
        p.tick_in("archives surveyed");
        assert_eq!(p.done.load(Ordering::Relaxed), 1);
        assert_eq!(*p.stage.lock().unwrap(), "archives surveyed");
        p.tick_in("archives surveyed");
        assert_eq!(p.done.load(Ordering::Relaxed), 2);
        p.tick();
        assert_eq!(p.done.load(Ordering::Relaxed), 3);
        p.finish();
    }
}
