//! `flowgate sample --logs s3://…`: the objects copied to a hidden folder under `--out` first.
//!
//! Sampling reads every archive more than once (the survey, then the writing), so each object
//! is fetched once, streamed to disk (memory stays at a read buffer per thread, the disk holds
//! the input until the sample is written), and sampled from there; the folder is removed when
//! the sample is done, whatever the outcome. Each copy keeps its S3 URL as the name reports
//! give it, and its key from `AWSLogs/` down (or below the prefix, for other layouts) as its
//! place in the sample. An object that cannot be fetched whole stops the sample with its name:
//! a sample of part of the input would not stand for it.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::Error;
use crate::source::{discover, s3, Archive, ArchiveMeta, DiscoverError, Source};

/// The hidden folder the objects are copied into; removed when dropped.
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    pub fn new(out: &Path) -> Staging {
        Staging {
            dir: out.join(format!(".flowgate-sample-input-{}", std::process::id())),
        }
    }

    /// Lists `url`, copies its archives here (calling `on_object` after each), and returns
    /// each copy (named by its URL) with its place in the sample and its size.
    pub fn fetch(
        &self,
        url: &str,
        on_object: &(dyn Fn() + Sync),
    ) -> Result<Vec<(Archive, PathBuf, u64)>, Error> {
        let found = discover(&[PathBuf::from(url)]);
        if let Some(e) = found.errors.into_iter().next() {
            let (path, source) = match e {
                DiscoverError::Io { path, source } => (path, source),
                DiscoverError::S3 { url, message } => (url, io::Error::other(message)),
            };
            return Err(Error::Unreadable { path, source });
        }
        let prefix = s3::parse_url(url).map(|(_, p)| p).unwrap_or_default();
        let objects: Vec<s3::Object> = found
            .archives
            .into_iter()
            .filter_map(|a| match a.source {
                Source::S3(o) => Some(o),
                _ => None,
            })
            .collect();
        let threads = crate::source::S3_READERS;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        pool.install(|| {
            objects
                .par_iter()
                .map(|object| {
                    let place = place(&object.key, &prefix);
                    let local = self.dir.join(&place);
                    copy(object, &local).map_err(|source| Error::Unreadable {
                        path: object.url(),
                        source,
                    })?;
                    on_object();
                    let archive = Archive {
                        display: object.url(),
                        source: Source::File(local),
                        meta: ArchiveMeta::from_key(&object.key),
                    };
                    Ok((archive, place, object.size))
                })
                .collect()
        })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Streams `object` into `local`; an object that ends short of its listed size is an error.
fn copy(object: &s3::Object, local: &Path) -> io::Result<()> {
    if let Some(dir) = local.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut read = object.stream()?;
    let mut file = BufWriter::with_capacity(256 * 1024, File::create(local)?);
    let copied = io::copy(&mut read, &mut file)?;
    file.flush()?;
    if copied != object.size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "{copied} bytes read of the {} the listing gave",
                object.size
            ),
        ));
    }
    Ok(())
}

/// Where an object goes below `--out`: its key from `AWSLogs/` down, else its key below the
/// listed prefix (a folder), else the key itself.
fn place(key: &str, prefix: &str) -> PathBuf {
    let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
    if let Some(i) = parts.iter().position(|p| *p == "AWSLogs") {
        return parts[i..].iter().collect();
    }
    let folder = prefix.trim_end_matches('/');
    let below = key
        .strip_prefix(folder)
        .filter(|rest| folder.is_empty() || rest.starts_with('/'))
        .unwrap_or(key);
    below.split('/').filter(|p| !p.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_their_layout_from_awslogs_down() {
        assert_eq!(
            place(
                "org/prod//AWSLogs/1/vpcflowlogs/r/2026/11/02/a.log.gz",
                "org/"
            ),
            PathBuf::from("AWSLogs/1/vpcflowlogs/r/2026/11/02/a.log.gz")
        );
        assert_eq!(
            place("firehose/2026/11/02/07/flows-1", "firehose/"),
            PathBuf::from("2026/11/02/07/flows-1")
        );
        assert_eq!(place("firehose/x", "fire"), PathBuf::from("firehose/x"));
        assert_eq!(place("a.log", ""), PathBuf::from("a.log"));
    }
}
