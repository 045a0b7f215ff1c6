//! Whether KVM works here, found by trying it (`/dev/kvm` can exist where KVM does not,
//! e.g. without nested virtualisation): open it, check the API version, create a VM —
//! unless the kernel's KVM is PVM, which runs only guests built for it ([`pvm_only`]).
//!
//! Safety model: two ioctls on a descriptor this module opened and closes; no pointers.

use std::path::Path;

const KVM_GET_API_VERSION: libc::c_ulong = 0xAE00;
const KVM_CREATE_VM: libc::c_ulong = 0xAE01;

/// Where loaded kernel modules show.
const SYS_MODULE: &str = "/sys/module";

/// Why the kernel's KVM cannot run the guests Stackwright boots, `None` when it can
/// (as far as the kernel tells; qemu is asked next).
pub fn unusable() -> Option<String> {
    if pvm_only(Path::new(SYS_MODULE)) {
        return Some(PVM.into());
    }
    if !creates_vm() {
        return Some("creating a VM on /dev/kvm failed".into());
    }
    None
}

/// The reason [`unusable`] gives on a PVM host.
pub const PVM: &str = "this host's KVM is PVM (the kvm_pvm module, no kvm_intel or kvm_amd), \
which runs only kernels built as PVM guests: a stock kernel stops under it at its switch to \
long mode (a KVM internal error) while qemu goes on running";

/// Whether `/dev/kvm` is served by PVM (the "pagetable-based virtual machine" module
/// `kvm_pvm`, which gives a KVM where the CPU's virtualisation is not available, inside
/// a VM without nesting) and by no hardware module. Its VMs are built and run real-mode
/// code (SeaBIOS, a boot sector), so qemu's probe passes, but it runs only guest kernels
/// built for it (CONFIG_PVM_GUEST): Debian's kernel hangs after its real-mode setup,
/// qemu alive, nothing more on the console — a run that can only time out.
fn pvm_only(sys_module: &Path) -> bool {
    sys_module.join("kvm_pvm").exists()
        && !sys_module.join("kvm_intel").exists()
        && !sys_module.join("kvm_amd").exists()
}

fn creates_vm() -> bool {
    use std::os::fd::AsRawFd;
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    else {
        return false;
    };
    let fd = f.as_raw_fd();
    // SAFETY: plain ioctls without arguments on an open descriptor.
    let version = unsafe { libc::ioctl(fd, KVM_GET_API_VERSION as _, 0) };
    if version != 12 {
        return false;
    }
    // SAFETY: as above; the VM descriptor it returns is closed at once.
    let vm = unsafe { libc::ioctl(fd, KVM_CREATE_VM as _, 0) };
    if vm < 0 {
        return false;
    }
    // SAFETY: closing the descriptor the kernel just gave us.
    unsafe {
        libc::close(vm);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::pvm_only;

    #[test]
    fn pvm_is_told_by_its_module_and_a_hardware_module_wins() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path();
        assert!(!pvm_only(m), "no KVM module at all: not PVM");
        std::fs::create_dir(m.join("kvm")).unwrap();
        std::fs::create_dir(m.join("kvm_pvm")).unwrap();
        assert!(pvm_only(m));
        for hw in ["kvm_intel", "kvm_amd"] {
            std::fs::create_dir(m.join(hw)).unwrap();
            assert!(!pvm_only(m), "{hw} loaded");
            std::fs::remove_dir(m.join(hw)).unwrap();
        }
    }
}
