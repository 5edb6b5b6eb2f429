//! The policy loader and lint on any text: a policy that loads is linted and its findings
//! rendered, one that does not has its diagnostics rendered; nothing may panic, whatever the
//! TOML (deep nesting, huge numbers, odd CIDRs, spans at the end of the file).
#![no_main]

use flowgate::diag;
use flowgate::policy::{lint, PolicySet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The loader reads files as UTF-8 and refuses anything else before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match PolicySet::from_sources([("p.toml", text)]) {
        Ok(set) => {
            let today = flowgate::date("2026-06-01").expect("a date");
            let findings = lint::lint(&set, today);
            let _ = diag::render(set.files(), &findings, false);
        }
        Err(problems) => {
            assert!(problems.error_count() > 0, "a refused policy says why");
            let _ = problems.render(false);
        }
    }
});
