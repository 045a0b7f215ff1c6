//! The content-addressed blob cache: `DIR/blobs/sha256/<hex>` holds complete,
//! verified blobs (layers, configs and manifests alike); `DIR/partial/` holds
//! downloads in progress, which are resumed but never taken as complete — a file
//! only enters `blobs/` by a rename after its digest and size were checked.
//! `DIR/built/<key>` records the manifest digest of an image built here from the
//! inputs `key` names (see `stackwright-package`'s `Recipe`); `DIR/locks/` holds the
//! per-blob locks.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::direct::DirectWriter;
use crate::OciError;
use stackwright_types::hex;

/// A cache directory.
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
    verify_hits: bool,
}

impl Cache {
    /// A cache at `root` (created on first write). Cached blobs were verified when
    /// they entered the cache and are trusted by size afterwards, like containerd's
    /// content store; see [`Cache::verify_hits`].
    pub fn new(root: impl Into<PathBuf>) -> Cache {
        Cache {
            root: root.into(),
            verify_hits: false,
        }
    }

    /// Re-hash every cached blob when it is copied out (slower; catches disk
    /// corruption or edits to the cache, which are then dropped and fetched again).
    pub fn verify_hits(mut self, yes: bool) -> Cache {
        self.verify_hits = yes;
        self
    }

    /// Whether cached blobs are re-hashed when used ([`Cache::verify_hits`]).
    pub fn verifies_hits(&self) -> bool {
        self.verify_hits
    }

    /// `$XDG_CACHE_HOME/stackwright`, else `$HOME/.cache/stackwright`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
            return Some(PathBuf::from(x).join("stackwright"));
        }
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".cache/stackwright"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a complete blob lives (whether or not it is there).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let (alg, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
        self.root.join("blobs").join(alg).join(hex)
    }

    pub(crate) fn partial_path(&self, digest: &str) -> PathBuf {
        self.root.join("partial").join(digest.replace(':', "-"))
    }

    /// Whether a complete blob of this size is cached.
    pub fn contains(&self, digest: &str, size: u64) -> bool {
        std::fs::metadata(self.blob_path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// The size of a complete cached blob, if present.
    pub fn cached_size(&self, digest: &str) -> Option<u64> {
        std::fs::metadata(self.blob_path(digest))
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }

    /// Takes the cache-wide lock of one blob (`locks/<digest>`, an advisory `flock`
    /// released when the guard drops, or when the process dies): whoever downloads a
    /// blob or decides a cached copy is corrupt holds it, so concurrent runs on one cache
    /// never write one partial file at once nor remove a file another is using. Waits
    /// (asynchronously) while another process holds it. Lock files stay (removing one
    /// would race with the next taker); they are empty.
    pub(crate) async fn lock_blob(&self, digest: &str) -> Result<BlobLock, OciError> {
        let dir = self.root.join("locks");
        std::fs::create_dir_all(&dir).map_err(|e| OciError::io(&dir, e))?;
        let path = dir.join(digest.replace(':', "-"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| OciError::io(&path, e))?;
        let mut pause = std::time::Duration::from_millis(5);
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(BlobLock { _file: file }),
                Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_millis(200));
                }
                Err(e) => return Err(OciError::io(&path, e.into())),
            }
        }
    }

    /// A small cached blob (a manifest or config), if present and intact.
    pub(crate) fn read_small(&self, digest: &str) -> Option<Vec<u8>> {
        let path = self.blob_path(digest);
        let bytes = std::fs::read(&path).ok()?;
        if sha256_digest(&bytes) == digest {
            Some(bytes)
        } else {
            // Corrupt (disk trouble or someone edited it): drop it and fetch again.
            let _ = std::fs::remove_file(&path);
            None
        }
    }

    /// Stores a small, already verified blob. A cached copy that no longer hashes to
    /// its name is replaced (by rename, so a reader sees one or the other, whole).
    pub(crate) fn write_small(&self, digest: &str, bytes: &[u8]) -> Result<(), OciError> {
        let path = self.blob_path(digest);
        if std::fs::read(&path).is_ok_and(|b| sha256_digest(&b) == digest) {
            return Ok(());
        }
        let dir = path.parent().expect("blob paths have a parent");
        std::fs::create_dir_all(dir).map_err(|e| OciError::io(dir, e))?;
        let mut tmp = tempfile_in(dir)?;
        tmp.1
            .write_all(bytes)
            .map_err(|e| OciError::io(&tmp.0, e))?;
        drop(tmp.1);
        std::fs::rename(&tmp.0, &path).map_err(|e| OciError::io(&path, e))
    }

    /// Stores a blob made here (a built image's manifest or config): its digest is
    /// computed, and it is renamed into place complete. Returns the digest.
    pub fn put(&self, bytes: &[u8]) -> Result<String, OciError> {
        let digest = sha256_digest(bytes);
        self.write_small(&digest, bytes)?;
        Ok(digest)
    }

    /// A new blob written by streaming (a built image's layer): a uniquely named
    /// temporary file in the cache, hashed as it is written, renamed to its digest by
    /// [`BlobWriter::commit`] and removed if dropped uncommitted.
    pub fn writer(&self) -> Result<BlobWriter, OciError> {
        let dir = self.root.join("blobs").join("sha256");
        std::fs::create_dir_all(&dir).map_err(|e| OciError::io(&dir, e))?;
        let (path, file) = tempfile_in(&dir)?;
        Ok(BlobWriter {
            cache: self.clone(),
            path: Some(path),
            file: Some(DirectWriter::new(file, 0)),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// The manifest digest recorded for a built image under `key` (`built/<key>`: a
    /// digest over everything the image is made of, computed by whoever builds it), if
    /// any. Only a hint: the caller checks that the blobs it names are still cached.
    pub fn built_image(&self, key: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.built_path(key)).ok()?;
        let digest = text.trim();
        let ok = digest
            .strip_prefix("sha256:")
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        ok.then(|| digest.to_string())
    }

    /// Records that the image built from the inputs `key` names has the manifest
    /// `digest` (written complete, by rename; the same key from concurrent runs names
    /// the same digest, so the last rename wins harmlessly).
    pub fn record_built_image(&self, key: &str, digest: &str) -> Result<(), OciError> {
        let path = self.built_path(key);
        let dir = path.parent().expect("built paths have a parent");
        std::fs::create_dir_all(dir).map_err(|e| OciError::io(dir, e))?;
        let mut tmp = tempfile_in(dir)?;
        tmp.1
            .write_all(format!("{digest}\n").as_bytes())
            .map_err(|e| OciError::io(&tmp.0, e))?;
        drop(tmp.1);
        std::fs::rename(&tmp.0, &path).map_err(|e| OciError::io(&path, e))
    }

    fn built_path(&self, key: &str) -> PathBuf {
        self.root.join("built").join(key.replace(':', "-"))
    }

    /// The partial download of `digest` (`partial/<digest>`, its directory created) and,
    /// unless `restart`, the sha256 state and length of what it already holds, so a
    /// download continues from there with `Range`. Used by image blobs and release files
    /// alike, under the blob's lock ([`Cache::lock_blob`]).
    pub(crate) async fn resume_partial(
        &self,
        digest: &str,
        restart: bool,
    ) -> Result<(PathBuf, Sha256, u64), OciError> {
        let partial = self.partial_path(digest);
        let dir = partial.parent().expect("partial paths have a parent");
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| OciError::io(dir, e))?;
        if restart {
            return Ok((partial, Sha256::new(), 0));
        }
        let (hasher, n) = hash_prefix(&partial).await?;
        Ok((partial, hasher, n))
    }

    /// Opens a partial download for the bytes from `have` on: appending when it continues
    /// (`have > 0`), else truncated to start over. Written direct (see `direct.rs`), a
    /// [`crate::direct::BLOCK`] at a time, on tokio's blocking pool.
    pub(crate) async fn write_partial(
        &self,
        partial: &Path,
        have: u64,
    ) -> Result<PartialWriter, OciError> {
        let path = partial.to_path_buf();
        let opened = tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(have == 0)
                .append(have > 0)
                .open(&path)?;
            Ok::<_, std::io::Error>(DirectWriter::new(file, have))
        })
        .await
        .map_err(|e| OciError::io(partial, std::io::Error::other(e)))?
        .map_err(|e| OciError::io(partial, e))?;
        Ok(PartialWriter {
            path: partial.to_path_buf(),
            writer: Some(opened),
        })
    }

    /// Takes a partial download whose digest (and size) the caller verified into
    /// `blobs/` by one rename: the only way a downloaded blob enters the cache.
    pub(crate) async fn adopt_partial(&self, partial: &Path, digest: &str) -> Result<(), OciError> {
        let dest = self.blob_path(digest);
        let dest_dir = dest.parent().expect("blob paths have a parent");
        tokio::fs::create_dir_all(dest_dir)
            .await
            .map_err(|e| OciError::io(dest_dir, e))?;
        tokio::fs::rename(partial, &dest)
            .await
            .map_err(|e| OciError::io(&dest, e))
    }

    /// Removes a blob found to be corrupt.
    pub(crate) fn evict(&self, digest: &str) {
        let _ = std::fs::remove_file(self.blob_path(digest));
    }
}

/// Holds one blob's lock ([`Cache::lock_blob`]) until dropped.
pub(crate) struct BlobLock {
    _file: std::fs::File,
}

/// A blob being written into the cache; see [`Cache::writer`].
pub struct BlobWriter {
    cache: Cache,
    path: Option<PathBuf>,
    /// Taken by `commit`.
    file: Option<DirectWriter>,
    hasher: Sha256,
    size: u64,
}

impl BlobWriter {
    /// Flushes, and renames the file to `blobs/sha256/<digest>` (when another writer
    /// got there first with the same content, that copy stays). Returns the digest
    /// and size.
    pub fn commit(mut self) -> Result<(String, u64), OciError> {
        let path = self.path.take().expect("committed once");
        let file = self.file.take().expect("committed once");
        let done = (|| {
            drop(file.finish().map_err(|e| OciError::io(&path, e))?);
            let digest = format!("sha256:{}", hex::encode(&self.hasher.clone().finalize()));
            let dest = self.cache.blob_path(&digest);
            if self.cache.contains(&digest, self.size) {
                let _ = std::fs::remove_file(&path);
            } else {
                std::fs::rename(&path, &dest).map_err(|e| OciError::io(&dest, e))?;
            }
            Ok((digest, self.size))
        })();
        if done.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        done
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self
            .file
            .as_mut()
            .expect("written before commit")
            .write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    /// Bytes reach the file a block at a time and at [`BlobWriter::commit`].
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A partial download being written (see [`Cache::write_partial`]): bytes gather in an
/// aligned block, which goes out on tokio's blocking pool when full.
/// [`PartialWriter::finish`] writes the rest; dropped unfinished, the buffered tail is
/// lost and the file keeps a block-aligned prefix (a resume continues from its length).
pub(crate) struct PartialWriter {
    path: PathBuf,
    /// `None` only while a block is being written.
    writer: Option<DirectWriter>,
}

impl PartialWriter {
    pub(crate) async fn write(&mut self, mut bytes: &[u8]) -> Result<(), OciError> {
        while !bytes.is_empty() {
            let w = self.writer.as_mut().expect("a writer between blocks");
            let n = w.take(bytes);
            bytes = &bytes[n..];
            if w.block_full() {
                self.blocking(|w| w.send_block()).await?;
            }
        }
        Ok(())
    }

    /// Writes what is left and closes the file.
    pub(crate) async fn finish(mut self) -> Result<(), OciError> {
        let w = self.writer.take().expect("a writer between blocks");
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || w.finish().map(drop))
            .await
            .map_err(|e| OciError::io(&path, std::io::Error::other(e)))?
            .map_err(|e| OciError::io(&path, e))
    }

    async fn blocking(
        &mut self,
        op: impl FnOnce(&mut DirectWriter) -> std::io::Result<()> + Send + 'static,
    ) -> Result<(), OciError> {
        let mut w = self.writer.take().expect("a writer between blocks");
        let (w, result) = tokio::task::spawn_blocking(move || {
            let r = op(&mut w);
            (w, r)
        })
        .await
        .map_err(|e| OciError::io(&self.path, std::io::Error::other(e)))?;
        self.writer = Some(w);
        result.map_err(|e| OciError::io(&self.path, e))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The sha256 state and length of a file's content (none, for a missing file).
pub(crate) async fn hash_prefix(path: &Path) -> Result<(Sha256, u64), OciError> {
    use tokio::io::AsyncReadExt as _;
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((hasher, 0)),
        Err(e) => return Err(OciError::io(path, e)),
    };
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let r = file
            .read(&mut buf)
            .await
            .map_err(|e| OciError::io(path, e))?;
        if r == 0 {
            break;
        }
        hasher.update(&buf[..r]);
        n += r as u64;
    }
    Ok((hasher, n))
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(&Sha256::digest(bytes)))
}

/// A uniquely named new file in `dir` (exclusive create, so concurrent runs never share one).
pub(crate) fn tempfile_in(dir: &Path) -> Result<(PathBuf, std::fs::File), OciError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!(".tmp-{}-{n}-{nanos}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(OciError::io(dir, e)),
        }
    }
}

/// Copies `src` to `dst` while hashing it; `Ok(false)` (and no `dst`) when the
/// content does not match `digest` and `size`.
pub(crate) fn copy_verified(
    src: &Path,
    dst: &Path,
    digest: &str,
    size: u64,
) -> Result<bool, OciError> {
    let mut input = std::fs::File::open(src).map_err(|e| OciError::io(src, e))?;
    let mut output = std::fs::File::create(dst).map_err(|e| OciError::io(dst, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let r = input.read(&mut buf).map_err(|e| OciError::io(src, e))?;
        if r == 0 {
            break;
        }
        hasher.update(&buf[..r]);
        output
            .write_all(&buf[..r])
            .map_err(|e| OciError::io(dst, e))?;
        n += r as u64;
    }
    drop(output);
    if n != size || format!("sha256:{}", hex::encode(&hasher.finalize())) != digest {
        let _ = std::fs::remove_file(dst);
        return Ok(false);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_small_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let d = sha256_digest(b"hello");
        assert!(cache
            .blob_path(&d)
            .ends_with(format!("blobs/sha256/{}", &d[7..])));
        assert!(!cache.contains(&d, 5));
        cache.write_small(&d, b"hello").unwrap();
        assert!(cache.contains(&d, 5));
        assert!(!cache.contains(&d, 6));
        assert_eq!(cache.read_small(&d).unwrap(), b"hello");
        // A corrupted entry is dropped, not served.
        std::fs::write(cache.blob_path(&d), b"jello").unwrap();
        assert!(cache.read_small(&d).is_none());
        assert!(!cache.blob_path(&d).exists());
    }

    #[test]
    fn written_blobs_enter_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let mut w = cache.writer().unwrap();
        w.write_all(b"layer bytes").unwrap();
        let (d, n) = w.commit().unwrap();
        assert_eq!(
            (d.as_str(), n),
            (sha256_digest(b"layer bytes").as_str(), 11)
        );
        assert_eq!(std::fs::read(cache.blob_path(&d)).unwrap(), b"layer bytes");
        // The same content again keeps the first copy; an abandoned writer leaves nothing.
        let mut w = cache.writer().unwrap();
        w.write_all(b"layer bytes").unwrap();
        assert_eq!(w.commit().unwrap().0, d);
        let mut w = cache.writer().unwrap();
        w.write_all(b"half").unwrap();
        drop(w);
        assert_eq!(cache.put(b"{}").unwrap(), sha256_digest(b"{}"));
        let names: Vec<_> = std::fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "only complete blobs: {names:?}");
        assert!(names.iter().all(|n| !n.starts_with(".tmp")));
    }

    #[test]
    fn copy_checks_content() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a");
        std::fs::write(&src, b"abc").unwrap();
        let d = sha256_digest(b"abc");
        assert!(copy_verified(&src, &dir.path().join("b"), &d, 3).unwrap());
        assert_eq!(std::fs::read(dir.path().join("b")).unwrap(), b"abc");
        assert!(!copy_verified(&src, &dir.path().join("c"), &sha256_digest(b"abd"), 3).unwrap());
        assert!(!dir.path().join("c").exists());
        assert_eq!(
            d,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
