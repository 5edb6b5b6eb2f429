//! What only the S3 suite needs: a real S3-compatible server on loopback (moto's, from PyPI,
//! in memory, one per test binary on a free port, gone when the tests end), uploads to it, and
//! a proxy in front of it that counts the requests and breaks the ones a test asks it to
//! (a 503 `SlowDown` or another error answer, a body cut part way, a slow answer), and
//! counts how many object GETs are in flight at once.
//!
//! Without moto the suite says so and passes locally; under `CI=true` it fails, since `.ci/run`
//! installs moto and a suite that ran nothing must not look green.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A moto server: its port, and the process (ended when the test binary's stdin-holding pipe
/// closes, see [`Moto::start`]).
pub struct Moto {
    pub port: u16,
    _child: Mutex<Child>,
}

/// The suite's server, started on first use; `None` (after saying why) when moto is not
/// installed and this is not CI.
pub fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| Moto::start(&[])).as_ref()
}

/// The suite's server with `bucket` created in it; `None` as [`moto`].
pub fn moto_with_bucket(bucket: &str) -> Option<&'static Moto> {
    let moto = moto()?;
    moto.bucket(bucket);
    Some(moto)
}

impl Moto {
    /// Starts `python3 -m moto.server` on a free port with `env`, and waits until it answers.
    /// The server reads its stdin in a thread and exits when it closes: the test binary holds
    /// the other end, so the server ends with the tests, however they end.
    pub fn start(env: &[(&str, &str)]) -> Option<Moto> {
        let probe = Command::new("python3")
            .args(["-c", "import moto.server"])
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "moto is not installed (pip install 'moto[server]'); .ci/run installs it, and under CI=true the S3 tests fail rather than skip"
            );
            // Straight to stderr, past the test harness's capture, so a local run that skips
            // says so once.
            let _ = writeln!(
                std::io::stderr(),
                "moto is not installed: the S3 tests are skipped (pip install 'moto[server]')"
            );
            return None;
        }
        let port = free_port();
        let script = "import os, sys, threading\n\
             threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\n\
             from moto.server import main\n\
             main(sys.argv[1:])\n";
        let child = Command::new("python3")
            .args(["-c", script, "-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Moto {
            port,
            _child: Mutex::new(child),
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` (an unsigned request: moto does not check signatures unless told to).
    pub fn bucket(&self, bucket: &str) {
        let (status, body) = http(self.port, "PUT", &format!("/{bucket}"), &[]);
        assert_eq!(status, 200, "creating {bucket}: {body}");
    }

    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let (status, body) = http(self.port, "PUT", &format!("/{bucket}/{key}"), bytes);
        assert_eq!(status, 200, "putting {key}: {body}");
    }

    /// Uploads every file under `dir` with its path below `dir` as key, below `prefix`.
    pub fn put_dir(&self, bucket: &str, prefix: &str, dir: &Path) {
        for file in files(dir) {
            let key = file
                .strip_prefix(dir)
                .unwrap()
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            self.put(
                bucket,
                &format!("{prefix}{key}"),
                &std::fs::read(&file).unwrap(),
            );
        }
    }
}

/// Every file below `dir`, sorted.
pub fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request on its own connection: status and body.
pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// What the proxy does to requests whose target contains `path`.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answers the first `times` of them `503 SlowDown`, then passes them on.
    SlowDown { path: String, times: usize },
    /// Passes them on but cuts the answer after `after` bytes of body, the first `times` of
    /// them (`usize::MAX`: always).
    Cut {
        path: String,
        after: usize,
        times: usize,
    },
    /// Answers the first `times` of them with S3's error `code` and HTTP `status`
    /// (`usize::MAX`: always).
    Answer {
        path: String,
        times: usize,
        status: u16,
        code: &'static str,
    },
    /// Passes every one of them on after `millis`: a slow network, so that readers overlap.
    Delay { path: String, millis: u64 },
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// The access key id the request was signed with, if it was.
    pub key_id: Option<String>,
}

impl Seen {
    /// A GET of an object (not a listing).
    pub fn is_object_get(&self) -> bool {
        self.method == "GET"
            && !self.target.contains("list-type")
            && self.target.matches('/').count() > 1
    }
}

/// A proxy on loopback in front of moto: one request per connection, every request logged,
/// faults applied as asked.
pub struct Proxy {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Object GETs in flight now, and the most there ever were at once.
    in_flight: Arc<(AtomicUsize, AtomicUsize)>,
}

impl Proxy {
    pub fn start(upstream: u16, faults: Vec<Fault>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(Mutex::new(faults));
        let in_flight = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let (log, counts) = (Arc::clone(&seen), Arc::clone(&in_flight));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let (log, faults, counts) =
                    (Arc::clone(&log), Arc::clone(&faults), Arc::clone(&counts));
                std::thread::spawn(move || serve(client, upstream, &log, &faults, &counts));
            }
        });
        Proxy {
            port,
            seen,
            in_flight,
        }
    }

    /// The most object GETs that were in flight at once (from the request to its answer).
    pub fn most_in_flight(&self) -> usize {
        self.in_flight.1.load(Ordering::SeqCst)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Object GETs whose target contains `path`.
    pub fn gets(&self, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.is_object_get() && s.target.contains(path))
            .count()
    }
}

/// Counts an object GET in flight while it lives.
struct InFlight<'a>(&'a (AtomicUsize, AtomicUsize));

impl<'a> InFlight<'a> {
    fn enter(counts: &'a (AtomicUsize, AtomicUsize)) -> Self {
        let now = counts.0.fetch_add(1, Ordering::SeqCst) + 1;
        counts.1.fetch_max(now, Ordering::SeqCst);
        InFlight(counts)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve(
    client: TcpStream,
    upstream: u16,
    log: &Mutex<Vec<Seen>>,
    faults: &Mutex<Vec<Fault>>,
    in_flight: &(AtomicUsize, AtomicUsize),
) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut client = client;
    // Several requests may come on one connection; each is answered, then the next read.
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let end = line == "\r\n";
            head.push(line);
            if end {
                break;
            }
        }
        let first: Vec<String> = head[0].split_whitespace().map(str::to_string).collect();
        let (method, target) = (first[0].clone(), first[1].clone());
        let header = |name: &str| {
            head.iter().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let key_id = header("authorization").and_then(|a| {
            let c = a.split("Credential=").nth(1)?;
            Some(c.split('/').next()?.to_string())
        });
        let seen = Seen {
            method: method.clone(),
            target: target.clone(),
            key_id,
        };
        // Counted until the answer is about to be written: once the client has it, it may
        // send its next GET before this thread is done, which is not two in flight.
        let counted = seen.is_object_get().then(|| InFlight::enter(in_flight));
        log.lock().unwrap().push(seen);
        let fault = {
            let mut faults = faults.lock().unwrap();
            let mut hit = None;
            for f in faults.iter_mut() {
                match f {
                    Fault::SlowDown { path, times }
                        if target.contains(path.as_str()) && *times > 0 =>
                    {
                        *times -= 1;
                        hit = Some(f.clone());
                        break;
                    }
                    Fault::Cut { path, times, .. } | Fault::Answer { path, times, .. }
                        if target.contains(path.as_str()) && *times > 0 =>
                    {
                        *times = times.saturating_sub(1);
                        hit = Some(f.clone());
                        break;
                    }
                    Fault::Delay { path, .. } if target.contains(path.as_str()) => {
                        hit = Some(f.clone());
                        break;
                    }
                    _ => {}
                }
            }
            hit
        };
        let refusal = match &fault {
            Some(Fault::SlowDown { .. }) => Some((503, "SlowDown")),
            Some(Fault::Answer { status, code, .. }) => Some((*status, *code)),
            _ => None,
        };
        if let Some((status, code)) = refusal {
            let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{code} (the test proxy)</Message></Error>");
            let answer = format!(
                "HTTP/1.1 {status} {code}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            drop(counted);
            if client.write_all(answer.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        if let Some(Fault::Delay { millis, .. }) = fault {
            std::thread::sleep(Duration::from_millis(millis));
        }
        // Forward with the connection closed after the answer, so its end is the body's end.
        let mut up = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
        let mut request = String::new();
        for line in &head[..head.len() - 1] {
            if !line.to_ascii_lowercase().starts_with("connection:") {
                request.push_str(line);
            }
        }
        request.push_str("Connection: close\r\n\r\n");
        up.write_all(request.as_bytes()).unwrap();
        up.write_all(&body).unwrap();
        let mut answer = Vec::new();
        let _ = up.read_to_end(&mut answer);
        // The answer says the connection closes, so the client never reuses it.
        let start = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(answer.len(), |p| p + 4);
        let head_text = String::from_utf8_lossy(&answer[..start]).into_owned();
        let mut out: Vec<u8> = head_text
            .split("\r\n")
            .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
            .flat_map(|l| format!("{l}\r\n").into_bytes())
            .collect();
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        let body = &answer[start..];
        let body = match fault {
            Some(Fault::Cut { after, .. }) => &body[..after.min(body.len())],
            _ => body,
        };
        out.extend_from_slice(body);
        drop(counted);
        let _ = client.write_all(&out);
        let _ = client.flush();
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
}

/// A stand-in for EC2 instance metadata (IMDSv2) and the ECS/EKS container credentials
/// endpoint on loopback: the token, the role's name, and credentials whose key id says which
/// of the two gave them (`ASIAINSTANCEROLE`, `ASIACONTAINERROLE`).
pub fn metadata_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let mut reader = BufReader::new(client.try_clone().unwrap());
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let creds = |key: &str| {
                format!(
                    r#"{{"Code": "Success", "AccessKeyId": "{key}", "SecretAccessKey": "secret", "Token": "session", "Expiration": "2999-01-01T00:00:00Z"}}"#
                )
            };
            let target = first
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let body = match target.as_str() {
                "/latest/api/token" => "imds-token".to_string(),
                "/latest/meta-data/iam/security-credentials/" => "flow-logs-reader".to_string(),
                "/latest/meta-data/iam/security-credentials/flow-logs-reader" => {
                    creds("ASIAINSTANCEROLE")
                }
                "/container-credentials" => creds("ASIACONTAINERROLE"),
                _ => String::new(),
            };
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(answer.as_bytes());
        }
    });
    port
}
