//! Whether KVM works here, found by trying it (`/dev/kvm` can exist where KVM does not,
//! e.g. without nested virtualisation): open it, check the API version, create a VM.
//!
//! Safety model: two ioctls on a descriptor this module opened and closes; no pointers.

const KVM_GET_API_VERSION: libc::c_ulong = 0xAE00;
const KVM_CREATE_VM: libc::c_ulong = 0xAE01;

pub fn works() -> bool {
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
