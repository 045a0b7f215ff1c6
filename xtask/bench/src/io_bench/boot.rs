//! `bench boot-qemu`: wall time from `stackwright run qemu` to the guest's poweroff, for the
//! boot test's platform (kernel, stackwright-init, runc, an onboot container, four
//! services, one of them restarted, two onshutdown containers; the waits it makes on
//! purpose — db's delay before it listens, flaky's restart backoff — are printed beside it
//! as `deliberate-waits`, [`stackwright_testkit::boot::DELIBERATE_WAITS_MS`]), beside two
//! floors: the same kernel and command line with a one-program initrd that powers off at
//! once (its `/init` is a static C program), run the same way, and the kernel's own time to
//! `Run /init` from the console's printk timestamps (`kernel-to-init`). The load average is
//! printed too: on a shared machine it explains most of the spread. Target: at most 10 s
//! under TCG on a 2-core machine.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use stackwright_qemu::{Boot, Kvm, Options};
use stackwright_testkit::boot::BootPlatform;
use stackwright_testkit::LocalRegistry;

const POWEROFF_C: &str = "#include <unistd.h>\n#include <sys/reboot.h>\nint main(void) { sync(); reboot(RB_POWER_OFF); return 1; }\n";

/// A gzip'd newc cpio holding one executable, `/init`.
fn one_file_initrd(init: &[u8]) -> Vec<u8> {
    fn entry(out: &mut Vec<u8>, ino: u32, mode: u32, name: &str, data: &[u8]) {
        let name0 = format!("{name}\0");
        let header = format!(
            "070701{ino:08X}{mode:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            0, 0, 1, 0, data.len(), 0, 0, 0, 0, name0.len(), 0
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(name0.as_bytes());
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }
    let mut cpio = Vec::new();
    entry(&mut cpio, 1, 0o100755, "init", init);
    entry(&mut cpio, 0, 0, "TRAILER!!!", &[]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&cpio).expect("in-memory gzip");
    gz.finish().expect("in-memory gzip")
}

fn opts() -> Options {
    Options {
        mem: "512".into(),
        timeout: Some(Duration::from_secs(120)),
        kvm: Kvm::Auto,
        ..Options::default()
    }
}

/// The boot test's platform, assembled (`--format kernel+initrd`) into `out`; the disk
/// image line builds its images from the same files.
pub struct Assembled {
    pub out: PathBuf,
    p: BootPlatform,
    _reg: LocalRegistry,
}

pub fn assemble() -> Result<Assembled, String> {
    if let Some(m) = stackwright_testkit::boot::missing() {
        return Err(m);
    }
    let reg = LocalRegistry::start()?;
    let p = BootPlatform::new(&reg);
    let asm = p.full();
    let out = p.dir.path().join("out/boots");
    let mut args = vec![
        "stackwright".to_string(),
        "--message-format".into(),
        "json".into(),
    ];
    args.extend(p.assemble_args(&asm, &out));
    let code = stackwright_cli::run(args);
    if code != 0 {
        return Err(format!("assembling the boot platform exited {code}"));
    }
    Ok(Assembled { out, p, _reg: reg })
}

pub fn line(a: &Assembled) -> Result<String, String> {
    let (p, out) = (&a.p, &a.out);
    let kernel = stackwright_testkit::boot::test_kernel().ok_or("no kernel")?;
    let boot = stackwright_qemu::find_boot(out).map_err(|e| e.to_string())?;
    let platform = stackwright_qemu::run(&boot.into(), &opts(), Box::new(std::io::sink()))
        .map_err(|e| e.to_string())?;
    if platform.exit_code() != 0 {
        return Err(format!(
            "the boot platform did not power off cleanly: {:?}",
            platform.verdict
        ));
    }

    // The floor: the kernel alone, straight to poweroff.
    let work = p.dir.path().join("floor");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let prog = stackwright_testkit::static_program(&work, "poweroff", POWEROFF_C);
    let initrd = work.join("floor-initrd.img");
    std::fs::write(
        &initrd,
        one_file_initrd(&std::fs::read(&prog).map_err(|e| e.to_string())?),
    )
    .map_err(|e| e.to_string())?;
    let floor_boot = Boot {
        kernel,
        initrd,
        cmdline: stackwright_testkit::boot::CMDLINE.into(),
        dir: work.clone(),
    };
    // No init reports on the status port here, so the verdict is "failed": only the
    // time counts.
    let floor = stackwright_qemu::run(&floor_boot.into(), &opts(), Box::new(std::io::sink()))
        .map_err(|e| e.to_string())?;
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    Ok(format!(
        "bench boot-qemu run-to-poweroff={:.2}s deliberate-waits={:.2}s kernel-floor={:.2}s kernel-to-init={} accel={} load={load} target<=10s",
        platform.elapsed.as_secs_f64(),
        stackwright_testkit::boot::DELIBERATE_WAITS_MS as f64 / 1000.0,
        floor.elapsed.as_secs_f64(),
        platform
            .kernel_boot
            .map_or("?".to_string(), |t| format!("{t:.2}s")),
        if platform.kvm { "kvm" } else { "tcg" }
    ))
}
