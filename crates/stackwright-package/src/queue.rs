//! [`BuildQueue`]: packaged images built while their release files are still arriving.
//! Each [`Recipe`] waits for its files (by sha256); the moment the last one is reported
//! complete in the cache ([`BuildQueue::file_ready`]), it goes to one of a fixed number of
//! build threads — so the builds overlap the downloads instead of following them. Which
//! thread builds which image, and when, changes nothing in the bytes: each image depends
//! on its recipe alone (see [`Recipe::build_or_reuse`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use stackwright_oci::Cache;

use crate::{BuiltImage, Made, PackageError, Recipe};

/// What one recipe came to.
pub type BuildResult = Result<(BuiltImage, Made), PackageError>;

/// Recipes built (or reused) on a pool of threads as their files become available.
///
/// ```
/// # fn main() -> Result<(), stackwright_package::PackageError> {
/// # use stackwright_package::{BuildQueue, ExtractLimits, Recipe};
/// # use stackwright_types::package::{FileFormat, FileLayout, Mode, Package, ReleaseFile, Sha256};
/// let dir = tempfile::tempdir().unwrap();
/// let cache = stackwright_oci::Cache::new(dir.path());
/// // A release file, in the cache under its sha256 (as `fetch_files` leaves it).
/// let digest = cache.put(b"#!/bin/sh\necho hi\n")?;
/// let file = ReleaseFile {
///     arch: stackwright_types::manifest::Arch::Amd64,
///     url: "https://example.org/hi".into(),
///     sha256: Some(Sha256::parse(&digest["sha256:".len()..]).unwrap()),
///     checksum_source: None,
///     format: FileFormat::Binary,
///     layout: FileLayout::Binary { path: "usr/bin/hi".into(), mode: Mode(0o755) },
///     location: stackwright_types::Location {
///         file: "hi.toml".into(), line: 1, column: 1, length: 0, snippet: None,
///     },
/// };
/// let recipe = Recipe {
///     arch: "amd64".into(),
///     mtime: 0,
///     title: "hi".into(),
///     version: "1.0.0".into(),
///     files: vec![file],
///     package: Package::default(),
///     limits: ExtractLimits::default(),
/// };
/// let queue = BuildQueue::start(vec![recipe], &cache, 2);
/// queue.file_ready(&digest); // from the download's `ready` callback
/// let results = queue.finish();
/// assert!(results[0].is_ok());
/// # Ok(()) }
/// ```
pub struct BuildQueue {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

struct Shared {
    recipes: Vec<Recipe>,
    cache: Cache,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// Recipes whose files have all arrived, not yet taken by a thread.
    ready: VecDeque<usize>,
    /// sha256 → the recipes still waiting for that file.
    waiting: BTreeMap<String, Vec<usize>>,
    /// Per recipe: how many distinct files it still waits for.
    missing: Vec<usize>,
    /// Per recipe: what its build gave.
    results: Vec<Option<BuildResult>>,
    /// No more files will be reported: threads end once `ready` is empty.
    closed: bool,
    /// Stop: recipes not yet started are dropped.
    cancelled: bool,
}

impl BuildQueue {
    /// Starts `workers` build threads (at least one; at most one per recipe to build) for
    /// `recipes`, which wait for their files. A recipe whose image an earlier run built
    /// ([`Recipe::reuse`], checked here on the caller's thread) is done at once and waits
    /// for nothing; a recipe without files is ready at once.
    pub fn start(recipes: Vec<Recipe>, cache: &Cache, workers: usize) -> BuildQueue {
        let mut state = State {
            results: recipes.iter().map(|_| None).collect(),
            ..State::default()
        };
        let mut to_build = 0;
        for (i, r) in recipes.iter().enumerate() {
            // Built before from the same inputs and still complete: done, and none of its
            // files is needed (a rerun asks nothing of the network or the release files).
            if let Some(image) = r.reuse(cache) {
                state.results[i] = Some(Ok((image, Made::Reused)));
                state.missing.push(0);
                continue;
            }
            to_build += 1;
            let mut digests: Vec<String> = r
                .files
                .iter()
                .filter_map(|f| f.sha256.as_ref().map(|s| s.digest()))
                .collect();
            digests.sort();
            digests.dedup();
            // A file without a sha256 is never downloaded: its build reports it.
            state.missing.push(digests.len());
            if digests.is_empty() {
                state.ready.push_back(i);
            }
            for d in digests {
                state.waiting.entry(d).or_default().push(i);
            }
        }
        let shared = Arc::new(Shared {
            recipes,
            cache: cache.clone(),
            state: Mutex::new(state),
            wake: Condvar::new(),
        });
        let n = workers.max(1).min(to_build);
        let threads = (0..n)
            .map(|i| {
                let shared = shared.clone();
                // Named, so a profile or a debugger tells the builds apart; a thread that
                // cannot start is what `std::thread::spawn` would panic on as well.
                std::thread::Builder::new()
                    .name(format!("sw-build-{i}"))
                    .spawn(move || shared.work())
                    .expect("the OS starts a build thread")
            })
            .collect();
        BuildQueue { shared, threads }
    }

    /// Whether a recipe still to build waits for the file with this digest: the files to
    /// fetch are those it waits for.
    pub fn waits_for(&self, digest: &str) -> bool {
        self.shared.lock().waiting.contains_key(digest)
    }

    /// The file with this digest (`sha256:<hex>`) is complete in the cache: every recipe
    /// that now has all its files is queued for a build thread. Cheap (a lock and a
    /// queue push); a digest no recipe waits for, or one reported twice, is ignored.
    pub fn file_ready(&self, digest: &str) {
        let mut st = self.shared.lock();
        let Some(recipes) = st.waiting.remove(digest) else {
            return;
        };
        for i in recipes {
            st.missing[i] -= 1;
            if st.missing[i] == 0 {
                st.ready.push_back(i);
                self.shared.wake.notify_one();
            }
        }
    }

    /// Every file has been reported (or never will be): the recipes still waiting are
    /// built too (a missing file is then their build's error), and once all builds are
    /// done their results come back in the recipes' order.
    pub fn finish(self) -> Vec<BuildResult> {
        {
            let mut st = self.shared.lock();
            let waiting = std::mem::take(&mut st.waiting);
            let mut rest: Vec<usize> = waiting.into_values().flatten().collect();
            rest.sort_unstable();
            rest.dedup();
            st.ready.extend(rest);
            st.closed = true;
            self.shared.wake.notify_all();
        }
        let shared = self.join();
        let mut st = shared.lock();
        std::mem::take(&mut st.results)
            .into_iter()
            .map(|r| r.expect("every recipe is built once the queue is closed"))
            .collect()
    }

    /// Stops: builds under way run to their end (a build leaves its blobs complete or
    /// not at all), the rest are dropped. Returns once every thread has ended.
    pub fn cancel(self) {
        {
            let mut st = self.shared.lock();
            st.cancelled = true;
            st.closed = true;
            self.shared.wake.notify_all();
        }
        self.join();
    }

    fn join(mut self) -> Arc<Shared> {
        for t in std::mem::take(&mut self.threads) {
            if let Err(panic) = t.join() {
                std::panic::resume_unwind(panic);
            }
        }
        self.shared.clone()
    }
}

impl Drop for BuildQueue {
    /// Dropped without [`BuildQueue::finish`] (an early return, a panic): as
    /// [`BuildQueue::cancel`], so no thread outlives the queue.
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        {
            let mut st = self.shared.lock();
            st.cancelled = true;
            st.closed = true;
            self.shared.wake.notify_all();
        }
        for t in std::mem::take(&mut self.threads) {
            let _ = t.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a build thread panicked; `join` passes the panic on.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One build thread: take a ready recipe, build it without the lock, store the result.
    fn work(&self) {
        loop {
            let i = {
                let mut st = self.lock();
                loop {
                    if st.cancelled {
                        return;
                    }
                    if let Some(i) = st.ready.pop_front() {
                        break i;
                    }
                    if st.closed {
                        return;
                    }
                    st = self.wake.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            };
            let result = self.recipes[i].build_or_reuse(&self.cache);
            self.lock().results[i] = Some(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExtractLimits;
    use stackwright_types::package::{FileFormat, FileLayout, Mode, Package, ReleaseFile, Sha256};

    fn file(digest: &str, to: &str) -> ReleaseFile {
        ReleaseFile {
            arch: stackwright_types::manifest::Arch::Amd64,
            url: format!("https://example.org/{to}"),
            sha256: Some(Sha256::parse(digest.trim_start_matches("sha256:")).unwrap()),
            checksum_source: None,
            format: FileFormat::Binary,
            layout: FileLayout::Binary {
                path: format!("usr/bin/{to}"),
                mode: Mode(0o755),
            },
            location: stackwright_types::Location {
                file: "q.toml".into(),
                line: 1,
                column: 1,
                length: 0,
                snippet: None,
            },
        }
    }

    fn recipe(title: &str, files: Vec<ReleaseFile>) -> Recipe {
        Recipe {
            arch: "amd64".into(),
            mtime: 0,
            title: title.into(),
            version: "1.0.0".into(),
            files,
            package: Package::default(),
            limits: ExtractLimits::default(),
        }
    }

    /// Results come back in the recipes' order whatever order the files arrive in, equal
    /// to building each recipe on its own; a file two recipes share is reported once.
    #[test]
    fn builds_as_files_arrive_and_answers_in_recipe_order() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let digests: Vec<String> = (0..4)
            .map(|i| cache.put(format!("tool {i}\n").as_bytes()).unwrap())
            .collect();
        let recipes = vec![
            recipe("a", vec![file(&digests[0], "a"), file(&digests[1], "b")]),
            recipe("b", vec![file(&digests[1], "b")]),
            recipe("c", vec![file(&digests[2], "c"), file(&digests[3], "d")]),
            recipe("d", vec![file(&digests[3], "d")]),
        ];
        let alone: Vec<_> = recipes.iter().map(|r| r.build(&cache).unwrap()).collect();
        let fresh = tempfile::tempdir().unwrap();
        let cache = Cache::new(fresh.path());
        for (i, d) in digests.iter().enumerate() {
            assert_eq!(&cache.put(format!("tool {i}\n").as_bytes()).unwrap(), d);
        }
        let recipes_again = recipes.clone();
        let queue = BuildQueue::start(recipes, &cache, 3);
        assert!(digests.iter().all(|d| queue.waits_for(d)));
        for d in [
            &digests[3],
            &digests[1],
            &digests[1],
            &digests[2],
            &digests[0],
        ] {
            queue.file_ready(d);
        }
        queue.file_ready("sha256:0000000000000000000000000000000000000000000000000000000000000000");
        let results = queue.finish();
        assert_eq!(results.len(), 4);
        for (r, a) in results.into_iter().zip(&alone) {
            let (built, made) = r.unwrap();
            assert_eq!((&built, made), (a, Made::Built));
        }
        // Again on that cache: every image reused at `start`, no file waited for.
        let queue = BuildQueue::start(recipes_again, &cache, 3);
        assert!(digests.iter().all(|d| !queue.waits_for(d)));
        for (r, a) in queue.finish().into_iter().zip(&alone) {
            assert_eq!(r.unwrap(), (a.clone(), Made::Reused));
        }
    }

    /// A recipe whose file was never reported is built at `finish` (its missing file is its
    /// error, in its place); `cancel` drops what has not started and ends every thread.
    #[test]
    fn unreported_files_fail_in_place_and_cancel_stops() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let here = cache.put(b"here\n").unwrap();
        let gone = stackwright_oci::sha256_digest(b"never downloaded\n");
        let queue = BuildQueue::start(
            vec![
                recipe("gone", vec![file(&gone, "gone")]),
                recipe("here", vec![file(&here, "here")]),
            ],
            &cache,
            2,
        );
        queue.file_ready(&here);
        let results = queue.finish();
        assert!(
            matches!(&results[0], Err(PackageError::Io { path, .. }) if path.ends_with(&gone["sha256:".len()..])),
            "{:?}",
            results[0]
        );
        assert!(results[1].is_ok());

        // Cancelled before its file was reported: not built although the file is there
        // (`finish` would have built it).
        let fresh = tempfile::tempdir().unwrap();
        let cache = Cache::new(fresh.path());
        assert_eq!(cache.put(b"here\n").unwrap(), here);
        let r = recipe("here", vec![file(&here, "here")]);
        BuildQueue::start(vec![r.clone()], &cache, 1).cancel();
        assert!(cache.built_image(&r.key()).is_none());
        assert!(BuildQueue::start(vec![r.clone()], &cache, 1).finish()[0].is_ok());
        assert!(cache.built_image(&r.key()).is_some());
    }
}
