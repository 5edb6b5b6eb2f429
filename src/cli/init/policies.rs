//! The policies in `policies/`, tested against the flow logs in `fixtures/`: `cargo test`
//! fails with flowgate's report when a policy would block traffic the logs show.

use std::path::Path;

/// The date waivers are judged against. Fixed, so the test does not change verdict overnight;
/// move it forward when you renew waivers (the CI workflow uses the real date).
const TODAY: &str = "{{today}}";

#[test]
fn policies_pass_on_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    flowgate::Check::new()
        .policies([root.join("policies")])
        .logs([root.join("fixtures")])
        .today(flowgate::date(TODAY).expect("TODAY is YYYY-MM-DD"))
        .run()
        .expect("policies and flow logs load")
        .assert_passes();
}
