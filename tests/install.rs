//! `.github/install.sh` against a fake release served over HTTP on loopback: it picks this
//! platform's archive, verifies it and installs a binary that runs; a wrong checksum, a failed
//! download or a wrong archive fails and installs nothing. The archives are packed with
//! `.github/package.sh`, as the release workflow packs them, so the two agree on the layout.
#![cfg(unix)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

use common::root;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The release target this machine's install should pick, as `install.sh` detects it.
fn this_target() -> String {
    let arch = std::env::consts::ARCH;
    match std::env::consts::OS {
        "linux" if cfg!(target_env = "musl") => format!("{arch}-unknown-linux-musl"),
        "linux" => format!("{arch}-unknown-linux-gnu"),
        "macos" => format!("{arch}-apple-darwin"),
        os => panic!("no release target for {os}"),
    }
}

/// The files of a fake release, by name.
type Release = HashMap<String, Vec<u8>>;

/// Packs `binary` for `target` with `.github/package.sh` and returns (archive name, bytes).
fn pack(target: &str, version: &str, binary: &Path) -> (String, Vec<u8>) {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new("sh")
        .arg(root().join(".github/package.sh"))
        .args([target, version])
        .arg(binary)
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let name = format!("flowgate-{target}-v{version}.tar.gz");
    let archive = std::fs::read(out.path().join(&name)).unwrap();
    let sum = std::fs::read_to_string(out.path().join(format!("{name}.sha256"))).unwrap();
    assert_eq!(sum, format!("{}  {name}\n", sha256(&archive)));
    (name, archive)
}

/// SHA-256 as lowercase hex, by the system's own tool (what install.sh checks with).
fn sha256(bytes: &[u8]) -> String {
    let mut child = Command::new("sh")
        .args(["-c", "sha256sum 2>/dev/null || shasum -a 256"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// A release of `VERSION` for every unix target: this platform's archive holds the real
/// flowgate, the others a program that fails, so a wrong pick cannot pass. Packed once.
fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let decoy_dir = tempfile::tempdir().unwrap();
        let decoy = decoy_dir.path().join("flowgate");
        std::fs::write(&decoy, "#!/bin/sh\necho 'wrong target' >&2\nexit 1\n").unwrap();
        let mut files = Release::new();
        for target in released_targets() {
            if target.contains("windows") {
                continue;
            }
            let binary = if target == this_target() {
                PathBuf::from(env!("CARGO_BIN_EXE_flowgate"))
            } else {
                decoy.clone()
            };
            let (name, archive) = pack(&target, VERSION, &binary);
            files.insert(format!("{name}.sha256"), sum_line(&archive, &name));
            files.insert(name, archive);
        }
        files
    })
}

fn sum_line(bytes: &[u8], name: &str) -> Vec<u8> {
    format!("{}  {name}\n", sha256(bytes)).into_bytes()
}

/// Serves `files` at `http://127.0.0.1:PORT/v<version>/<name>` until the test process ends;
/// returns the base URL and the log of requested paths.
fn serve(files: Release) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // Drain the headers, up to the blank line.
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(path.clone());
            let name = path.rsplit('/').next().unwrap_or("");
            let (status, body) = match files.get(name) {
                Some(body) => ("200 OK", body.as_slice()),
                None => ("404 Not Found", b"not found\n".as_slice()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    (format!("http://127.0.0.1:{port}/v{VERSION}"), log)
}

/// Runs `sh .github/install.sh VERSION DEST` with the given environment (and no inherited
/// FLOWGATE_* variable).
fn install(version: &str, dest: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg(root().join(".github/install.sh"))
        .arg(version)
        .arg(dest)
        .env("FLOWGATE_NO_BUILD", "1");
    for var in [
        "FLOWGATE_DOWNLOAD_URL",
        "FLOWGATE_REPOSITORY",
        "FLOWGATE_TARGET",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What `DEST` holds after a failed install: it must not even exist.
fn assert_nothing_installed(out: &Output, dest: &Path) {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    assert!(!dest.exists(), "a failed install left {}", dest.display());
}

/// `released_targets` of install.sh.
fn released_targets() -> Vec<String> {
    let script = std::fs::read_to_string(root().join(".github/install.sh")).unwrap();
    let line = script
        .lines()
        .find_map(|l| l.strip_prefix("RELEASED_TARGETS=\""))
        .expect("install.sh lists RELEASED_TARGETS");
    line.trim_end_matches('"')
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn installs_this_platforms_archive_and_the_binary_runs() {
    let (url, log) = serve(release().clone());
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("bin");
    let out = install(VERSION, &dest, &[("FLOWGATE_DOWNLOAD_URL", &url)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let target = this_target();
    assert!(
        stderr(&out).contains(&format!("installed flowgate {VERSION} ({target})")),
        "{}",
        stderr(&out)
    );
    let archive = format!("flowgate-{target}-v{VERSION}.tar.gz");
    assert_eq!(
        *log.lock().unwrap(),
        [
            format!("/v{VERSION}/{archive}"),
            format!("/v{VERSION}/{archive}.sha256")
        ]
    );
    let installed = dest.join("flowgate");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_flowgate")).unwrap()
    );
    let run = Command::new(&installed).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        format!("flowgate {VERSION}\n")
    );
    // Only the binary lands in DEST, no README, no temporary file.
    let entries: Vec<_> = std::fs::read_dir(&dest).unwrap().collect();
    assert_eq!(entries.len(), 1);

    // Cached by version: a second run finds it and downloads nothing; `v` is optional.
    let out = install(
        &format!("v{VERSION}"),
        &dest,
        &[("FLOWGATE_DOWNLOAD_URL", &url)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("is already in"), "{}", stderr(&out));
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[test]
fn a_wrong_checksum_installs_nothing() {
    let mut files = release().clone();
    let archive = format!("flowgate-{}-v{VERSION}.tar.gz", this_target());
    // The archive changed after its checksum was taken (or the other way round).
    files.get_mut(&archive).unwrap().push(0);
    let (url, _) = serve(files);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("bin");
    let out = install(VERSION, &dest, &[("FLOWGATE_DOWNLOAD_URL", &url)]);
    assert_nothing_installed(&out, &dest);
    assert!(
        stderr(&out).contains("checksum mismatch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_checksum_file_that_is_not_ours_installs_nothing() {
    let archive = format!("flowgate-{}-v{VERSION}.tar.gz", this_target());
    let bytes = release()[&archive].clone();
    for (sum, says) in [
        // Right digest, but for another file: installing would trust the wrong archive.
        (
            sum_line(&bytes, "flowgate-other-v0.0.1.tar.gz"),
            "is the checksum of flowgate-other-v0.0.1.tar.gz",
        ),
        (
            b"<html>rate limited</html>\n".to_vec(),
            "does not hold a SHA-256 checksum",
        ),
        (Vec::new(), "does not hold a SHA-256 checksum"),
    ] {
        let mut files = release().clone();
        files.insert(format!("{archive}.sha256"), sum);
        let (url, _) = serve(files);
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("bin");
        let out = install(VERSION, &dest, &[("FLOWGATE_DOWNLOAD_URL", &url)]);
        assert_nothing_installed(&out, &dest);
        assert!(stderr(&out).contains(says), "{says}: {}", stderr(&out));
    }
}

#[test]
fn a_failed_download_installs_nothing() {
    let archive = format!("flowgate-{}-v{VERSION}.tar.gz", this_target());
    for missing in [archive.clone(), format!("{archive}.sha256")] {
        let mut files = release().clone();
        files.remove(&missing);
        let (url, _) = serve(files);
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("bin");
        let out = install(VERSION, &dest, &[("FLOWGATE_DOWNLOAD_URL", &url)]);
        assert_nothing_installed(&out, &dest);
        assert!(
            stderr(&out).contains(&format!("cannot download {url}/{missing}")),
            "{}",
            stderr(&out)
        );
    }

    // Nothing listens at all.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("bin");
    let url = format!("http://127.0.0.1:{port}/v{VERSION}");
    let out = install(VERSION, &dest, &[("FLOWGATE_DOWNLOAD_URL", &url)]);
    assert_nothing_installed(&out, &dest);
    assert!(stderr(&out).contains("cannot download"), "{}", stderr(&out));
}

#[test]
fn an_archive_without_the_binary_or_of_another_version_installs_nothing() {
    let target = this_target();
    let tmp = tempfile::tempdir().unwrap();

    // The archive's binary is not where the layout says.
    let stage = tmp.path().join("stage");
    let dir = stage.join(format!("flowgate-{target}-v{VERSION}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_flowgate"), dir.join("flowgate-cli")).unwrap();
    let archive = format!("flowgate-{target}-v{VERSION}.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(tmp.path().join(&archive))
        .arg("-C")
        .arg(&stage)
        .arg(dir.file_name().unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(tmp.path().join(&archive)).unwrap();
    let mut files = Release::new();
    files.insert(format!("{archive}.sha256"), sum_line(&bytes, &archive));
    files.insert(archive.clone(), bytes);
    let (url, _) = serve(files);
    let dest = tmp.path().join("bin");
    let out = install(VERSION, &dest, &[("FLOWGATE_DOWNLOAD_URL", &url)]);
    assert_nothing_installed(&out, &dest);
    assert!(
        stderr(&out).contains(&format!("holds no flowgate-{target}-v{VERSION}/flowgate")),
        "{}",
        stderr(&out)
    );

    // A release v9.9.9 whose archive holds this flowgate: the binary is not what was asked.
    let (name, archive) = pack(&target, "9.9.9", Path::new(env!("CARGO_BIN_EXE_flowgate")));
    let mut files = Release::new();
    files.insert(format!("{name}.sha256"), sum_line(&archive, &name));
    files.insert(name, archive);
    let (url, _) = serve(files);
    let out = install("9.9.9", &dest, &[("FLOWGATE_DOWNLOAD_URL", &url)]);
    assert_nothing_installed(&out, &dest);
    assert!(
        stderr(&out).contains(&format!(
            "does not run as flowgate 9.9.9 (it says: {VERSION})"
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_arguments_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("bin");
    let out = install("../../etc", &dest, &[]);
    assert_nothing_installed(&out, &dest);
    assert!(
        stderr(&out).contains("is not a version"),
        "{}",
        stderr(&out)
    );
    let out = Command::new("sh")
        .arg(root().join(".github/install.sh"))
        .arg(VERSION)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("usage: install.sh VERSION DEST_DIR"));
}

#[test]
fn without_an_archive_for_the_platform_it_builds_the_tag_unless_told_not_to() {
    let (url, log) = serve(release().clone());
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("bin");
    let riscv = [
        ("FLOWGATE_DOWNLOAD_URL", url.as_str()),
        ("FLOWGATE_TARGET", "riscv64gc-unknown-linux-gnu"),
    ];
    let out = install(VERSION, &dest, &riscv);
    assert_nothing_installed(&out, &dest);
    assert!(
        stderr(&out).contains("no release archive for riscv64gc-unknown-linux-gnu"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("FLOWGATE_NO_BUILD=1"),
        "{}",
        stderr(&out)
    );

    // With building allowed, it runs `cargo install` from git at the tag: a stand-in cargo
    // records its arguments and "builds" this flowgate into --root.
    let fake = tmp.path().join("fake-cargo");
    std::fs::create_dir_all(&fake).unwrap();
    let args_file = tmp.path().join("cargo-args");
    std::fs::write(
        fake.join("cargo"),
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nwhile [ \"$1\" != --root ]; do shift; done\n\
             mkdir -p \"$2/bin\" && cp '{}' \"$2/bin/flowgate\"\n",
            args_file.display(),
            env!("CARGO_BIN_EXE_flowgate")
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(fake.join("cargo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap());
    let out = install(
        VERSION,
        &dest,
        &[
            riscv[0],
            riscv[1],
            ("FLOWGATE_NO_BUILD", "0"),
            ("PATH", &path),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let args = std::fs::read_to_string(&args_file).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(
        args[..6],
        [
            "install",
            "--git",
            env!("CARGO_PKG_REPOSITORY"),
            "--tag",
            &format!("v{VERSION}"),
            "--locked"
        ]
    );
    assert_eq!(args[6], "--root");
    assert_eq!(args[8], "flowgate");
    assert!(
        stderr(&out).contains("built from source"),
        "{}",
        stderr(&out)
    );
    assert!(dest.join("flowgate").is_file());
    assert!(log.lock().unwrap().is_empty(), "nothing is downloaded");
}

/// The script's repository and targets are the ones Cargo.toml and the release workflow
/// name, so a change to either cannot leave the installer pointing elsewhere.
#[test]
fn the_installer_agrees_with_cargo_toml_and_the_release_workflow() {
    let script = std::fs::read_to_string(root().join(".github/install.sh")).unwrap();
    assert!(
        script.contains(&format!(
            "DEFAULT_REPOSITORY=\"{}\"",
            env!("CARGO_PKG_REPOSITORY")
        )),
        "install.sh's DEFAULT_REPOSITORY is not Cargo.toml's repository"
    );
    let workflow = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    let built: Vec<String> = workflow
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- target: "))
        .map(String::from)
        .collect();
    assert_eq!(built, released_targets());
    assert_eq!(built.len(), 6);
}

/// The README's install commands point at this repository and this version, and none asks
/// crates.io for flowgate (it is not there).
#[test]
fn the_readme_installs_this_version_from_this_repository() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let install = readme
        .split("\n## Install\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has an Install section");
    let repo = env!("CARGO_PKG_REPOSITORY");
    let slug = repo.trim_start_matches("https://github.com/");
    for needle in [
        format!("raw.githubusercontent.com/{slug}/v{VERSION}/.github/install.sh"),
        format!("sh install.sh {VERSION} "),
        format!("cargo binstall --git {repo} flowgate"),
        format!("cargo install --git {repo} --tag v{VERSION} --locked flowgate"),
        format!("uses: {slug}@v{VERSION}"),
    ] {
        assert!(
            install.contains(&needle),
            "the Install section lacks `{needle}`"
        );
    }
    for line in readme.lines() {
        assert!(
            !line.contains("cargo install flowgate"),
            "crates.io has no flowgate: {line}"
        );
        if let Some(at) = line.find("github.com/") {
            let url = &line[at..];
            assert!(
                url.starts_with(&format!("github.com/{slug}")) || !url.contains("flowgate"),
                "another home for flowgate: {line}"
            );
        }
    }
}
