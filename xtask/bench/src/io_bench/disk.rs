//! `bench disk-images`: the time to write each disk image format of the boot test's
//! platform (its kernel, initrd and cmdline, as `assemble --format kernel+initrd` wrote
//! them) with `stackwright_disk::write`, beside the floor: writing the initrd alone (its
//! bytes copied into a new file and synced, as every image must at least do). Best of 3;
//! the images go to a temporary directory and are deleted.

use std::path::Path;
use std::time::{Duration, Instant};

use stackwright_disk::{Format, Input};

const RUNS: usize = 3;

fn best(mut f: impl FnMut() -> Result<(), String>) -> Result<Duration, String> {
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed());
    }
    Ok(best)
}

/// `out` is a `kernel+initrd` output directory.
pub fn line(out: &Path) -> Result<String, String> {
    if let Some(m) = stackwright_disk::TOOLS
        .iter()
        .find_map(|t| t.find().err().map(|e| e.to_string()))
    {
        return Err(m);
    }
    let boot = stackwright_qemu::find_boot(out).map_err(|e| e.to_string())?;
    let work = tempfile::Builder::new()
        .prefix("bench-disk.")
        .tempdir_in(out)
        .map_err(|e| e.to_string())?;
    let floor_path = work.path().join("initrd-copy");
    let floor = best(|| {
        let mut from = std::fs::File::open(&boot.initrd).map_err(|e| e.to_string())?;
        let mut to = std::fs::File::create(&floor_path).map_err(|e| e.to_string())?;
        std::io::copy(&mut from, &mut to).map_err(|e| e.to_string())?;
        to.sync_all().map_err(|e| e.to_string())
    })?;
    let input = Input {
        kernel: &boot.kernel,
        initrd: &boot.initrd,
        cmdline: &boot.cmdline,
        mtime: 0,
        size: None,
        temp_dir: Some(work.path()),
    };
    let mut cols = Vec::new();
    for f in Format::ALL {
        let path = work.path().join(f.file_name("bench"));
        let t = best(|| {
            let _ = std::fs::remove_file(&path);
            stackwright_disk::write(f, &input, &path).map_err(|e| format!("{f}: {e}"))
        })?;
        let mib = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
        cols.push(format!(
            "{f}={:.0}ms({:.1}x,{mib:.0}MiB)",
            t.as_secs_f64() * 1000.0,
            t.as_secs_f64() / floor.as_secs_f64()
        ));
        let _ = std::fs::remove_file(&path);
    }
    let mb = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
    Ok(format!(
        "bench disk-images {} initrd-write-floor={:.0}ms initrd={:.1}MiB kernel={:.1}MiB best-of={RUNS}",
        cols.join(" "),
        floor.as_secs_f64() * 1000.0,
        mb(&boot.initrd),
        mb(&boot.kernel),
    ))
}
