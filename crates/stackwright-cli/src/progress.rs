//! Registry work and builds as the terminal shows them: the library reports pins, pulls,
//! release-file downloads, packaged images, pushes, and the build (images unpacked, layers
//! applied, outputs written) through `stackwright::Progress`; this module draws them.
//!
//! On a terminal (stderr), at the default verbosity: progress bars (indicatif) — one
//! for the whole pull once its plan is known, one per blob or file while it downloads, one
//! for the build's layers (by their stored bytes) once it starts, a status line with the current phase and the elapsed time — cleared at the end, leaving
//! only lasting lines (images built, retries) and one summary line. Otherwise plain lines:
//! not a terminal (CI logs, pipes) or `-v` (every blob and file, cached or not, and every
//! download's start); nothing under `-q`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ui;

/// How progress is shown in this run.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Mode {
    Bars,
    Lines,
    Silent,
}

fn mode() -> Mode {
    if ui::quiet() {
        Mode::Silent
    } else if ui::verbose() || !std::io::stderr().is_terminal() {
        Mode::Lines
    } else {
        Mode::Bars
    }
}

/// What the work is, for the words of the plain lines.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Work {
    /// Pins, pulls, release files, builds (`assemble`, `run qemu`): "fetched", "cached".
    Assemble,
    /// Pushes and pulls of published assemblies: "done", "present".
    Share,
}

/// The CLI's implementation of the library's progress trait.
pub(crate) struct Reporter {
    work: Work,
    mode: Mode,
    bars: Mutex<Option<Bars>>,
    /// Shown on the status line once the pull is complete (e.g. "building tar").
    after_pull: Option<String>,
}

impl Reporter {
    pub(crate) fn new(work: Work) -> Self {
        Reporter {
            work,
            mode: mode(),
            bars: Mutex::new(None),
            after_pull: None,
        }
    }

    /// What the status line says once every blob of the pull is in place: the formats
    /// being built (until the build reports its plan).
    pub(crate) fn building<F: std::fmt::Display>(mut self, formats: &[F]) -> Self {
        if !formats.is_empty() {
            let names: Vec<String> = formats.iter().map(F::to_string).collect();
            self.after_pull = Some(format!("building {}", names.join(", ")));
        }
        self
    }

    /// The bars, created on the first event (a run without registry work draws nothing).
    fn with_bars(&self, f: impl FnOnce(&mut Bars)) {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        f(bars.get_or_insert_with(Bars::new));
    }

    fn line(&self, text: std::fmt::Arguments<'_>) {
        match self.mode {
            Mode::Lines => ui::eline(text),
            Mode::Bars => self.with_bars(|b| b.println(&text.to_string())),
            Mode::Silent => {}
        }
    }

    fn words(&self) -> (&'static str, &'static str) {
        match self.work {
            Work::Assemble => ("fetched", "cached"),
            Work::Share => ("done", "present"),
        }
    }
}

impl Drop for Reporter {
    /// Clears the bars and leaves one summary line, before any diagnostic is printed.
    fn drop(&mut self) {
        let bars = self.bars.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = bars.take() {
            b.finish(self.work);
        }
    }
}

impl stackwright::Progress for Reporter {
    fn resolved(&self, image: &str, digest: &str) {
        match self.mode {
            Mode::Lines => ui::eline(format_args!("resolved {image} -> {digest}")),
            Mode::Bars => self.with_bars(|b| {
                b.resolved += 1;
                b.status(format!("resolved {image}"));
            }),
            Mode::Silent => {}
        }
    }

    fn plan(&self, blobs: usize, total: u64, download: u64) {
        match self.mode {
            Mode::Lines => ui::eline(format_args!(
                "{blobs} blobs, {total} bytes, {download} to download"
            )),
            Mode::Bars => self.with_bars(|b| b.plan(blobs, total, download)),
            Mode::Silent => {}
        }
    }

    fn blob_started(&self, image: &str, digest: &str, size: u64, resumed_at: u64) {
        match self.mode {
            Mode::Lines if ui::verbose() => {
                let resumed = if resumed_at > 0 {
                    format!(", resuming at {resumed_at}")
                } else {
                    String::new()
                };
                ui::eline(format_args!(
                    "fetching {digest} for {image} ({size} bytes{resumed})"
                ));
            }
            Mode::Bars => self.with_bars(|b| b.started(image, digest, size, resumed_at)),
            _ => {}
        }
    }

    fn blob_progress(&self, digest: &str, bytes: u64) {
        if self.mode == Mode::Bars {
            self.with_bars(|b| b.progress(digest, bytes));
        }
    }

    fn blob_finished(&self, digest: &str, size: u64, cached: bool) {
        let (fetched, present) = self.words();
        match self.mode {
            Mode::Lines if !cached || ui::verbose() => ui::eline(format_args!(
                "{} {digest} ({size} bytes)",
                if cached { present } else { fetched }
            )),
            Mode::Bars => self.with_bars(|b| {
                b.finished(digest, size, cached);
                if b.pull_complete() {
                    if let Some(next) = &self.after_pull {
                        b.status(next.clone());
                    }
                }
            }),
            _ => {}
        }
    }

    fn image_built(&self, image: &str, digest: &str, reused: bool) {
        if reused {
            self.line(format_args!(
                "reused {image} -> {digest} (built before from the same files)"
            ));
        } else {
            self.line(format_args!("built {image} -> {digest}"));
        }
        if self.mode == Mode::Bars {
            self.with_bars(|b| b.status("packaging images".into()));
        }
    }

    fn retrying(&self, what: &str, attempt: u32, error: &(dyn std::error::Error + 'static)) {
        self.line(format_args!("retrying {what} (attempt {attempt}): {error}"));
    }

    fn build_planned(&self, images: usize, layers: usize, bytes: u64) {
        match self.mode {
            Mode::Lines => ui::eline(format_args!(
                "building: {images} images, {layers} layers, {bytes} bytes"
            )),
            Mode::Bars => self.with_bars(|b| b.build_planned(images, layers, bytes)),
            Mode::Silent => {}
        }
    }

    fn layer_unpacked(&self, image: &str, digest: &str, bytes: u64) {
        match self.mode {
            Mode::Lines if ui::verbose() => {
                ui::eline(format_args!("unpacked {digest} of {image} ({bytes} bytes)"))
            }
            Mode::Bars => self.with_bars(|b| b.layer_unpacked(image, digest, bytes)),
            _ => {}
        }
    }

    fn image_unpacked(&self, image: &str) {
        match self.mode {
            Mode::Lines if ui::verbose() => ui::eline(format_args!("unpacked {image}")),
            Mode::Bars => self.with_bars(|b| b.images_unpacked += 1),
            _ => {}
        }
    }

    fn output_written(&self, file: &str, bytes: u64) {
        match self.mode {
            Mode::Lines => ui::eline(format_args!("wrote {file} ({bytes} bytes)")),
            Mode::Bars => self.with_bars(|b| b.output_written(file, bytes)),
            Mode::Silent => {}
        }
    }
}

/// The bars of one run, and what the summary line counts.
struct Bars {
    multi: MultiProgress,
    /// The bottom line: the phase and the elapsed time.
    status: ProgressBar,
    /// The whole pull, once its plan is known.
    total: Option<ProgressBar>,
    /// Downloads under way, by digest.
    blobs: HashMap<String, ProgressBar>,
    /// The build's layers, once it starts.
    build: Option<ProgressBar>,
    images_unpacked: usize,
    /// Outputs the build wrote: how many, how many bytes.
    outputs: usize,
    output_bytes: u64,
    planned: usize,
    resolved: usize,
    fetched: usize,
    cached: usize,
    bytes: u64,
    start: Instant,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// `docker.io/linuxkit/getty:v1` → `getty:v1`; `sha256:abcdef…` → `abcdef123456`.
fn short(image: &str, digest: &str) -> String {
    let name = image.rsplit('/').next().unwrap_or(image);
    let hex = digest.rsplit(':').next().unwrap_or(digest);
    format!("{name} {}", &hex[..hex.len().min(12)])
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let status = multi.add(ProgressBar::new_spinner());
        status.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        status.set_message("contacting registries");
        status.enable_steady_tick(Duration::from_millis(120));
        Bars {
            multi,
            status,
            total: None,
            blobs: HashMap::new(),
            build: None,
            images_unpacked: 0,
            outputs: 0,
            output_bytes: 0,
            planned: 0,
            resolved: 0,
            fetched: 0,
            cached: 0,
            bytes: 0,
            start: Instant::now(),
        }
    }

    fn status(&self, message: String) {
        self.status.set_message(message);
    }

    fn println(&self, text: &str) {
        let _ = self.multi.println(text);
    }

    fn plan(&mut self, blobs: usize, total: u64, download: u64) {
        self.planned += blobs;
        let bar = self
            .multi
            .insert_before(&self.status, ProgressBar::new(download));
        bar.set_style(style(
            "{prefix:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
        ));
        bar.set_prefix("pulling");
        bar.set_message(format!(
            "({blobs} blobs, {} in the cache)",
            HumanBytes(total - download.min(total))
        ));
        self.status(format!("pulling {blobs} blobs"));
        if let Some(old) = self.total.replace(bar) {
            old.finish_and_clear();
        }
    }

    fn started(&mut self, image: &str, digest: &str, size: u64, resumed_at: u64) {
        let bar = self
            .multi
            .insert_before(&self.status, ProgressBar::new(size));
        bar.set_style(style(
            "{prefix:>9} {msg:28!} [{bar:20}] {bytes}/{total_bytes}",
        ));
        bar.set_prefix("fetching");
        bar.set_message(short(image, digest));
        bar.set_position(resumed_at);
        if self.total.is_none() {
            self.status("downloading".into());
        }
        if let Some(old) = self.blobs.insert(digest.to_string(), bar) {
            old.finish_and_clear();
        }
    }

    fn progress(&mut self, digest: &str, bytes: u64) {
        if let Some(bar) = self.blobs.get(digest) {
            bar.inc(bytes);
        }
        if let Some(total) = &self.total {
            total.inc(bytes);
        }
        self.bytes += bytes;
    }

    fn finished(&mut self, digest: &str, _size: u64, cached: bool) {
        if let Some(bar) = self.blobs.remove(digest) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        if cached {
            self.cached += 1;
        } else {
            self.fetched += 1;
        }
    }

    fn build_planned(&mut self, images: usize, layers: usize, bytes: u64) {
        let bar = self
            .multi
            .insert_before(&self.status, ProgressBar::new(bytes));
        bar.set_style(style(
            "{prefix:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        ));
        bar.set_prefix("unpacking");
        bar.set_message(format!("({images} images, {layers} layers)"));
        if let Some(old) = self.build.replace(bar) {
            old.finish_and_clear();
        }
    }

    fn layer_unpacked(&mut self, image: &str, digest: &str, bytes: u64) {
        if let Some(bar) = &self.build {
            bar.inc(bytes);
        }
        self.status(format!("unpacking {}", short(image, digest)));
    }

    fn output_written(&mut self, file: &str, bytes: u64) {
        if let Some(bar) = self.build.take() {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.outputs += 1;
        self.output_bytes += bytes;
        self.status(format!("wrote {file} ({})", HumanBytes(bytes)));
    }

    /// Every blob the plans named is in place and nothing is downloading.
    fn pull_complete(&self) -> bool {
        self.planned > 0 && self.fetched + self.cached >= self.planned && self.blobs.is_empty()
    }

    fn finish(self, work: Work) {
        for bar in self.blobs.values() {
            bar.finish_and_clear();
        }
        if let Some(t) = &self.total {
            t.finish_and_clear();
        }
        if let Some(b) = &self.build {
            b.finish_and_clear();
        }
        self.status.finish_and_clear();
        let _ = self.multi.clear();
        let mut parts = Vec::new();
        if self.resolved > 0 {
            parts.push(format!("{} image(s) resolved", self.resolved));
        }
        if self.fetched + self.cached > 0 {
            let (moved, kept) = match work {
                Work::Assemble => ("downloaded", "from the cache"),
                Work::Share => ("transferred", "already there"),
            };
            parts.push(format!(
                "{} blob(s) and file(s): {} {moved} ({}), {} {kept}",
                self.fetched + self.cached,
                self.fetched,
                HumanBytes(self.bytes),
                self.cached
            ));
        }
        if self.images_unpacked > 0 || self.outputs > 0 {
            parts.push(format!(
                "{} image(s) unpacked, {} output(s) written ({})",
                self.images_unpacked,
                self.outputs,
                HumanBytes(self.output_bytes)
            ));
        }
        if !parts.is_empty() {
            ui::eline(format_args!(
                "{} in {:.1} s",
                parts.join("; "),
                self.start.elapsed().as_secs_f64()
            ));
        }
    }
}
