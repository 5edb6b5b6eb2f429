//! Which credentials, region and endpoint to use, found the way the AWS CLI finds them.
//!
//! The order is botocore's: the environment's keys; the profile's `role_arn` (with
//! `source_profile`, `credential_source = Environment` or `web_identity_token_file`); the
//! environment's web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`, what GitHub
//! Actions OIDC gives); the profile's keys (credentials file, then config file); the profile's
//! `credential_process`; container credentials (`AWS_CONTAINER_CREDENTIALS_*`); instance
//! metadata, unless `AWS_EC2_METADATA_DISABLED=true`. The profile is `AWS_PROFILE` (an
//! unknown one is an error, as for the CLI) or `default`, read from `AWS_CONFIG_FILE` and
//! `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/config` and `~/.aws/credentials`).
//!
//! What is not supported is an error that says so and how to get round it (IAM Identity
//! Center / SSO profiles, MFA, `credential_source = Ec2InstanceMetadata | EcsContainer`),
//! never a silent fall through to other credentials. This file only decides; the providers
//! that fetch and refresh credentials are in `provider` and object_store.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the credentials come from, as resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// Fixed keys (environment or a profile's).
    Keys {
        key_id: String,
        secret: String,
        token: Option<String>,
    },
    /// STS AssumeRole with the credentials of `base`, refreshed before they expire.
    AssumeRole {
        role_arn: String,
        session_name: String,
        external_id: Option<String>,
        base: Box<Credentials>,
    },
    /// A profile's `credential_process`: run, its JSON read, run again when they expire.
    Process { command: String },
    /// STS AssumeRoleWithWebIdentity with a token file (object_store's provider).
    WebIdentity {
        token_file: String,
        role_arn: String,
        session_name: Option<String>,
    },
    /// ECS/EKS container credentials (object_store's provider, from the environment).
    Container,
    /// EC2 instance metadata (object_store's provider).
    Instance,
}

/// What the connection to a bucket is made with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub credentials: Credentials,
    /// Where they came from, as error messages name it.
    pub source: String,
    pub region: Option<String>,
    /// An S3-compatible store's URL (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, or the
    /// profile's `endpoint_url`); addressed path-style.
    pub endpoint: Option<String>,
    /// STS's URL for AssumeRole (`AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`).
    pub sts_endpoint: Option<String>,
}

/// The environment as resolution reads it: variables, and files by path.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
    fn read(&self, path: &std::path::Path) -> Option<String>;
}

/// The process's own environment.
pub struct Process;

impl Env for Process {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    fn read(&self, path: &std::path::Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
}

/// The settings of one profile, credentials file over config file.
type Profile = BTreeMap<String, String>;

/// The shared files, read once.
struct Files {
    config: BTreeMap<String, Profile>,
    credentials: BTreeMap<String, Profile>,
    config_path: PathBuf,
    credentials_path: PathBuf,
}

impl Files {
    fn read(env: &dyn Env) -> Files {
        let home = env
            .var("HOME")
            .or_else(|| env.var("USERPROFILE"))
            .map(PathBuf::from)
            .unwrap_or_default();
        let config_path = env
            .var("AWS_CONFIG_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".aws").join("config"));
        let credentials_path = env
            .var("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".aws").join("credentials"));
        let parse = |path: &PathBuf| env.read(path).map(|t| parse_ini(&t)).unwrap_or_default();
        // The config file names profiles `[profile x]` (but `[default]`); the credentials
        // file `[x]`.
        let config = parse(&config_path)
            .into_iter()
            .filter_map(|(section, keys)| {
                let name = match section.strip_prefix("profile ") {
                    Some(n) => n.trim().to_string(),
                    None if section == "default" => section,
                    None => return None,
                };
                Some((name, keys))
            })
            .collect();
        Files {
            config,
            credentials: parse(&credentials_path),
            config_path,
            credentials_path,
        }
    }

    /// The profile's settings, credentials file first; `None` when neither file has it.
    fn profile(&self, name: &str) -> Option<Profile> {
        let (c, k) = (self.config.get(name), self.credentials.get(name));
        if c.is_none() && k.is_none() {
            return None;
        }
        let mut merged = c.cloned().unwrap_or_default();
        merged.extend(k.cloned().unwrap_or_default());
        Some(merged)
    }

    fn where_(&self) -> String {
        format!(
            "{} and {}",
            self.config_path.display(),
            self.credentials_path.display()
        )
    }
}

/// Reads an INI file of the AWS CLI's: `[section]` lines, `key = value` lines, `#` and `;`
/// comments. Indented lines belong to a nested setting (`s3 =` then `  endpoint_url = …`),
/// which is not read.
fn parse_ini(text: &str) -> BTreeMap<String, Profile> {
    let mut out: BTreeMap<String, Profile> = BTreeMap::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_string();
            out.entry(name.clone()).or_default();
            section = Some(name);
            continue;
        }
        if let (Some(s), Some((k, v))) = (&section, line.split_once('=')) {
            let v = v.trim();
            if !v.is_empty() {
                out.entry(s.clone())
                    .or_default()
                    .insert(k.trim().to_ascii_lowercase(), v.to_string());
            }
        }
    }
    out
}

/// Finds the credentials, region and endpoint; an error says what was wrong and where.
pub fn resolve(env: &dyn Env) -> Result<Resolved, String> {
    let files = Files::read(env);
    let explicit = env.var("AWS_PROFILE");
    let name = explicit.clone().unwrap_or_else(|| "default".to_string());
    let profile = files.profile(&name);
    if explicit.is_some() && profile.is_none() {
        return Err(format!(
            "AWS_PROFILE names profile `{name}`, which is in neither {}",
            files.where_()
        ));
    }
    let profile = profile.unwrap_or_default();
    let setting = |key: &str| profile.get(key).cloned();
    let ignore_endpoints = env
        .var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let endpoint = (!ignore_endpoints)
        .then(|| {
            env.var("AWS_ENDPOINT_URL_S3")
                .or_else(|| env.var("AWS_ENDPOINT_URL"))
                .or_else(|| setting("endpoint_url"))
        })
        .flatten();
    let sts_endpoint = (!ignore_endpoints)
        .then(|| {
            env.var("AWS_ENDPOINT_URL_STS")
                .or_else(|| env.var("AWS_ENDPOINT_URL"))
        })
        .flatten();
    let region = env
        .var("AWS_REGION")
        .or_else(|| env.var("AWS_DEFAULT_REGION"))
        .or_else(|| setting("region"));
    let (credentials, source) = find(env, &files, &name, &profile)?;
    Ok(Resolved {
        credentials,
        source,
        region,
        endpoint,
        sts_endpoint,
    })
}

/// The credentials chain (see the module docs), and what it settled on.
fn find(
    env: &dyn Env,
    files: &Files,
    name: &str,
    profile: &Profile,
) -> Result<(Credentials, String), String> {
    if let Some(keys) = env_keys(env)? {
        return Ok((
            keys,
            "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
        ));
    }
    if profile.contains_key("role_arn") {
        let creds = role(env, files, name, profile, &mut Vec::new())?;
        return Ok((
            creds,
            format!("profile `{name}`'s role_arn ({})", files.where_()),
        ));
    }
    if let (Some(token_file), Some(role_arn)) = (
        env.var("AWS_WEB_IDENTITY_TOKEN_FILE"),
        env.var("AWS_ROLE_ARN"),
    ) {
        return Ok((
            Credentials::WebIdentity {
                token_file,
                role_arn,
                session_name: env.var("AWS_ROLE_SESSION_NAME"),
            },
            "web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN)".into(),
        ));
    }
    if let Some(creds) = profile_own(files, name, profile)? {
        return Ok(creds);
    }
    if env.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some()
        || env.var("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some()
    {
        return Ok((
            Credentials::Container,
            "container credentials (AWS_CONTAINER_CREDENTIALS_*)".into(),
        ));
    }
    if env
        .var("AWS_EC2_METADATA_DISABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Err(format!(
            "no credentials: none in the environment (AWS_ACCESS_KEY_ID, AWS_WEB_IDENTITY_TOKEN_FILE, \
             AWS_CONTAINER_CREDENTIALS_*), none for profile `{name}` in {}, and instance metadata \
             is off (AWS_EC2_METADATA_DISABLED=true)",
            files.where_()
        ));
    }
    Ok((
        Credentials::Instance,
        format!(
            "EC2 instance metadata (no credentials in the environment, none for profile `{name}` in {})",
            files.where_()
        ),
    ))
}

/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`); one without the
/// other is an error.
fn env_keys(env: &dyn Env) -> Result<Option<Credentials>, String> {
    match (
        env.var("AWS_ACCESS_KEY_ID"),
        env.var("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(key_id), Some(secret)) => Ok(Some(Credentials::Keys {
            key_id,
            secret,
            token: env.var("AWS_SESSION_TOKEN"),
        })),
        (None, None) => Ok(None),
        (Some(_), None) => Err("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into()),
        (None, Some(_)) => Err("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into()),
    }
}

/// A profile's own credentials, not a role: keys or `credential_process`; SSO is an error.
fn profile_own(
    files: &Files,
    name: &str,
    profile: &Profile,
) -> Result<Option<(Credentials, String)>, String> {
    if profile.contains_key("sso_session") || profile.contains_key("sso_start_url") {
        return Err(format!(
            "profile `{name}` signs in with IAM Identity Center (SSO), which flowgate does not read: \
             run `eval \"$(aws configure export-credentials --profile {name} --format env)\"` first, \
             so the environment holds the keys"
        ));
    }
    let get = |k: &str| profile.get(k).cloned();
    if let (Some(key_id), Some(secret)) = (get("aws_access_key_id"), get("aws_secret_access_key")) {
        return Ok(Some((
            Credentials::Keys {
                key_id,
                secret,
                token: get("aws_session_token"),
            },
            format!("profile `{name}`'s keys ({})", files.where_()),
        )));
    }
    if let Some(command) = get("credential_process") {
        return Ok(Some((
            Credentials::Process { command },
            format!("profile `{name}`'s credential_process ({})", files.where_()),
        )));
    }
    Ok(None)
}

/// A profile with `role_arn`: the role, assumed with its source's credentials. `seen` holds
/// the profiles on the way, so a loop of `source_profile`s is an error, not a hang.
fn role(
    env: &dyn Env,
    files: &Files,
    name: &str,
    profile: &Profile,
    seen: &mut Vec<String>,
) -> Result<Credentials, String> {
    let get = |k: &str| profile.get(k).cloned();
    let role_arn = get("role_arn").unwrap_or_default();
    if get("mfa_serial").is_some() {
        return Err(format!(
            "profile `{name}` assumes its role with MFA (mfa_serial), which flowgate cannot ask for: \
             run `eval \"$(aws configure export-credentials --profile {name} --format env)\"` first"
        ));
    }
    if let Some(token_file) = get("web_identity_token_file") {
        return Ok(Credentials::WebIdentity {
            token_file,
            role_arn,
            session_name: get("role_session_name"),
        });
    }
    let base = match (get("source_profile"), get("credential_source")) {
        (Some(source), None) => {
            if seen.contains(&source) || source == name {
                return Err(format!(
                    "profile `{name}`: source_profile `{source}` leads back to itself ({} -> {source})",
                    seen.join(" -> ")
                ));
            }
            seen.push(name.to_string());
            let Some(source_profile) = files.profile(&source) else {
                return Err(format!(
                    "profile `{name}`'s source_profile `{source}` is in neither {}",
                    files.where_()
                ));
            };
            // A source profile's own keys come first; its role_arn is then not assumed (as
            // botocore does for a profile that is its own source).
            match profile_own(files, &source, &source_profile)? {
                Some((creds, _)) => creds,
                None if source_profile.contains_key("role_arn") => {
                    role(env, files, &source, &source_profile, seen)?
                }
                None => {
                    return Err(format!(
                        "profile `{name}`'s source_profile `{source}` has no credentials \
                         (aws_access_key_id, credential_process or role_arn)"
                    ))
                }
            }
        }
        (None, Some(source)) if source == "Environment" => env_keys(env)?.ok_or_else(|| {
            format!("profile `{name}` has credential_source = Environment but AWS_ACCESS_KEY_ID is not set")
        })?,
        (None, Some(other)) => {
            return Err(format!(
                "profile `{name}` has credential_source = {other}, which flowgate does not read (only \
                 Environment): run `eval \"$(aws configure export-credentials --profile {name} --format env)\"` first"
            ))
        }
        (Some(_), Some(_)) => {
            return Err(format!(
                "profile `{name}` has both source_profile and credential_source; the AWS CLI refuses that too"
            ))
        }
        (None, None) => {
            return Err(format!(
                "profile `{name}` has role_arn but neither source_profile, credential_source nor web_identity_token_file"
            ))
        }
    };
    Ok(Credentials::AssumeRole {
        role_arn,
        session_name: get("role_session_name").unwrap_or_else(|| "flowgate".to_string()),
        external_id: get("external_id"),
        base: Box::new(base),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake {
        vars: HashMap<&'static str, &'static str>,
        files: HashMap<PathBuf, &'static str>,
    }

    impl Env for Fake {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).map(|v| v.to_string())
        }
        fn read(&self, path: &std::path::Path) -> Option<String> {
            self.files.get(path).map(|v| v.to_string())
        }
    }

    fn env(
        vars: &[(&'static str, &'static str)],
        config: &'static str,
        creds: &'static str,
    ) -> Fake {
        let mut f = Fake::default();
        f.vars.insert("HOME", "/home/u");
        f.vars.extend(vars.iter().copied());
        f.files.insert("/home/u/.aws/config".into(), config);
        f.files.insert("/home/u/.aws/credentials".into(), creds);
        f
    }

    const CONFIG: &str = "
[default]
region = eu-west-1

[profile audit]
role_arn = arn:aws:iam::123456789012:role/flowlogs-read
source_profile = base
external_id = x-1
s3 =
  endpoint_url = https://ignored.example

[profile base]
region = us-east-2

[profile tool]
credential_process = /usr/local/bin/get-creds --json

[profile sso]
sso_session = corp
sso_account_id = 123456789012

[profile local]
endpoint_url = http://127.0.0.1:9000
aws_access_key_id = LOCALKEY
aws_secret_access_key = localsecret

[profile loop-a]
role_arn = arn:aws:iam::1:role/a
source_profile = loop-b

[profile loop-b]
role_arn = arn:aws:iam::1:role/b
source_profile = loop-a
";

    const CREDENTIALS: &str = "
# keys
[default]
aws_access_key_id = DEFAULTKEY
aws_secret_access_key = defaultsecret

[base]
aws_access_key_id = BASEKEY
aws_secret_access_key = basesecret
aws_session_token = basetoken
";

    fn keys(id: &str, secret: &str, token: Option<&str>) -> Credentials {
        Credentials::Keys {
            key_id: id.into(),
            secret: secret.into(),
            token: token.map(Into::into),
        }
    }

    #[test]
    fn environment_keys_come_first_then_the_default_profile() {
        let r = resolve(&env(
            &[
                ("AWS_ACCESS_KEY_ID", "ENVKEY"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ],
            CONFIG,
            CREDENTIALS,
        ))
        .unwrap();
        assert_eq!(r.credentials, keys("ENVKEY", "s", None));
        assert!(r.source.contains("environment variables"));
        assert_eq!(r.region.as_deref(), Some("eu-west-1"));
        let r = resolve(&env(&[], CONFIG, CREDENTIALS)).unwrap();
        assert_eq!(r.credentials, keys("DEFAULTKEY", "defaultsecret", None));
        assert!(
            r.source.starts_with(
                "profile `default`'s keys (/home/u/.aws/config and /home/u/.aws/credentials)"
            ),
            "{}",
            r.source
        );
        assert!(resolve(&env(&[("AWS_ACCESS_KEY_ID", "K")], "", ""))
            .unwrap_err()
            .contains("AWS_SECRET_ACCESS_KEY is not"));
    }

    #[test]
    fn a_role_is_assumed_with_its_source_profile_keys() {
        let r = resolve(&env(&[("AWS_PROFILE", "audit")], CONFIG, CREDENTIALS)).unwrap();
        assert_eq!(
            r.credentials,
            Credentials::AssumeRole {
                role_arn: "arn:aws:iam::123456789012:role/flowlogs-read".into(),
                session_name: "flowgate".into(),
                external_id: Some("x-1".into()),
                base: Box::new(keys("BASEKEY", "basesecret", Some("basetoken"))),
            }
        );
        // The nested `s3 = endpoint_url` is not read; the profile has no region of its own.
        assert_eq!((r.endpoint, r.region), (None, None));
        let err = resolve(&env(&[("AWS_PROFILE", "loop-a")], CONFIG, CREDENTIALS)).unwrap_err();
        assert!(err.contains("leads back to itself"), "{err}");
    }

    #[test]
    fn process_sso_endpoints_and_unknown_profiles() {
        let r = resolve(&env(&[("AWS_PROFILE", "tool")], CONFIG, CREDENTIALS)).unwrap();
        assert_eq!(
            r.credentials,
            Credentials::Process {
                command: "/usr/local/bin/get-creds --json".into()
            }
        );
        let err = resolve(&env(&[("AWS_PROFILE", "sso")], CONFIG, CREDENTIALS)).unwrap_err();
        assert!(
            err.contains("IAM Identity Center") && err.contains("export-credentials --profile sso")
        );
        let r = resolve(&env(&[("AWS_PROFILE", "local")], CONFIG, CREDENTIALS)).unwrap();
        assert_eq!(r.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        let r = resolve(&env(
            &[
                ("AWS_PROFILE", "local"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ],
            CONFIG,
            CREDENTIALS,
        ))
        .unwrap();
        assert_eq!(r.endpoint.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(r.sts_endpoint.as_deref(), Some("http://127.0.0.1:1"));
        let err = resolve(&env(&[("AWS_PROFILE", "nope")], CONFIG, CREDENTIALS)).unwrap_err();
        assert!(err.contains("profile `nope`, which is in neither"), "{err}");
    }

    #[test]
    fn the_s3_endpoint_beats_the_general_one_and_both_can_be_ignored() {
        let both = [
            ("AWS_PROFILE", "local"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2"),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:3"),
        ];
        let r = resolve(&env(&both, CONFIG, CREDENTIALS)).unwrap();
        assert_eq!(r.endpoint.as_deref(), Some("http://127.0.0.1:2"));
        assert_eq!(r.sts_endpoint.as_deref(), Some("http://127.0.0.1:3"));
        // Ignored, the profile's `endpoint_url` goes too: AWS's own endpoint is used.
        let mut ignored = both.to_vec();
        ignored.push(("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"));
        let r = resolve(&env(&ignored, CONFIG, CREDENTIALS)).unwrap();
        assert_eq!((r.endpoint, r.sts_endpoint), (None, None));
    }

    #[test]
    fn web_identity_then_container_then_instance_metadata() {
        let r = resolve(&env(
            &[
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "/tmp/token"),
                ("AWS_ROLE_ARN", "arn:aws:iam::1:role/gh"),
            ],
            "",
            "",
        ))
        .unwrap();
        assert!(matches!(r.credentials, Credentials::WebIdentity { .. }));
        let r = resolve(&env(
            &[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds")],
            "",
            "",
        ))
        .unwrap();
        assert_eq!(r.credentials, Credentials::Container);
        let r = resolve(&env(&[], "", "")).unwrap();
        assert_eq!(r.credentials, Credentials::Instance);
        assert!(r.source.contains("none for profile `default`"));
        let err = resolve(&env(&[("AWS_EC2_METADATA_DISABLED", "true")], "", "")).unwrap_err();
        assert!(err.starts_with("no credentials"), "{err}");
    }
}
