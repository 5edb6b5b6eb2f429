//! The HTML report (`--html`) in a real browser: headless Chromium (Debian's `chromium`,
//! which `.ci/run` installs) loads the report of a failing check on the fixtures, and the test
//! checks what a reviewer's browser would do with it:
//!
//! - no console message at all (a script error, a Content-Security-Policy violation, a failed
//!   load all print one), read from Chromium's `--enable-logging=stderr` lines `:CONSOLE`;
//! - no network request: Chromium's only way out is a proxy on loopback that the test runs
//!   and that counts every connection (a control page with a remote image proves it counts);
//! - the script ran (`data-ready`), the filters work, and the SVG timelines are laid out with
//!   a size and a fill (a probe script, added to a copy with its hash in the page's policy,
//!   measures them and writes the result into the DOM that `--dump-dom` prints);
//! - a screenshot, kept as `target/tmp/browser/report.png` (CI can upload it).
//!
//! Without Chromium the test says so and passes locally; under `CI=true` it fails.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine;
use common::{flowgate, root};
use sha2::{Digest, Sha256};

/// The browser to run: `$CHROMIUM`, else `chromium` on PATH.
fn chromium() -> Option<String> {
    let name = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_string());
    let found = Command::new(&name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(name);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "chromium is not installed (apt-get install chromium); .ci/run installs it, and under CI=true the browser test fails rather than skips"
    );
    eprintln!("chromium is not installed: the browser test is skipped (apt-get install chromium)");
    None
}

/// What the trap records for a connection that sent no byte before its read timed out.
const NOTHING_SENT: &str = "(nothing sent)";

/// A proxy that answers nothing and remembers the first line of every connection.
struct Trap {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Trap {
    fn start() -> Trap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut conn = conn;
                conn.set_read_timeout(Some(std::time::Duration::from_secs(2)))
                    .ok();
                let mut buf = [0u8; 512];
                let n = conn.read(&mut buf).unwrap_or(0);
                let text = String::from_utf8_lossy(&buf[..n]);
                let first = text.lines().next().unwrap_or(NOTHING_SENT).to_string();
                log.lock().unwrap().push(first);
            }
        });
        Trap { port, seen }
    }

    /// Requests seen, except the browser's own to Google's service hosts (sign-in and
    /// connectivity checks that no flag of Chromium 148 turns off: `CONNECT
    /// accounts.google.com:443`, `CONNECT www.google.com:443`; and Chromium 156.0.8078.129's
    /// updater, which posts to `update.googleapis.com/service/update2/json` despite
    /// `--disable-component-update`). The page's policy would block a request of the page to
    /// those hosts too, with a console message, which fails the test.
    fn requests(&self) -> Vec<String> {
        // Give a request in flight when the browser exited a moment to be logged.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let browser_own = |r: &str| {
            let target = r.split(' ').nth(1).unwrap_or("");
            let host = target
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .split(['/', ':'])
                .next()
                .unwrap_or("");
            ["google.com", "googleapis.com"]
                .iter()
                .any(|d| host == *d || host.strip_suffix(d).is_some_and(|h| h.ends_with('.')))
        };
        // A connection that sends nothing is no request: Chromium opens spare connections to
        // its proxy ahead of need, and on a busy machine one can stay idle past the read timeout.
        let idle = |r: &str| r == NOTHING_SENT;
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|r| !browser_own(r) && !idle(r))
            .cloned()
            .collect()
    }
}

/// Chromium, headless, in its own profile, every way out through the trap.
fn browser(chrome: &str, profile: &Path, trap: &Trap) -> Command {
    let mut c = Command::new(chrome);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--enable-logging=stderr",
        "--v=0",
        "--hide-scrollbars",
        "--window-size=1280,2400",
        "--proxy-bypass-list=<-loopback>",
        // Chromium's own background traffic (time, sign-in, field trials, safe browsing): off
        // where a flag turns it off; what remains goes to its service hosts, see `requests`.
        "--no-pings",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--disable-breakpad",
        "--metrics-recording-only",
        "--safebrowsing-disable-auto-update",
        "--disable-field-trial-config",
        "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,Translate,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
    ])
    .arg(format!("--proxy-server=http://127.0.0.1:{}", trap.port))
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// Runs the browser on `page` with `extra` arguments; returns (stdout, console lines).
fn run(chrome: &str, page: &Path, trap: &Trap, extra: &[String]) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().unwrap();
    let out = browser(chrome, profile.path(), trap)
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {stderr}");
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

/// The page with a probe script appended and allowed by hash in its policy.
fn with_probe(html: &str) -> String {
    const PROBE: &str = r#"(function () {
  var out = {};
  out.ready = document.documentElement.getAttribute("data-ready");
  var svgs = document.querySelectorAll("svg.timeline");
  out.timelines = svgs.length;
  var box = svgs.length ? svgs[0].getBoundingClientRect() : null;
  out.svgWidth = box ? Math.round(box.width) : 0;
  out.svgHeight = box ? Math.round(box.height) : 0;
  var bars = document.querySelectorAll("svg.timeline rect.bar");
  out.bars = bars.length;
  var tallest = 0, fill = "";
  Array.prototype.forEach.call(bars, function (b) {
    var r = b.getBoundingClientRect();
    if (r.height > tallest) { tallest = Math.round(r.height); fill = getComputedStyle(b).fill; }
  });
  out.tallestBar = tallest;
  out.barFill = fill;
  var form = document.querySelector("form.filter");
  if (form) {
    form.elements.port.value = "65000";
    form.dispatchEvent(new Event("input"));
    out.filteredAway = form.querySelector("output").value;
    form.elements.port.value = "";
    form.dispatchEvent(new Event("input"));
    out.filteredNone = form.querySelector("output").value;
  }
  document.body.setAttribute("data-probe", JSON.stringify(out));
})();"#;
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(PROBE));
    let html = html.replacen("script-src ", &format!("script-src 'sha256-{hash}' "), 1);
    html.replacen("</body>", &format!("<script>{PROBE}</script>\n</body>"), 1)
}

/// The `data-probe` JSON of a dumped DOM.
fn probe(dom: &str) -> serde_json::Value {
    let start = dom
        .find("data-probe=\"")
        .expect("the probe wrote its result")
        + 12;
    let end = start + dom[start..].find('"').unwrap();
    let json = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap()
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_html_report_loads_offline_without_errors_and_draws_its_timelines() {
    let Some(chrome) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let status = flowgate(root())
        .args([
            "check",
            "--policies",
            "examples/spec-only",
            "--today",
            "2026-11-26",
        ])
        .arg("--html")
        .arg(&report)
        .output()
        .unwrap()
        .status;
    assert_eq!(
        status.code(),
        Some(1),
        "the check fails: traffic would be blocked"
    );
    let html = std::fs::read_to_string(&report).unwrap();
    let trap = Trap::start();

    // The page as written: no console message, no request, the script ran.
    let (dom, console) = run(&chrome, &report, &trap, &["--dump-dom".into()]);
    assert_eq!(console, Vec::<String>::new(), "console messages");
    assert!(dom.contains("data-ready=\"true\""), "the page's script ran");
    assert!(
        dom.contains("<output>1 of 1 rows shown</output>"),
        "the filter counted"
    );

    // Measured by a probe: laid-out timelines with bars, filters that filter.
    let probed = dir.path().join("probed.html");
    std::fs::write(&probed, with_probe(&html)).unwrap();
    let (dom, console) = run(&chrome, &probed, &trap, &["--dump-dom".into()]);
    assert_eq!(
        console,
        Vec::<String>::new(),
        "console messages with the probe"
    );
    let p = probe(&dom);
    assert_eq!(p["ready"], "true", "{p}");
    // One timeline of the blocked service (tcp 1433), one of the evidence.
    assert_eq!(p["timelines"], 2, "{p}");
    assert!(p["svgWidth"].as_i64().unwrap() > 300, "{p}");
    assert!(p["svgHeight"].as_i64().unwrap() > 50, "{p}");
    // 1 blocked hour, and every one of the 72 hours of evidence has records.
    assert_eq!(p["bars"], 73, "{p}");
    assert!(p["tallestBar"].as_i64().unwrap() > 50, "{p}");
    assert!(p["barFill"].as_str().unwrap().starts_with("rgb("), "{p}");
    assert_eq!(p["filteredAway"], "0 of 1 rows shown", "{p}");
    assert_eq!(p["filteredNone"], "1 of 1 rows shown", "{p}");

    // A screenshot for people, kept under target/.
    let shot = screenshot_dir().join("report.png");
    let _ = std::fs::remove_file(&shot);
    let (_, console) = run(
        &chrome,
        &report,
        &trap,
        &[format!("--screenshot={}", shot.display())],
    );
    assert_eq!(console, Vec::<String>::new());
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());

    assert_eq!(trap.requests(), Vec::<String>::new(), "network requests");

    // The trap does catch a page that reaches out (without flowgate's policy).
    let control = dir.path().join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><title>control</title><img src=\"http://flowgate.invalid/x.png\">",
    )
    .unwrap();
    let control_trap = Trap::start();
    run(&chrome, &control, &control_trap, &["--dump-dom".into()]);
    let seen = control_trap.requests();
    assert!(
        seen.iter().any(|r| r.contains("flowgate.invalid")),
        "the trap saw no request from the control page: {seen:?}"
    );
}
