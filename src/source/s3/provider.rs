//! The credential providers object_store has no counterpart of (or none that takes an
//! `http://` endpoint, or one that falls through to instance metadata): a profile's role
//! assumed with STS AssumeRole, a profile's `credential_process`, web identity
//! (AssumeRoleWithWebIdentity), and container credentials. Each caches what it got
//! and fetches again five minutes before it expires, so a long run keeps working.
//!
//! AssumeRole is one signed POST (signed by object_store's own SigV4 code); its answer is a few
//! fixed XML elements, read by name. `credential_process` is run through the shell, as the AWS
//! CLI does, and its JSON (`Version` 1) read with serde.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use object_store::aws::{AwsAuthorizer, AwsCredential};
use object_store::CredentialProvider;
use tokio::sync::Mutex;

/// What object_store's providers are.
pub type Provider = Arc<dyn CredentialProvider<Credential = AwsCredential>>;

type Fetched = object_store::Result<Arc<AwsCredential>>;

/// Credentials and when they stop working.
struct Cached {
    credential: Arc<AwsCredential>,
    expires: Option<SystemTime>,
}

/// Fetches again this long before the credentials expire.
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

fn fresh(cached: &Option<Cached>) -> Option<Arc<AwsCredential>> {
    let c = cached.as_ref()?;
    let valid = c
        .expires
        .is_none_or(|t| SystemTime::now() + REFRESH_BEFORE < t);
    valid.then(|| Arc::clone(&c.credential))
}

/// The cached credentials while they are fresh, else those `fetch` gets, cached. The lock is
/// held while fetching, so that requests waiting for credentials fetch them once.
async fn cached_or_fetched(
    cache: &Mutex<Option<Cached>>,
    fetch: impl std::future::Future<Output = Result<Cached, String>>,
) -> Fetched {
    let mut cache = cache.lock().await;
    if let Some(c) = fresh(&cache) {
        return Ok(c);
    }
    let fetched = fetch.await.map_err(error)?;
    let credential = Arc::clone(&fetched.credential);
    *cache = Some(fetched);
    Ok(credential)
}

/// Credentials as the answers of STS, a credential process and the container endpoint give
/// them: keys, maybe a session token, maybe an RFC 3339 expiry.
fn cached(
    key_id: String,
    secret_key: String,
    token: Option<String>,
    expiration: Option<&str>,
) -> Cached {
    Cached {
        credential: Arc::new(AwsCredential {
            key_id,
            secret_key,
            token,
        }),
        expires: expiration.and_then(parse_time),
    }
}

fn error(message: String) -> object_store::Error {
    object_store::Error::Generic {
        store: "S3",
        source: message.into(),
    }
}

/// STS AssumeRole with the credentials of another provider.
#[derive(Debug)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
    pub base: Provider,
    /// `https://sts.<region>.amazonaws.com`, or a configured endpoint.
    pub endpoint: String,
    pub region: String,
    pub client: reqwest::Client,
    cache: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "credentials until {:?}", self.expires)
    }
}

impl AssumeRole {
    pub fn new(
        role_arn: String,
        session_name: String,
        external_id: Option<String>,
        base: Provider,
        endpoint: String,
        region: String,
    ) -> AssumeRole {
        AssumeRole {
            role_arn,
            session_name,
            external_id,
            base,
            endpoint,
            region,
            client: reqwest::Client::new(),
            cache: Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<Cached, String> {
        let base = self
            .base
            .get_credential()
            .await
            .map_err(|e| format!("the source credentials: {e}"))?;
        let mut form = format!(
            "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName={}",
            encode(&self.role_arn),
            encode(&self.session_name)
        );
        if let Some(id) = &self.external_id {
            form += &format!("&ExternalId={}", encode(id));
        }
        let url = format!("{}/", self.endpoint.trim_end_matches('/'));
        let mut request: object_store::client::HttpRequest = http::Request::builder()
            .method("POST")
            .uri(&url)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(form.clone().into())
            .map_err(|e| format!("{url}: {e}"))?;
        AwsAuthorizer::new(&base, "sts", &self.region)
            .with_sign_payload(true)
            .try_authorize(&mut request, None)
            .map_err(|e| format!("signing the AssumeRole request: {e}"))?;
        let mut send = self.client.post(&url).body(form);
        for (name, value) in request.headers() {
            send = send.header(name, value);
        }
        answer(send, "AssumeRole", &self.role_arn, &url).await
    }
}

/// Sends an STS request and reads the credentials from its answer.
async fn answer(
    send: reqwest::RequestBuilder,
    action: &str,
    role_arn: &str,
    url: &str,
) -> Result<Cached, String> {
    let response = send
        .send()
        .await
        .map_err(|e| format!("STS {action} at {url}: {e}"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("STS {action} at {url}: {e}"))?;
    if !status.is_success() {
        let code = element(&body, "Code").unwrap_or_default();
        let message = element(&body, "Message").unwrap_or_default();
        return Err(format!(
            "STS {action} of {role_arn} at {url} answered {status}: {code} {message}"
        ));
    }
    let get = |name: &str| {
        element(&body, name).ok_or_else(|| format!("STS {action}'s answer has no {name}"))
    };
    Ok(cached(
        get("AccessKeyId")?,
        get("SecretAccessKey")?,
        Some(get("SessionToken")?),
        element(&body, "Expiration").as_deref(),
    ))
}

/// STS AssumeRoleWithWebIdentity with a token read from a file at each fetch (GitHub Actions
/// OIDC and EKS rotate it). The request is not signed: the token is the credential. Ours,
/// not object_store's, because object_store's refuses an `http://` STS endpoint, which a
/// local S3-compatible store (and the tests) use.
#[derive(Debug)]
pub struct WebIdentity {
    pub token_file: String,
    pub role_arn: String,
    pub session_name: String,
    pub endpoint: String,
    pub client: reqwest::Client,
    cache: Mutex<Option<Cached>>,
}

impl WebIdentity {
    pub fn new(
        token_file: String,
        role_arn: String,
        session_name: String,
        endpoint: String,
    ) -> WebIdentity {
        WebIdentity {
            token_file,
            role_arn,
            session_name,
            endpoint,
            client: reqwest::Client::new(),
            cache: Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<Cached, String> {
        let token = std::fs::read_to_string(&self.token_file).map_err(|e| {
            format!(
                "the web identity token file {} (AWS_WEB_IDENTITY_TOKEN_FILE): {e}",
                self.token_file
            )
        })?;
        let form = format!(
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName={}&WebIdentityToken={}",
            encode(&self.role_arn),
            encode(&self.session_name),
            encode(token.trim())
        );
        let url = format!("{}/", self.endpoint.trim_end_matches('/'));
        let send = self
            .client
            .post(&url)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(form);
        answer(send, "AssumeRoleWithWebIdentity", &self.role_arn, &url).await
    }
}

#[async_trait::async_trait]
impl CredentialProvider for WebIdentity {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> Fetched {
        cached_or_fetched(&self.cache, self.fetch()).await
    }
}

#[async_trait::async_trait]
impl CredentialProvider for AssumeRole {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> Fetched {
        cached_or_fetched(&self.cache, self.fetch()).await
    }
}

/// A profile's `credential_process`.
#[derive(Debug)]
pub struct CredentialProcess {
    pub command: String,
    cache: Mutex<Option<Cached>>,
}

impl CredentialProcess {
    pub fn new(command: String) -> CredentialProcess {
        CredentialProcess {
            command,
            cache: Mutex::new(None),
        }
    }

    fn run(&self) -> Result<Cached, String> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Output {
            version: u32,
            access_key_id: String,
            secret_access_key: String,
            session_token: Option<String>,
            expiration: Option<String>,
        }
        let (shell, flag) = if cfg!(windows) {
            ("cmd", "/C")
        } else {
            ("sh", "-c")
        };
        let out = std::process::Command::new(shell)
            .args([flag, &self.command])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("credential_process `{}` did not run: {e}", self.command))?;
        if !out.status.success() {
            return Err(format!(
                "credential_process `{}` failed ({}): {}",
                self.command,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let o: Output = serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "credential_process `{}` printed no credentials JSON: {e}",
                self.command
            )
        })?;
        if o.version != 1 {
            return Err(format!(
                "credential_process `{}` printed Version {}; only 1 is known",
                self.command, o.version
            ));
        }
        Ok(cached(
            o.access_key_id,
            o.secret_access_key,
            o.session_token,
            o.expiration.as_deref(),
        ))
    }
}

#[async_trait::async_trait]
impl CredentialProvider for CredentialProcess {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> Fetched {
        // Run where the request waits: a credential process is quick, and runs once an hour.
        cached_or_fetched(&self.cache, async { self.run() }).await
    }
}

/// ECS task roles and EKS Pod Identity: credentials from the container credentials endpoint,
/// `http://169.254.170.2` + `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with the authorisation token of
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read at each fetch: EKS rotates it) or
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN`. Ours, so that a container that cannot answer is an
/// error naming it, never a fall through to instance metadata.
#[derive(Debug)]
pub struct Container {
    pub url: String,
    pub token_file: Option<String>,
    pub token: Option<String>,
    pub client: reqwest::Client,
    cache: Mutex<Option<Cached>>,
}

impl Container {
    pub fn new(url: String, token_file: Option<String>, token: Option<String>) -> Container {
        Container {
            url,
            token_file,
            token,
            client: reqwest::Client::new(),
            cache: Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<Cached, String> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Answer {
            access_key_id: String,
            secret_access_key: String,
            token: Option<String>,
            expiration: Option<String>,
        }
        let token = match &self.token_file {
            Some(f) => Some(std::fs::read_to_string(f).map_err(|e| {
                format!("the container authorization token file {f} (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE): {e}")
            })?),
            None => self.token.clone(),
        };
        let mut get = self.client.get(&self.url);
        if let Some(t) = token {
            get = get.header("authorization", t.trim());
        }
        let what = |e: String| format!("container credentials at {}: {e}", self.url);
        let response = get.send().await.map_err(|e| what(e.to_string()))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| what(e.to_string()))?;
        if !status.is_success() {
            return Err(what(format!("answered {status}: {}", body.trim())));
        }
        let a: Answer = serde_json::from_str(&body).map_err(|e| what(e.to_string()))?;
        Ok(cached(
            a.access_key_id,
            a.secret_access_key,
            a.token,
            a.expiration.as_deref(),
        ))
    }
}

#[async_trait::async_trait]
impl CredentialProvider for Container {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> Fetched {
        cached_or_fetched(&self.cache, self.fetch()).await
    }
}

/// The text of the first `<name>…</name>` element, unescaped.
fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(
        xml[start..end]
            .trim()
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// RFC 3339 (what STS and credential processes print) as a system time.
fn parse_time(text: &str) -> Option<SystemTime> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(SystemTime::from(t))
}

/// Percent-encodes a form value (RFC 3986 unreserved characters kept).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_answers_are_read_by_element() {
        let xml = "<AssumeRoleResponse><AssumeRoleResult><Credentials>\
            <AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>a/b+c&amp;d</SecretAccessKey>\
            <SessionToken>tok</SessionToken><Expiration>2026-11-02T08:00:00Z</Expiration>\
            </Credentials></AssumeRoleResult></AssumeRoleResponse>";
        assert_eq!(element(xml, "AccessKeyId").as_deref(), Some("ASIAEXAMPLE"));
        assert_eq!(element(xml, "SecretAccessKey").as_deref(), Some("a/b+c&d"));
        assert!(parse_time(&element(xml, "Expiration").unwrap()).is_some());
        assert_eq!(element(xml, "Nope"), None);
        assert_eq!(
            encode("arn:aws:iam::1:role/x y"),
            "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx%20y"
        );
    }

    #[test]
    fn a_credential_process_is_run_and_read() {
        let p = CredentialProcess::new(
            r#"echo '{"Version": 1, "AccessKeyId": "AK", "SecretAccessKey": "SK", "Expiration": "2999-01-01T00:00:00Z"}'"#.into(),
        );
        let got = p.run().unwrap();
        assert_eq!(got.credential.key_id, "AK");
        assert!(got.expires.is_some() && got.credential.token.is_none());
        let err = CredentialProcess::new("echo nope; exit 3".into())
            .run()
            .err()
            .unwrap();
        assert!(err.contains("failed"), "{err}");
        let err = CredentialProcess::new("echo '{}'".into())
            .run()
            .err()
            .unwrap();
        assert!(err.contains("no credentials JSON"), "{err}");
    }
}
