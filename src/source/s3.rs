//! `--logs s3://bucket/prefix/`: objects listed from a bucket and read where they are.
//!
//! A prefix is listed into archives like a local folder is walked: sorted by key, every object
//! an archive unless its name says it is plainly not evidence, and what is passed over listed
//! with why. With `--since/--until` only the date folders that can hold a record of the window
//! are listed ([`window`]), folder by folder down the `YYYY/MM/DD[/HH]` or `year=…` layout, and
//! objects whose key time is outside it are not read: each pruned folder and skipped object is
//! listed in the run summary, with why.
//!
//! The objects themselves are read by the same readers as local files (`flowlog::archive`
//! opens an [`Object`] through [`Object::read_whole`], [`Object::stream`] and
//! [`Object::read_range`]). Requests, retries and credentials are `client`'s.

#[cfg(feature = "s3")]
mod client;
#[cfg(feature = "s3")]
mod credentials;
#[cfg(feature = "s3")]
mod provider;
pub mod window;

use std::fmt;
use std::io::{self, Read};
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

#[cfg(feature = "s3")]
pub use client::Client;
use window::{key_span, Window};

/// Why a bucket could not be listed (or a connection to it made).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{message}")]
    Credentials { bucket: String, message: String },
    #[error("cannot set up the S3 client: {message}")]
    Setup { bucket: String, message: String },
    /// A request that failed after its retries.
    #[error("{0}")]
    Request(String),
    /// A key object_store cannot name (an empty segment, `a//b`).
    #[error("{0}")]
    Key(String),
}

/// A build without the `s3` feature (`--no-default-features`, as the fuzz targets and a policy
/// repository's `cargo test` may use) has no S3 client: none can exist, so no [`Object`] can,
/// and an `s3://` path is an error when listed.
#[cfg(not(feature = "s3"))]
pub enum Client {}

#[cfg(not(feature = "s3"))]
impl Client {
    fn get_whole(&self, _: &str) -> Result<Bytes, (Bytes, io::Error)> {
        match *self {}
    }

    fn stream(&self, _: &str) -> io::Result<Box<dyn Read + Send>> {
        match *self {}
    }

    fn get_range(&self, _: &str, _: Range<u64>) -> io::Result<Bytes> {
        match *self {}
    }
}

/// One object of a bucket: where an archive's bytes are, and the client that reads them.
#[derive(Clone)]
pub struct Object {
    pub bucket: String,
    pub key: String,
    /// The size the listing gave.
    pub size: u64,
    client: Arc<Client>,
}

impl Object {
    /// `s3://bucket/key`, as reports name the archive.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The whole object, in one GET (retried, and resumed where a connection was cut). When
    /// it still fails, the bytes read before the failure come with the error, so the records
    /// in them are read like those of a local archive cut short.
    pub fn read_whole(&self) -> Result<Bytes, (Bytes, io::Error)> {
        self.client.get_whole(&self.key)
    }

    /// The object as a stream from its first byte (one GET, resumed where a connection was
    /// cut; an error once retries are spent).
    pub fn stream(&self) -> io::Result<Box<dyn Read + Send>> {
        self.client.stream(&self.key)
    }

    /// Bytes `range` of the object (a ranged GET, retried).
    pub fn read_range(&self, range: Range<u64>) -> io::Result<Bytes> {
        self.client.get_range(&self.key, range)
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} bytes)", self.url(), self.size)
    }
}

impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for Object {}

impl PartialOrd for Object {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Object {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id().cmp(&other.id())
    }
}

impl std::hash::Hash for Object {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id().hash(state)
    }
}

impl Object {
    /// What makes two objects the same: the client that reads them is not part of it.
    fn id(&self) -> (&str, &str, u64) {
        (&self.bucket, &self.key, self.size)
    }
}

/// What listing S3 prefixes found and passed over, for the run summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Listing {
    /// LIST requests made (pages included).
    pub list_requests: u64,
    /// Objects the listings returned.
    pub objects_listed: u64,
    /// Objects to read: the archives.
    pub objects_to_read: u64,
    /// Objects whose key time is outside `--since/--until`: not read.
    pub objects_outside_window: u64,
    /// Objects whose name says they are not flow logs (documentation, folder markers, …).
    pub objects_not_evidence: u64,
    /// Date folders not listed at all: none of their objects can hold a record of the window.
    pub folders_outside_window: u64,
}

impl Listing {
    pub fn add(&mut self, o: &Listing) {
        self.list_requests += o.list_requests;
        self.objects_listed += o.objects_listed;
        self.objects_to_read += o.objects_to_read;
        self.objects_outside_window += o.objects_outside_window;
        self.objects_not_evidence += o.objects_not_evidence;
        self.folders_outside_window += o.folders_outside_window;
    }
}

/// Whether a `--logs` path names S3.
pub fn is_url(path: &std::path::Path) -> bool {
    path.to_str().is_some_and(|s| s.starts_with("s3://"))
}

/// `s3://bucket/prefix` split into bucket and prefix (which may be empty).
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("`{url}` is not an s3:// URL"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !valid {
        return Err(format!(
            "`{url}`: `{bucket}` is not a bucket name (3 to 63 lower-case letters, digits, dots and dashes)"
        ));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// What a listing returns for one level below a prefix (delimiter `/`).
#[derive(Debug, Default)]
pub struct Level {
    pub objects: Vec<Listed>,
    /// Sub-prefixes, each ending in `/`.
    pub prefixes: Vec<String>,
}

/// An object as a listing names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
}

/// LIST requests, one level at a time or everything below a prefix. Pages are followed by the
/// implementation; each returns how many requests it made.
pub trait Lister {
    fn level(&self, prefix: &str) -> Result<(Level, u64), ConnectError>;
    fn all(&self, prefix: &str) -> Result<(Vec<Listed>, u64), ConnectError>;
}

/// What a walk of one prefix found: the objects to read, and what it passed over with why.
#[derive(Debug, Default)]
pub struct Walk {
    pub objects: Vec<Listed>,
    pub skipped: Vec<(String, String)>,
    pub listing: Listing,
}

/// Lists `prefix` of `bucket` for the window: all of it at once when the window is open or
/// covers it, else folder by folder, not listing the date folders the window cannot reach.
pub fn walk(
    lister: &dyn Lister,
    bucket: &str,
    prefix: &str,
    window: Window,
) -> Result<Walk, ConnectError> {
    let mut walk = Walk::default();
    descend(lister, bucket, prefix, window, &mut walk)?;
    walk.objects.sort_by(|a, b| a.key.cmp(&b.key));
    walk.skipped.sort();
    walk.listing.objects_to_read = walk.objects.len() as u64;
    Ok(walk)
}

fn descend(
    lister: &dyn Lister,
    bucket: &str,
    prefix: &str,
    window: Window,
    walk: &mut Walk,
) -> Result<(), ConnectError> {
    let whole = window.is_unbounded() || key_span(prefix).is_some_and(|s| window.covers(s));
    if whole {
        let (objects, requests) = lister.all(prefix)?;
        walk.listing.list_requests += requests;
        for o in objects {
            consider(o, bucket, window, walk);
        }
        return Ok(());
    }
    let (level, requests) = lister.level(prefix)?;
    walk.listing.list_requests += requests;
    for o in level.objects {
        consider(o, bucket, window, walk);
    }
    for sub in level.prefixes {
        match key_span(&sub) {
            Some(span) if !window.may_hold(span) => {
                walk.listing.folders_outside_window += 1;
                walk.skipped.push((
                    format!("s3://{bucket}/{sub}"),
                    format!(
                        "folder not listed: its objects' key times ({}) hold no record of {}",
                        span.describe(),
                        window.describe()
                    ),
                ));
            }
            _ => descend(lister, bucket, &sub, window, walk)?,
        }
    }
    Ok(())
}

/// An object of a listing: read, or passed over with why.
fn consider(o: Listed, bucket: &str, window: Window, walk: &mut Walk) {
    walk.listing.objects_listed += 1;
    let name = o.key.rsplit('/').next().unwrap_or_default();
    let reason = if o.key.ends_with('/') {
        Some("a folder marker (an empty object named like a folder), not flow logs".to_string())
    } else {
        super::skip_reason(name)
    };
    if let Some(reason) = reason {
        walk.listing.objects_not_evidence += 1;
        walk.skipped
            .push((format!("s3://{bucket}/{}", o.key), reason));
        return;
    }
    if let Some(span) = key_span(&o.key).filter(|s| !window.may_hold(*s)) {
        walk.listing.objects_outside_window += 1;
        walk.skipped.push((
            format!("s3://{bucket}/{}", o.key),
            format!(
                "not read: its key time ({}) holds no record of {}",
                span.describe(),
                window.describe()
            ),
        ));
        return;
    }
    walk.objects.push(o);
}

/// Lists `url` into `found` (archives, what was passed over, and the listing's counts); a
/// bucket that cannot be listed is an error naming the bucket, the prefix and the
/// credentials tried.
#[cfg(not(feature = "s3"))]
pub(super) fn discover(
    url: &str,
    _: Window,
    _: &mut Vec<Arc<Client>>,
    found: &mut super::Discovery,
) {
    found.errors.push(super::DiscoverError::S3 {
        url: url.to_string(),
        message: "this flowgate was built without S3 support (the `s3` feature, on by default)"
            .to_string(),
    })
}

#[cfg(feature = "s3")]
pub(super) fn discover(
    url: &str,
    window: Window,
    clients: &mut Vec<Arc<Client>>,
    found: &mut super::Discovery,
) {
    let fail = |found: &mut super::Discovery, message: String| {
        found.errors.push(super::DiscoverError::S3 {
            url: url.to_string(),
            message,
        })
    };
    let (bucket, prefix) = match parse_url(url) {
        Ok(parts) => parts,
        Err(e) => return fail(found, e),
    };
    let client = match clients.iter().find(|c| c.bucket() == bucket) {
        Some(c) => Arc::clone(c),
        None => match Client::connect(&bucket) {
            Ok(c) => {
                let c = Arc::new(c);
                clients.push(Arc::clone(&c));
                c
            }
            Err(e) => {
                return fail(
                    found,
                    format!("cannot list prefix `{prefix}` of bucket `{bucket}`: {e}"),
                )
            }
        },
    };
    let result = walk(client.as_ref(), &bucket, &prefix, window);
    let w = match result {
        Ok(w) => w,
        Err(e) => return fail(found, client.explain(&prefix, &e)),
    };
    found
        .s3
        .get_or_insert_with(Listing::default)
        .add(&w.listing);
    for (path, reason) in w.skipped {
        found.skipped.push(super::Skipped { path, reason });
    }
    if w.objects.is_empty()
        && w.listing.objects_listed == 0
        && w.listing.folders_outside_window == 0
    {
        // An empty prefix is what a typo in it looks like: say so, with where it looked.
        return fail(
            found,
            format!(
                "no object under prefix `{prefix}` of bucket `{bucket}` (credentials: {})",
                client.credentials()
            ),
        );
    }
    for o in w.objects {
        let object = Object {
            bucket: bucket.clone(),
            key: o.key,
            size: o.size,
            client: Arc::clone(&client),
        };
        found.archives.push(super::Archive {
            display: object.url(),
            meta: super::ArchiveMeta::from_key(&object.key),
            source: super::Source::S3(object),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A bucket in memory that counts the requests made of it.
    struct Fake {
        keys: Vec<String>,
        requests: RefCell<Vec<String>>,
    }

    impl Lister for Fake {
        fn level(&self, prefix: &str) -> Result<(Level, u64), ConnectError> {
            self.requests.borrow_mut().push(format!("level {prefix}"));
            let mut level = Level::default();
            for k in self.keys.iter().filter(|k| k.starts_with(prefix)) {
                match k[prefix.len()..].find('/') {
                    Some(i) => {
                        let sub = k[..prefix.len() + i + 1].to_string();
                        if level.prefixes.last() != Some(&sub) {
                            level.prefixes.push(sub);
                        }
                    }
                    None => level.objects.push(Listed {
                        key: k.clone(),
                        size: 1,
                    }),
                }
            }
            Ok((level, 1))
        }

        fn all(&self, prefix: &str) -> Result<(Vec<Listed>, u64), ConnectError> {
            self.requests.borrow_mut().push(format!("all {prefix}"));
            let objects = self
                .keys
                .iter()
                .filter(|k| k.starts_with(prefix))
                .map(|k| Listed {
                    key: k.clone(),
                    size: 1,
                })
                .collect();
            Ok((objects, 1))
        }
    }

    /// Two days of 5-minute objects of one flow log, hourly folders on the second day, and a
    /// README at the top.
    fn bucket() -> Fake {
        let mut keys = vec!["logs/README.md".to_string()];
        for (day, hourly) in [("01", false), ("02", true)] {
            for hour in 0..24 {
                for minute in (0..60).step_by(5) {
                    let folder = if hourly {
                        format!("2026/11/{day}/{hour:02}/")
                    } else {
                        format!("2026/11/{day}/")
                    };
                    keys.push(format!(
                        "logs/AWSLogs/123456789012/vpcflowlogs/eu-west-1/{folder}123456789012_vpcflowlogs_eu-west-1_fl-1_202611{day}T{hour:02}{minute:02}Z_abc.log.gz"
                    ));
                }
            }
        }
        keys.sort();
        Fake {
            keys,
            requests: RefCell::default(),
        }
    }

    const NOV_2: u64 = 1_793_577_600;

    #[test]
    fn an_open_window_lists_everything_in_one_go() {
        let b = bucket();
        let w = walk(&b, "b", "logs/", Window::default()).unwrap();
        assert_eq!(w.objects.len(), 2 * 288);
        assert_eq!(w.skipped.len(), 1, "{:?}", w.skipped);
        assert!(w.skipped[0].1.contains("documentation"));
        assert_eq!(*b.requests.borrow(), ["all logs/"]);
        assert_eq!(w.listing.objects_listed, 2 * 288 + 1);
    }

    #[test]
    fn a_two_hour_window_lists_only_its_folders_and_reads_only_its_objects() {
        let b = bucket();
        let window = Window {
            since: Some(NOV_2 + 7 * 3600),
            until: Some(NOV_2 + 9 * 3600),
        };
        let w = walk(&b, "b", "logs/", window).unwrap();
        // 24 slots in the window, one before it (06:55: its records end by 07:00, and the
        // margin) and three after it (09:00 to 09:10: records start from 08:45, less the margin).
        let first = w.objects.first().unwrap().key.clone();
        let last = w.objects.last().unwrap().key.clone();
        assert!(first.contains("T0655Z"), "{first}");
        assert!(last.contains("T0910Z"), "{last}");
        assert_eq!(w.objects.len(), 24 + 1 + 3);
        // Day 1 and the hours outside 06-09 are never listed.
        let requests = b.requests.borrow();
        assert!(!requests.iter().any(|r| r.contains("2026/11/01/")));
        assert!(!requests
            .iter()
            .any(|r| r.contains("/05/") || r.contains("/10/")));
        assert!(requests.len() <= 12, "{requests:?}");
        assert_eq!(w.listing.folders_outside_window, 1 + 20);
        let skipped_objects = w
            .skipped
            .iter()
            .filter(|(_, why)| why.starts_with("not read"))
            .count() as u64;
        assert_eq!(skipped_objects, w.listing.objects_outside_window);
        assert_eq!(w.listing.objects_outside_window, 4 * 12 - 28);
        assert!(w.skipped.iter().any(|(p, why)| p
            == "s3://b/logs/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/01/"
            && why.contains("folder not listed")));
    }

    /// The same two days under Hive-style folders with hourly partitions
    /// (`aws-account-id=…/year=…/month=…/day=…/hour=…/`), as Parquet objects.
    fn hive_bucket() -> Fake {
        let mut keys = Vec::new();
        for day in ["01", "02"] {
            for hour in 0..24 {
                for minute in (0..60).step_by(5) {
                    keys.push(format!(
                        "logs/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2026/month=11/day={day}/hour={hour:02}/123456789012_vpcflowlogs_eu-west-1_fl-1_202611{day}T{hour:02}{minute:02}Z_abc.log.parquet"
                    ));
                }
            }
        }
        keys.sort();
        Fake {
            keys,
            requests: RefCell::default(),
        }
    }

    #[test]
    fn a_two_hour_window_prunes_hive_folders_the_same_way() {
        let b = hive_bucket();
        let window = Window {
            since: Some(NOV_2 + 7 * 3600),
            until: Some(NOV_2 + 9 * 3600),
        };
        let w = walk(&b, "b", "logs/", window).unwrap();
        assert_eq!(w.objects.len(), 24 + 1 + 3);
        assert!(
            w.objects[0].key.contains("day=02/hour=06/"),
            "{:?}",
            w.objects[0]
        );
        assert!(w.objects[27].key.contains("T0910Z"), "{:?}", w.objects[27]);
        let requests = b.requests.borrow();
        // Down the partition folders one level at a time; day 1 and the hours outside
        // 06-09 are never listed.
        assert!(
            !requests.iter().any(|r| r.contains("day=01/")),
            "{requests:?}"
        );
        assert!(
            !requests
                .iter()
                .any(|r| r.contains("hour=05/") || r.contains("hour=10/")),
            "{requests:?}"
        );
        assert!(requests.len() <= 12, "{requests:?}");
        assert_eq!(w.listing.folders_outside_window, 1 + 20);
        assert_eq!(w.listing.objects_outside_window, 4 * 12 - 28);
        assert_eq!(w.listing.objects_listed, 4 * 12);
    }

    /// Without the `s3` feature an `s3://` path is an error saying why, never an empty run.
    #[cfg(not(feature = "s3"))]
    #[test]
    fn without_the_feature_an_s3_path_is_an_error_naming_it() {
        let found = crate::source::discover(&[std::path::PathBuf::from("s3://my-logs/AWSLogs/")]);
        assert!(found.archives.is_empty());
        assert_eq!(found.errors.len(), 1);
        assert_eq!(
            found.errors[0].to_string(),
            "s3://my-logs/AWSLogs/: this flowgate was built without S3 support (the `s3` \
             feature, on by default)"
        );
    }

    #[test]
    fn urls_split_into_bucket_and_prefix() {
        assert_eq!(
            parse_url("s3://my-logs/AWSLogs/").unwrap(),
            ("my-logs".to_string(), "AWSLogs/".to_string())
        );
        assert_eq!(
            parse_url("s3://my-logs").unwrap(),
            ("my-logs".to_string(), String::new())
        );
        assert!(parse_url("s3://My_Logs/x")
            .unwrap_err()
            .contains("not a bucket name"));
        assert!(is_url(std::path::Path::new("s3://b/p")));
        assert!(!is_url(std::path::Path::new("fixtures")));
    }
}
