//! The connection to one bucket: object_store's S3 client, driven from the scan's threads.
//!
//! object_store is async; the scan is not. One small tokio runtime (two threads, started on
//! first use) runs the requests, and each reader thread waits on its own request with
//! `block_on`, so as many requests are in flight as threads read (`source::S3_READERS`).
//! object_store retries what S3 asks to be retried (throttling, 5xx, `SlowDown`, connections
//! that fail before an answer) with exponential backoff and jitter, and resumes a body cut part
//! way with a ranged GET of the rest (checking the ETag, so an object replaced meanwhile is an
//! error, not a splice); this file sets how often (`AWS_MAX_ATTEMPTS`, else 10 retries within
//! 3 minutes) and turns what still fails into errors that name the object, or the bucket, the
//! prefix and the credentials tried.

use std::io::{self, Read};
use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsCredential};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig,
    StaticCredentialProvider,
};

use super::credentials::{self, Credentials, Resolved};
use super::provider::{AssumeRole, Container, CredentialProcess, Provider, WebIdentity};
use super::{ConnectError, Level, Listed, Lister};

/// A bucket, ready to be listed and read.
pub struct Client {
    bucket: String,
    store: AmazonS3,
    /// Where the credentials came from, for error messages.
    credentials: String,
    /// The endpoint, when not AWS's.
    endpoint: Option<String>,
}

/// The runtime every request runs on: two threads are plenty to drive the sockets, since the
/// threads that wait for the answers are the scan's own.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("flowgate-s3")
            .enable_all()
            .build()
            .expect("a tokio runtime starts")
    })
}

impl Client {
    /// Connects to `bucket` with the credentials, region and endpoint the environment and the
    /// AWS config files give (see `credentials`). Nothing is requested yet, except the
    /// bucket's region from AWS when none is configured.
    pub fn connect(bucket: &str) -> Result<Client, ConnectError> {
        // reqwest is built without a TLS provider of its own: ring, as object_store is, so no
        // C library (aws-lc) is built. rustls deprecates ring's provider for lacking
        // post-quantum key exchange; TLS 1.3 with X25519 is what it negotiates instead.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let resolved = credentials::resolve(&credentials::Process).map_err(|message| {
            ConnectError::Credentials {
                bucket: bucket.to_string(),
                message,
            }
        })?;
        let setup = |message: String| ConnectError::Setup {
            bucket: bucket.to_string(),
            message,
        };
        let mut options = ClientOptions::new()
            .with_timeout_disabled()
            .with_read_timeout(Duration::from_secs(60));
        if resolved
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"))
        {
            // The user named a plain-HTTP endpoint (a local S3-compatible store).
            options = options.with_allow_http(true);
        }
        let region = match (&resolved.region, &resolved.endpoint) {
            (Some(r), _) => r.clone(),
            (None, Some(_)) => "us-east-1".to_string(),
            (None, None) => runtime()
                .block_on(object_store::aws::resolve_bucket_region(bucket, &options))
                .map_err(|e| {
                    setup(format!(
                        "no region is configured (AWS_REGION, or region in the profile) and asking AWS for the bucket's failed: {e}"
                    ))
                })?,
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&region)
            .with_retry(retry_config())
            .with_client_options(options);
        if let Some(endpoint) = &resolved.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        builder = with_credentials(builder, &resolved, &region).map_err(setup)?;
        let store = builder.build().map_err(|e| setup(e.to_string()))?;
        Ok(Client {
            bucket: bucket.to_string(),
            store,
            credentials: resolved.source,
            endpoint: resolved.endpoint,
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Where the credentials came from (and the endpoint, when not AWS's).
    pub fn credentials(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("{}, endpoint {e}", self.credentials),
            None => self.credentials.clone(),
        }
    }

    /// A listing error as users need it: bucket, prefix, what S3 said, credentials tried.
    pub fn explain(&self, prefix: &str, error: &ConnectError) -> String {
        format!(
            "cannot list prefix `{prefix}` of bucket `{}`: {} (credentials: {})",
            self.bucket,
            plain(&error.to_string()),
            self.credentials()
        )
    }

    /// The whole object; on failure, what was read before it and the error.
    pub fn get_whole(&self, key: &str) -> Result<Bytes, (Bytes, io::Error)> {
        let location = path(key).map_err(|e| (Bytes::new(), e))?;
        runtime().block_on(async {
            let result = self
                .store
                .get(&location)
                .await
                .map_err(|e| (Bytes::new(), io_error(e)))?;
            let mut all = BytesMut::with_capacity(result.meta.size as usize);
            let mut stream = result.into_stream();
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(c) => all.extend_from_slice(&c),
                    Err(e) => return Err((all.freeze(), io_error(e))),
                }
            }
            Ok(all.freeze())
        })
    }

    /// The object as a blocking stream.
    pub fn stream(&self, key: &str) -> io::Result<Box<dyn Read + Send>> {
        let location = path(key)?;
        let result = runtime()
            .block_on(self.store.get(&location))
            .map_err(io_error)?;
        Ok(Box::new(Blocking {
            stream: result.into_stream(),
            chunk: Bytes::new(),
        }))
    }

    /// Bytes `range` of the object.
    pub fn get_range(&self, key: &str, range: Range<u64>) -> io::Result<Bytes> {
        let location = path(key)?;
        runtime()
            .block_on(self.store.get_range(&location, range))
            .map_err(io_error)
    }
}

/// S3 pages hold up to 1000 keys: the requests a listing of `n` entries took.
fn pages(n: usize) -> u64 {
    (n as u64).div_ceil(1000).max(1)
}

impl Lister for Client {
    fn level(&self, prefix: &str) -> Result<(Level, u64), ConnectError> {
        let folder = folder(prefix)?;
        let result = runtime()
            .block_on(self.store.list_with_delimiter(folder.as_ref()))
            .map_err(|e| ConnectError::Request(e.to_string()))?;
        let requests = pages(result.objects.len() + result.common_prefixes.len());
        let level = Level {
            objects: result
                .objects
                .into_iter()
                .map(|o| Listed {
                    key: o.location.to_string(),
                    size: o.size,
                })
                .collect(),
            prefixes: result
                .common_prefixes
                .into_iter()
                .map(|p| format!("{p}/"))
                .collect(),
        };
        Ok((level, requests))
    }

    fn all(&self, prefix: &str) -> Result<(Vec<Listed>, u64), ConnectError> {
        let folder = folder(prefix)?;
        let objects: Vec<Listed> = runtime().block_on(async {
            let mut out = Vec::new();
            let mut stream = self.store.list(folder.as_ref());
            while let Some(item) = stream.next().await {
                let o = item.map_err(|e| ConnectError::Request(e.to_string()))?;
                out.push(Listed {
                    key: o.location.to_string(),
                    size: o.size,
                });
            }
            Ok::<_, ConnectError>(out)
        })?;
        let requests = pages(objects.len());
        Ok((objects, requests))
    }
}

/// A prefix as object_store lists it: a folder (`a/b/` and `a/b` are the same), `None` for
/// the whole bucket.
fn folder(prefix: &str) -> Result<Option<Path>, ConnectError> {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(None);
    }
    Path::parse(trimmed).map(Some).map_err(|e| {
        ConnectError::Key(format!(
            "prefix `{prefix}` cannot be listed: {e} (keys with an empty segment, `a//b`, are not supported)"
        ))
    })
}

fn path(key: &str) -> io::Result<Path> {
    Path::parse(key).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
}

fn io_error(e: object_store::Error) -> io::Error {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text += &format!(": {more}");
        }
        source = s.source();
    }
    io::Error::other(plain(&text))
}

/// object_store's error text as a person reads it: S3's error code and message out of the
/// XML it answered (with what the code means), the request and the retries made, on one line.
fn plain(text: &str) -> String {
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = start + text[start..].find(&format!("</{name}>"))?;
        Some(text[start..end].to_string())
    };
    let known = [
        ("NoSuchBucket", "the bucket does not exist"),
        ("NoSuchKey", "the object does not exist (any more)"),
        ("AccessDenied", "access denied"),
        ("InvalidAccessKeyId", "the access key is not known to S3"),
        (
            "SignatureDoesNotMatch",
            "the secret key does not match the access key",
        ),
        ("ExpiredToken", "the credentials have expired"),
        ("InvalidToken", "the session token is not valid"),
        (
            "PermanentRedirect",
            "the bucket is in another region: set AWS_REGION",
        ),
    ];
    let first_line = text.lines().next().unwrap_or_default();
    // `…: <?xml …` starts the body object_store quotes.
    let head = first_line
        .split_once(": <?xml")
        .map_or(first_line, |(h, _)| h)
        .trim_end_matches(':')
        .trim();
    match element("Code") {
        Some(code) => {
            let why = known
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, why)| format!("{why}: "))
                .unwrap_or_default();
            let message = element("Message").unwrap_or_default();
            format!("{why}S3 answered {code} ({message}) to: {head}")
        }
        None => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// A GET's body read from a blocking thread.
struct Blocking {
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for Blocking {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match runtime().block_on(self.stream.next()) {
                Some(Ok(c)) => self.chunk = c,
                Some(Err(e)) => return Err(io_error(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// Retries: `AWS_MAX_ATTEMPTS` (first try included) when set, else object_store's 10 retries
/// within 3 minutes; backoff from 100 ms doubling to 15 s, with jitter.
fn retry_config() -> RetryConfig {
    let attempts = std::env::var("AWS_MAX_ATTEMPTS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n >= 1);
    let mut retry = RetryConfig {
        backoff: BackoffConfig::default(),
        ..RetryConfig::default()
    };
    if let Some(n) = attempts {
        retry.max_retries = n - 1;
    }
    retry
}

/// Sets the credentials on the builder: providers of ours for keys, roles, processes, web
/// identity and containers, object_store's own for instance metadata.
fn with_credentials(
    mut builder: AmazonS3Builder,
    resolved: &Resolved,
    region: &str,
) -> Result<AmazonS3Builder, String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match &resolved.credentials {
        Credentials::Keys { .. }
        | Credentials::AssumeRole { .. }
        | Credentials::Process { .. }
        | Credentials::WebIdentity { .. }
        | Credentials::Container => {
            let p = provider(&resolved.credentials, resolved, region)?;
            builder = builder.with_credentials(p);
        }
        Credentials::Instance => {
            if let Some(endpoint) = env("AWS_EC2_METADATA_SERVICE_ENDPOINT") {
                builder = builder.with_metadata_endpoint(endpoint);
            }
        }
    }
    Ok(builder)
}

/// STS's endpoint: the configured one, else the region's.
fn sts(resolved: &Resolved, region: &str) -> String {
    resolved
        .sts_endpoint
        .clone()
        .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"))
}

/// A provider of ours for keys, a role (assumed with another provider's credentials), a
/// process, a web identity token or a container's endpoint.
fn provider(creds: &Credentials, resolved: &Resolved, region: &str) -> Result<Provider, String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Ok(match creds {
        Credentials::Keys {
            key_id,
            secret,
            token,
        } => Arc::new(StaticCredentialProvider::new(AwsCredential {
            key_id: key_id.clone(),
            secret_key: secret.clone(),
            token: token.clone(),
        })),
        Credentials::AssumeRole {
            role_arn,
            session_name,
            external_id,
            base,
        } => Arc::new(AssumeRole::new(
            role_arn.clone(),
            session_name.clone(),
            external_id.clone(),
            provider(base, resolved, region)?,
            sts(resolved, region),
            region.to_string(),
        )),
        Credentials::Process { command } => Arc::new(CredentialProcess::new(command.clone())),
        Credentials::WebIdentity {
            token_file,
            role_arn,
            session_name,
        } => Arc::new(WebIdentity::new(
            token_file.clone(),
            role_arn.clone(),
            session_name
                .clone()
                .unwrap_or_else(|| "flowgate".to_string()),
            sts(resolved, region),
        )),
        Credentials::Container => {
            let url = match (
                env("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
                env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            ) {
                (Some(full), _) => full,
                (None, Some(relative)) => format!("http://169.254.170.2{relative}"),
                (None, None) => return Err("no container credentials URI".into()),
            };
            Arc::new(Container::new(
                url,
                env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
                env("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
            ))
        }
        Credentials::Instance => {
            return Err("instance metadata cannot be the source of a role".into())
        }
    })
}
