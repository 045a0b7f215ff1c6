//! Test helpers: small OCI image layouts written by hand (tar layers, gzip or not,
//! config, manifest, index.json), including crafted entries a normal tar writer
//! refuses to produce.
#![allow(dead_code, clippy::type_complexity)]

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// One tar entry, written raw so tests can craft hostile names.
#[derive(Clone, Debug)]
pub enum E {
    Dir(&'static str, u32),
    File(String, Vec<u8>, u32),
    Owned(String, Vec<u8>, u32, u64, u64),
    Symlink(&'static str, &'static str),
    Hardlink(&'static str, &'static str),
    Char(&'static str, u32, u32),
    Fifo(&'static str),
}

pub fn file(p: &str, body: &str, mode: u32) -> E {
    E::File(p.to_string(), body.as_bytes().to_vec(), mode)
}

fn header(
    name: &[u8],
    kind: tar::EntryType,
    mode: u32,
    size: u64,
    uid: u64,
    gid: u64,
) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(1_700_000_000);
    let n = name.len().min(100);
    h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
    h.set_cksum();
    h
}

/// A tar archive of `entries`; names longer than 100 bytes use a GNU long-name entry.
pub fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (name, kind, mode, body, link, uid, gid, dev): (
            Vec<u8>,
            _,
            u32,
            Vec<u8>,
            &str,
            u64,
            u64,
            (u32, u32),
        ) = match e {
            E::Dir(p, m) => (
                p.as_bytes().to_vec(),
                tar::EntryType::Directory,
                *m,
                vec![],
                "",
                0,
                0,
                (0, 0),
            ),
            E::File(p, body, m) => (
                p.as_bytes().to_vec(),
                tar::EntryType::Regular,
                *m,
                body.clone(),
                "",
                0,
                0,
                (0, 0),
            ),
            E::Owned(p, body, m, u, g) => (
                p.as_bytes().to_vec(),
                tar::EntryType::Regular,
                *m,
                body.clone(),
                "",
                *u,
                *g,
                (0, 0),
            ),
            E::Symlink(p, t) => (
                p.as_bytes().to_vec(),
                tar::EntryType::Symlink,
                0o777,
                vec![],
                t,
                0,
                0,
                (0, 0),
            ),
            E::Hardlink(p, t) => (
                p.as_bytes().to_vec(),
                tar::EntryType::Link,
                0o644,
                vec![],
                t,
                0,
                0,
                (0, 0),
            ),
            E::Char(p, ma, mi) => (
                p.as_bytes().to_vec(),
                tar::EntryType::Char,
                0o666,
                vec![],
                "",
                0,
                0,
                (*ma, *mi),
            ),
            E::Fifo(p) => (
                p.as_bytes().to_vec(),
                tar::EntryType::Fifo,
                0o644,
                vec![],
                "",
                0,
                0,
                (0, 0),
            ),
        };
        if name.len() > 100 {
            let mut lh = tar::Header::new_gnu();
            lh.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
            lh.set_entry_type(tar::EntryType::GNULongName);
            lh.set_size(name.len() as u64 + 1);
            lh.set_mode(0o644);
            lh.set_cksum();
            let mut n = name.clone();
            n.push(0);
            b.append(&lh, n.as_slice()).unwrap();
        }
        let mut h = header(&name, kind, mode, body.len() as u64, uid, gid);
        if !link.is_empty() {
            let l = link.as_bytes();
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l);
        }
        if dev != (0, 0) {
            h.set_device_major(dev.0).unwrap();
            h.set_device_minor(dev.1).unwrap();
        }
        h.set_cksum();
        b.append(&h, body.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// Writes blobs, manifests and index.json of an OCI image layout.
pub struct LayoutWriter {
    root: std::path::PathBuf,
    manifests: Vec<serde_json::Value>,
}

pub fn digest(data: &[u8]) -> String {
    format!(
        "sha256:{}",
        stackwright_types::hex::encode(&Sha256::digest(data))
    )
}

impl LayoutWriter {
    pub fn new(root: &Path) -> LayoutWriter {
        std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
        std::fs::write(
            root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        LayoutWriter {
            root: root.to_path_buf(),
            manifests: vec![],
        }
    }

    pub fn blob(&self, data: &[u8]) -> (String, usize) {
        let d = digest(data);
        std::fs::write(self.root.join("blobs/sha256").join(&d[7..]), data).unwrap();
        (d, data.len())
    }

    /// Adds an image named `reference` with these layers (already compressed or not)
    /// and `config` as the image config's `config` object. Returns the manifest digest.
    pub fn image(
        &mut self,
        reference: &str,
        layers: &[Vec<u8>],
        config: serde_json::Value,
    ) -> String {
        let descs: Vec<serde_json::Value> = layers
            .iter()
            .map(|l| {
                let (d, s) = self.blob(l);
                let mt = if l.starts_with(&[0x1f, 0x8b]) {
                    "application/vnd.oci.image.layer.v1.tar+gzip"
                } else {
                    "application/vnd.oci.image.layer.v1.tar"
                };
                serde_json::json!({"mediaType": mt, "digest": d, "size": s})
            })
            .collect();
        let cfg = serde_json::json!({
            "architecture": stackwright_build::host_arch(), "os": "linux", "config": config,
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| digest(l)).collect::<Vec<_>>()},
        });
        let (cd, cs) = self.blob(&serde_json::to_vec(&cfg).unwrap());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
            "layers": descs,
        });
        let (md, ms) = self.blob(&serde_json::to_vec(&manifest).unwrap());
        self.manifests.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
            "annotations": {"org.opencontainers.image.ref.name": reference},
        }));
        self.write_index();
        md
    }

    fn write_index(&self) {
        let index = serde_json::json!({"schemaVersion": 2, "manifests": self.manifests});
        std::fs::write(
            self.root.join("index.json"),
            serde_json::to_vec_pretty(&index).unwrap(),
        )
        .unwrap();
    }
}

/// Lists a tar's entries as `name mode uid:gid kind[ -> link]` lines.
pub fn tar_listing(data: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(data);
    let mut out = vec![];
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => "dir".to_string(),
            tar::EntryType::Regular => format!("file({})", e.size()),
            tar::EntryType::Symlink => format!(
                "symlink -> {}",
                String::from_utf8_lossy(&e.link_name_bytes().unwrap())
            ),
            tar::EntryType::Link => format!(
                "hardlink -> {}",
                String::from_utf8_lossy(&e.link_name_bytes().unwrap())
            ),
            tar::EntryType::Char => "char".to_string(),
            other => format!("{other:?}"),
        };
        out.push(format!(
            "{} {:04o} {}:{} {}",
            String::from_utf8_lossy(&e.path_bytes()),
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            kind
        ));
    }
    out
}

/// Reads a tar entry's bytes.
pub fn tar_file(data: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut ar = tar::Archive::new(data);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path_bytes().as_ref() == name.as_bytes() {
            let mut v = vec![];
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            return Some(v);
        }
    }
    None
}

/// Names (and modes) in a newc cpio stream, in order.
pub fn cpio_names(data: &[u8]) -> Vec<(String, u32)> {
    let mut out = vec![];
    let mut pos = 0usize;
    let hex = |s: &[u8]| u32::from_str_radix(std::str::from_utf8(s).unwrap(), 16).unwrap();
    loop {
        assert_eq!(&data[pos..pos + 6], b"070701", "bad magic at {pos}");
        let f = |i: usize| hex(&data[pos + 6 + i * 8..pos + 14 + i * 8]);
        let mode = f(1);
        let size = f(6) as usize;
        let namesize = f(11) as usize;
        let name = String::from_utf8_lossy(&data[pos + 110..pos + 110 + namesize - 1]).into_owned();
        pos = (pos + 110 + namesize).div_ceil(4) * 4;
        pos = (pos + size).div_ceil(4) * 4;
        if name == "TRAILER!!!" {
            break;
        }
        out.push((name, mode));
    }
    out
}
