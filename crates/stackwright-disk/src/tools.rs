//! The programs the formats run, where they are looked for, and the Debian package that
//! brings each.

use std::path::PathBuf;
use std::process::Command;

use crate::DiskError;

/// A program (or a directory of GRUB modules) and the package that installs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tool {
    /// A program on `PATH`, or an absolute directory.
    pub name: &'static str,
    /// The Debian package.
    pub package: &'static str,
}

pub(crate) const GRUB_MKIMAGE: Tool = Tool {
    name: "grub-mkimage",
    package: "grub-common",
};
pub(crate) const GRUB_PC: Tool = Tool {
    name: "/usr/lib/grub/i386-pc",
    package: "grub-pc-bin",
};
pub(crate) const GRUB_EFI: Tool = Tool {
    name: "/usr/lib/grub/x86_64-efi",
    package: "grub-efi-amd64-bin",
};
pub(crate) const XORRISO: Tool = Tool {
    name: "xorriso",
    package: "xorriso",
};
pub(crate) const QEMU_IMG: Tool = Tool {
    name: "qemu-img",
    package: "qemu-utils",
};

/// Every tool some format needs.
pub const TOOLS: &[Tool] = &[GRUB_MKIMAGE, GRUB_PC, GRUB_EFI, XORRISO, QEMU_IMG];

impl Tool {
    /// Where it is, or [`DiskError::Missing`] with the install command.
    pub fn find(self) -> Result<PathBuf, DiskError> {
        let missing = || DiskError::Missing {
            program: self.name.to_string(),
            package: self.package,
        };
        if self.name.starts_with('/') {
            let p = PathBuf::from(self.name);
            return if p.is_dir() { Ok(p) } else { Err(missing()) };
        }
        let path = std::env::var_os("PATH").ok_or_else(missing)?;
        std::env::split_paths(&path)
            .map(|d| d.join(self.name))
            .find(|p| p.is_file())
            .ok_or_else(missing)
    }
}

/// Runs `cmd`; a failure names the program, its status and what it said.
pub(crate) fn run(tool: Tool, cmd: &mut Command) -> Result<(), DiskError> {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| DiskError::Io {
            path: tool.name.to_string(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(DiskError::Tool {
            program: tool.name.to_string(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}
