//! Validation of SARIF output against the SARIF 2.1.0 JSON schema (`tests/schemas`), plus
//! what the schema leaves open but GitHub code scanning needs. Shared by the writer's unit
//! tests (`src/output/sarif.rs`) and the end-to-end ones (`tests/sarif.rs`).

use serde_json::Value;

/// The schema, with the one fix of OASIS errata 01 that a validator needs: the vendored
/// copy's `language` pattern has an unbalanced `]`, which ECMAScript regexes (what the
/// meta-schema checks patterns as) refuse. flowgate writes no `language`.
pub fn validator() -> jsonschema::Validator {
    let schema = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/schemas/sarif-schema-2.1.0.json"
    ))
    .unwrap();
    let broken = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    assert_eq!(
        schema.matches(broken).count(),
        2,
        "the vendored schema changed"
    );
    let schema = schema.replace(broken, r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#);
    jsonschema::validator_for(&serde_json::from_str(&schema).unwrap()).unwrap()
}

/// Every way `v` breaks the schema, or where a result lacks what code scanning needs: a
/// location with a line (errata 01's schema demands one; the vendored copy does not) and a
/// `ruleIndex` naming its rule.
pub fn problems(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = validator()
        .iter_errors(v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    let run = &v["runs"][0];
    for r in run["results"].as_array().into_iter().flatten() {
        let region = &r["locations"][0]["physicalLocation"]["region"];
        if region["startLine"].as_u64().unwrap_or(0) < 1 {
            out.push(format!("no startLine: {r}"));
        }
        let rule = r["ruleIndex"]
            .as_u64()
            .and_then(|i| run["tool"]["driver"]["rules"].get(i as usize));
        if rule.map(|rule| &rule["id"]) != Some(&r["ruleId"]) {
            out.push(format!("ruleIndex does not name ruleId: {r}"));
        }
    }
    out
}

/// Parses `text`, panics with every problem found, returns the document.
pub fn valid(text: &str) -> Value {
    let v: Value = serde_json::from_str(text).unwrap();
    let problems = problems(&v);
    assert!(problems.is_empty(), "{problems:#?}");
    v
}
