//! The policy loader and lint on any text: a policy that loads is linted, its `[[expect]]`s
//! are run (each flow cut into pieces and judged) and the findings rendered, one that does
//! not has its diagnostics rendered; the text is also read as a flow, as `flowgate explain`
//! reads its argument. Nothing may panic, whatever the TOML (deep nesting, huge numbers, odd
//! CIDRs, spans at the end of the file).
#![no_main]

use flowgate::diag;
use flowgate::policy::{expect, lint, FlowSpec, PolicySet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The loader reads files as UTF-8 and refuses anything else before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(flow) = FlowSpec::parse(text) {
        let _ = flow.to_string();
    }
    match PolicySet::from_sources([("p.toml", text)]) {
        Ok(set) => {
            let today = flowgate::date("2026-06-01").expect("a date");
            let mut findings = lint::lint(&set, today);
            for policy in set.policies() {
                for checked in expect::check(policy, today) {
                    let _ = checked.decided();
                    findings.extend(checked.failure);
                }
            }
            let _ = diag::render(set.files(), &findings, false);
        }
        Err(problems) => {
            assert!(problems.error_count() > 0, "a refused policy says why");
            let _ = problems.render(false);
        }
    }
});
