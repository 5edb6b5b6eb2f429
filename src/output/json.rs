//! `--format json` and `--json FILE`: the whole report as one JSON document.
//!
//! This is the complete record of a run, so nothing is capped: every conversation, problem
//! kept and demand is here, in the report's order. The document starts with
//! `schema_version` ([`JSON_SCHEMA_VERSION`]) and `tool`, then the report's own fields; the
//! layout is documented field by field in `docs/outputs.md`. serde_json escapes control
//! characters in strings, so data needs no cleaning here.

use std::io::{self, Write};

use serde::Serialize;

use crate::report::{Report, JSON_SCHEMA_VERSION};

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    tool: &'static str,
    #[serde(flatten)]
    report: &'a Report,
}

/// The report as pretty-printed JSON, ending in a newline.
pub fn render(report: &Report) -> String {
    let mut bytes = Vec::new();
    write(report, &mut bytes).expect("writing to memory cannot fail");
    // serde_json writes UTF-8 only.
    String::from_utf8(bytes).expect("serde_json writes UTF-8")
}

/// [`render`]'s bytes, written to `out` as they are made: a run with a million
/// conversations has a JSON document of hundreds of megabytes, which need not be held in
/// memory on its way to a file (`--json`) or the terminal.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let doc = Document {
        schema_version: JSON_SCHEMA_VERSION,
        tool: "flowgate",
        report,
    };
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    // Serialising plain data with string keys fails only when writing does.
    serde_json::to_writer_pretty(&mut out, &doc).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;
    use serde_json::Value;

    #[test]
    fn parses_back_with_every_part() {
        let report = sample::report();
        let v: Value = serde_json::from_str(&render(&report)).unwrap();
        assert_eq!(v["schema_version"], JSON_SCHEMA_VERSION);
        assert_eq!(v["tool"], "flowgate");
        assert_eq!(v["tool_version"], "0.1.0");
        assert_eq!(v["today"], "2026-03-15");
        assert_eq!(v["run"]["problems_total"], 1);
        assert_eq!(v["run"]["coverage"]["days"].as_array().unwrap().len(), 3);

        let policies = v["policies"].as_array().unwrap();
        assert_eq!(policies.len(), 2);
        let failing = &policies[1];
        assert_eq!(failing["name"], "retail-dedicated-line");
        assert_eq!(failing["status"], "fail");
        assert_eq!(failing["conversations"].as_array().unwrap().len(), 25);
        let first = &failing["conversations"][0];
        assert_eq!(first["client"], "10.0.2.10");
        assert_eq!(first["server_port"], 1433);
        assert_eq!(first["example"]["line"], 2);
        assert_eq!(failing["demands"][1]["kind"], "window");
        assert_eq!(failing["demands"][4]["kind"], "unused-allow");
        assert_eq!(failing["demands"][1]["status"], "fail");
        assert_eq!(failing["waivers"][0]["expired"], true);
        assert_eq!(v["findings"][0]["code"], "rule-shadowed");
        assert_eq!(v["findings"][0]["origin"], "lint");
        assert_eq!(v["findings"][0]["line"], 16);
    }

    #[test]
    fn conversations_are_not_capped() {
        let mut report = sample::report();
        report.policies[1].conversations = (0..5000).map(|i| sample::conversation(i, 1)).collect();
        let v: Value = serde_json::from_str(&render(&report)).unwrap();
        assert_eq!(
            v["policies"][1]["conversations"].as_array().unwrap().len(),
            5000
        );
    }

    #[test]
    fn hostile_strings_survive_as_data() {
        let report = sample::hostile_report();
        let text = render(&report);
        assert!(!text.contains('\x1b') && !text.contains('\0') && !text.contains('\r'));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["policies"][0]["name"], format!("{}0", sample::HOSTILE));
    }

    #[test]
    fn same_report_same_bytes() {
        assert_eq!(render(&sample::report()), render(&sample::report()));
    }

    #[test]
    fn snapshot() {
        // Two conversations show their layout; the other 23 would only make the file longer.
        let mut report = sample::report();
        report.policies[1].conversations.truncate(2);
        insta::assert_snapshot!(render(&report));
    }

    /// The run's bound kept a sample: the policy says how (`conversations_sampled`), the
    /// services which are sampled, and what was not kept sums into
    /// `conversations_not_listed`.
    #[test]
    fn a_sampled_listing_says_so() {
        let mut report = sample::sampled_report();
        report.policies[1].conversations.truncate(2);
        let text = render(&report);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let p = &v["policies"][1];
        assert_eq!(
            p["conversations_sampled"]["keep_conversations"], 7,
            "{text}"
        );
        assert_eq!(p["services"][0]["sampled"], true, "{text}");
        insta::assert_snapshot!(text);
    }

    /// An empty sample's count is a lower bound, said as such: one per service.
    #[test]
    fn an_empty_sample_counts_at_least_its_services() {
        let text = render(&sample::empty_sample_report());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let p = &v["policies"][1];
        assert_eq!(p["conversations_sampled"]["sampled"], 0, "{text}");
        assert_eq!(
            p["conversations_sampled"]["not_listed_count"], "at_least",
            "{text}"
        );
        let services = p["services"].as_array().unwrap().len();
        assert_eq!(p["conversations_not_listed"]["conversations"], services);
    }

    #[test]
    fn expectations_are_in_the_policy_and_failing_ones_in_findings() {
        let v: Value = serde_json::from_str(&render(&sample::report_with_expectations())).unwrap();
        let e = &v["policies"][1]["expectations"];
        assert_eq!(e.as_array().unwrap().len(), 2);
        assert_eq!(e[1]["name"], "443 is open to the settlement subnet only");
        assert_eq!(e[1]["holds"], false);
        assert_eq!(e[1]["line"], 39);
        let f = v["findings"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(f["origin"], "expect");
        assert_eq!(f["subject"], "443 is open to the settlement subnet only");
    }
}
