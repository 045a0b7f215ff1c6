//! A coverage-less fuzz loop for the stable toolchain, used by `cargo xtask fuzz` when
//! libFuzzer cannot be built (`cargo fuzz` needs nightly flags).
//!
//! `stable <target> --corpus DIR --artifacts DIR [--seconds N] [--timeout S] [--max-len B]`
//!
//! It mutates the corpus (bit and byte flips, inserted and deleted runs, tokens from a
//! dictionary of TOML/YAML/tar syntax, splices of two inputs, repetition of a slice to
//! build deep or long inputs) and runs the target on each result. A panic is caught and
//! its input saved as `artifacts/crash-<hash>`; an input that runs longer than the timeout
//! is saved as `timeout-<hash>` and the process exits; an input that kills the process
//! (stack overflow, abort) is left in `artifacts/.current` for the caller to keep.
//! Inputs that panic in a new place are all kept; the run goes on after a crash.
//! Exit code: 0 no crash, 1 crashes found, 2 usage.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DICT: &[&[u8]] = &[
    b"[",
    b"]",
    b"{",
    b"}",
    b"[[",
    b"]]",
    b"\"",
    b"'''",
    b"\"\"\"",
    b"=",
    b".",
    b",",
    b"\n",
    b"#",
    b"\\u0000",
    b"\\",
    b"-",
    b"*",
    b"^",
    b"~",
    b">=",
    b"<",
    b"0",
    b"1.2.3",
    b"99999999999999999999.0.0",
    b"-1",
    b"1e999",
    b"nan",
    b"inf",
    b"true",
    b"[[release]]\n",
    b"[release]\n",
    b"version = ",
    b"requires",
    b"provides",
    b"extends",
    b"[components]\n",
    b"[assembly]\n",
    b"[[files]]\n",
    b"path = ",
    b"contents = ",
    b"source = ",
    b"../",
    b"/",
    b"[external]\n",
    b"[prefer]\n",
    b"[policy]\n",
    b"privileged",
    b"kernel",
    b"cmdline",
    b"config",
    b"container",
    b"image = ",
    b"docker.io/linuxkit/getty:v1",
    b"@sha256:",
    b"a.b.c = 1\n",
    b"\xff",
    b"\xc3\x28",
    b"\r\n",
    b"\t",
    b": ",
    b"- ",
    b"&a ",
    b"*a",
    b"<<: *a\n",
    b"!!binary ",
    b"---\n",
    b"...\n",
    b"? ",
    b"|\n  ",
    b">-\n",
    b"services:\n",
    b"onboot:\n",
    b"init:\n",
    b"kernel:\n  image: ",
    b"files:\n",
    b"  - name: x\n    image: y\n",
    b"mode: \"0644\"\n",
    b"capabilities:\n",
    b"ustar\x00",
    b"ustar  \x00",
    b".wh.",
    b".wh..wh..opq",
    b"\x1f\x8b",
    b"00000000000",
    b"0000644\x00",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut target = None;
    let mut corpus = None;
    let mut artifacts = PathBuf::from("artifacts");
    let mut seconds = 60u64;
    let mut timeout = 10u64;
    let mut max_len = 64 * 1024usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |what: &str| {
            it.next().cloned().unwrap_or_else(|| {
                eprintln!("{a} needs {what}");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--corpus" => corpus = Some(PathBuf::from(val("a directory"))),
            "--artifacts" => artifacts = PathBuf::from(val("a directory")),
            "--seconds" => seconds = val("a number").parse().unwrap_or(60),
            "--timeout" => timeout = val("a number").parse().unwrap_or(10),
            "--max-len" => max_len = val("a number").parse().unwrap_or(max_len),
            t if !t.starts_with('-') && target.is_none() => target = Some(t.to_string()),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2)
            }
        }
    }
    let Some(name) = target else {
        eprintln!("usage: stable <target> --corpus DIR --artifacts DIR [--seconds N]");
        std::process::exit(2)
    };
    let Some(run) = stackwright_fuzz::target(&name) else {
        eprintln!(
            "unknown target {name}; targets: {}",
            stackwright_fuzz::TARGETS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        );
        std::process::exit(2)
    };
    std::fs::create_dir_all(&artifacts).expect("artifacts directory");
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    if let Some(dir) = &corpus {
        read_corpus(dir, &mut inputs);
    }
    if inputs.is_empty() {
        inputs.push(Vec::new());
    }
    let seeds = inputs.len();

    // The input being run, for the watchdog and for a death we cannot catch.
    let current = Arc::new(Mutex::new(Vec::<u8>::new()));
    let started_at = Arc::new(AtomicU64::new(0)); // ms since `t0` + 1; 0 = idle
    let t0 = Instant::now();
    {
        let current = current.clone();
        let started_at = started_at.clone();
        let artifacts = artifacts.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            let s = started_at.load(Ordering::Relaxed);
            if s == 0 {
                continue;
            }
            let running = t0.elapsed().as_millis() as u64 + 1 - s;
            if running > timeout * 1000 {
                let input = current.lock().map(|c| c.clone()).unwrap_or_default();
                let p = artifacts.join(format!("timeout-{:016x}", hash(&input)));
                let _ = std::fs::write(&p, &input);
                eprintln!("TIMEOUT after {running} ms: input saved to {}", p.display());
                std::process::exit(1);
            }
        });
    }
    // Panics are expected here (they are what we look for); keep their messages short.
    let last_panic: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
    {
        let last_panic = last_panic.clone();
        std::panic::set_hook(Box::new(move |info| {
            let loc = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            if let Ok(mut l) = last_panic.lock() {
                *l = format!("{loc}: {}", msg.lines().next().unwrap_or(""));
            }
        }));
    }
    let current_file = artifacts.join(".current");
    let mut rng =
        Rng(0x9e37_79b9_7f4a_7c15 ^ t0.elapsed().as_nanos() as u64 ^ std::process::id() as u64);
    let mut execs = 0u64;
    let mut crash_sites = BTreeSet::new();
    let mut crashes = 0usize;
    let deadline = t0 + Duration::from_secs(seconds);
    // Every seed once as it is, then mutations.
    let mut queue: Vec<Vec<u8>> = inputs.clone();
    let mut last_report = Instant::now();
    while Instant::now() < deadline {
        let input = match queue.pop() {
            Some(i) => i,
            None => mutate(&inputs, &mut rng, max_len),
        };
        let _ = std::fs::write(&current_file, &input);
        if let Ok(mut c) = current.lock() {
            c.clone_from(&input);
        }
        started_at.store(t0.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
        let result = std::panic::catch_unwind(|| run(&input));
        started_at.store(0, Ordering::Relaxed);
        execs += 1;
        if result.is_err() {
            let site = last_panic.lock().map(|l| l.clone()).unwrap_or_default();
            let key: String = site.split(": ").next().unwrap_or("").to_string();
            if crash_sites.insert(key) {
                crashes += 1;
                let p = artifacts.join(format!("crash-{:016x}", hash(&input)));
                let _ = std::fs::write(&p, &input);
                eprintln!("CRASH {site}\n  input saved to {}", p.display());
            }
        } else if rng.below(64) == 0 && inputs.len() < 4096 {
            // Keep some survivors, so mutations compound (no coverage to guide us).
            inputs.push(input);
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "{name}: {execs} execs ({:.0}/s), corpus {}, crashes {crashes}",
                execs as f64 / t0.elapsed().as_secs_f64(),
                inputs.len()
            );
            last_report = Instant::now();
        }
    }
    let _ = std::fs::remove_file(&current_file);
    eprintln!(
        "{name}: done, {execs} execs in {:.0} s ({seeds} seeds), {crashes} distinct crash site(s)",
        t0.elapsed().as_secs_f64()
    );
    let _ = std::io::stderr().flush();
    std::process::exit(if crashes > 0 { 1 } else { 0 });
}

fn read_corpus(dir: &Path, out: &mut Vec<Vec<u8>>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            read_corpus(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.push(b);
        }
    }
}

fn hash(b: &[u8]) -> u64 {
    // FNV-1a: stable file names for the same input.
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
        (h ^ *x as u64).wrapping_mul(0x100_0000_01b3)
    })
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(inputs: &[Vec<u8>], rng: &mut Rng, max_len: usize) -> Vec<u8> {
    let mut v = inputs[rng.below(inputs.len())].clone();
    let rounds = 1 + rng.below(6);
    for _ in 0..rounds {
        let len = v.len();
        match rng.below(11) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 => {
                let tok = DICT[rng.below(DICT.len())];
                let i = rng.below(len + 1);
                v.splice(i..i, tok.iter().copied());
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                // Duplicate a slice many times: deep nesting, long keys, many entries.
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let piece = v[i..i + n].to_vec();
                let cap = if rng.below(8) == 0 { 5000 } else { 16 };
                let times = 1 + rng.below(cap);
                let mut rep = Vec::with_capacity(n * times);
                for _ in 0..times {
                    rep.extend_from_slice(&piece);
                }
                v.splice(i..i, rep);
            }
            5 => {
                // Splice with another input.
                let other = &inputs[rng.below(inputs.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = a + rng.below(other.len() - a + 1);
                    let i = rng.below(len + 1);
                    v.splice(i..i, other[a..b].iter().copied());
                }
            }
            6 if len > 0 => {
                // Replace a line with a line of another input.
                let other = &inputs[rng.below(inputs.len())];
                let lines: Vec<&[u8]> = other.split(|b| *b == b'\n').collect();
                let line = lines[rng.below(lines.len())];
                let i = rng.below(len);
                let start = v[..i]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |p| p + 1);
                let end = v[i..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(len, |p| i + p);
                v.splice(start..end, line.iter().copied());
            }
            7 if len > 0 => {
                // Interesting numbers for tar headers and counters.
                let i = rng.below(len);
                let nums: &[&[u8]] = &[b"0", b"7777777", b"77777777777", b"\x80\xff\xff\xff", b"-"];
                let n = nums[rng.below(nums.len())];
                let end = (i + n.len()).min(len);
                v.splice(i..end, n.iter().copied());
            }
            8 if len > 0 => {
                v.truncate(rng.below(len));
            }
            9 if len > 1 => {
                // Swap two ranges' bytes.
                let a = rng.below(len);
                let b = rng.below(len);
                v.swap(a, b);
            }
            _ => {
                let tok = DICT[rng.below(DICT.len())];
                v.extend_from_slice(tok);
            }
        }
    }
    if v.len() > max_len {
        v.truncate(max_len);
    }
    v
}
