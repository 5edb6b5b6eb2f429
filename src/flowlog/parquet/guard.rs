//! A panic in the `parquet` crate on damaged data becomes a problem, not a crash.
//!
//! The crate checks most of what it reads, but some of its decoders (DELTA_BYTE_ARRAY, a
//! column chunk's byte range) index or assert on values taken from the file, and a damaged
//! or hostile object makes them panic. One such object must not stop a check that reads
//! thousands, nor print a panic message: [`guard`] runs a call into the crate, catches a
//! panic and returns its message, and while it runs the process's panic hook stays quiet on
//! this thread (every other panic is reported by the hook as before).

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Guarded calls running on this thread.
    static GUARDED: Cell<u32> = const { Cell::new(0) };
}

static QUIET_HOOK: Once = Once::new();

/// Runs `f`; a panic inside it is returned as its message.
pub fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
    GUARDED.with(|g| g.set(g.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    result.map_err(|payload| {
        let what = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        format!("the Parquet decoder failed on damaged data ({what})")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_a_message_and_the_rest_goes_on() {
        assert_eq!(guard(|| 7), Ok(7));
        let got = guard(|| -> u8 { panic!("index 9 out of range") });
        assert_eq!(
            got,
            Err("the Parquet decoder failed on damaged data (index 9 out of range)".into())
        );
        assert_eq!(GUARDED.with(Cell::get), 0);
    }
}
