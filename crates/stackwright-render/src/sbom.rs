//! Software bills of materials (`--format sbom`): SPDX 2.3 and CycloneDX 1.6, both JSON.
//!
//! Every component of the platform with its version, license, homepage and purl — the
//! image as `pkg:oci/<name>@<digest>?repository_url=…&tag=…` (the digest when pinned), each
//! upstream release file it is packaged from as `pkg:generic/<file>@<version>?download_url=…
//! &checksum=sha256:…` with its sha256 — and the plan's dependencies (what requires or
//! recommends what) as relationships. The creation time is given by the caller
//! (`SOURCE_DATE_EPOCH`); the document's namespace and serial number are derived from the
//! lock, so the same platform gives the same bytes.
//!
//! Pulled images' own SPDX attestations are merged into the SPDX document as LinuxKit merges
//! them (src/cmd/linuxkit/moby/build/sbom.go: every package, file, relationship, licence and
//! external reference appended, file names prefixed with the image's place in the tree) —
//! with two differences so the result stays a valid document: each image's SPDX ids (and
//! `LicenseRef-`s) are prefixed with its component, since two images' scanners often use the
//! same ids; and what an image document `DESCRIBES` becomes something its component
//! `CONTAINS`, linking the image's packages to the platform's graph.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use stackwright_solver::Why;

use crate::Platform;
use stackwright_types::hex;

/// The tool named as the documents' creator.
const TOOL: &str = concat!("stackwright-", env!("CARGO_PKG_VERSION"));

/// Percent-encodes everything but RFC 3986's unreserved characters (purl components).
fn pct(s: &str, keep: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.as_bytes().contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `host/path/name:tag@sha256:…` → (repository `host/path/name`, tag, digest in the
/// reference).
fn split_image(image: &str) -> (String, Option<String>, Option<String>) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d.to_string())),
        None => (image, None),
    };
    let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match rest[slash..].rfind(':') {
        Some(i) => (
            rest[..slash + i].to_string(),
            Some(rest[slash + i + 1..].to_string()),
            digest,
        ),
        None => (rest.to_string(), None, digest),
    }
}

/// `pkg:oci/<name>@<digest>?repository_url=<repo>&tag=<tag>` (purl's oci type: the version
/// is the digest; without one, no version).
pub(crate) fn oci_purl(image: &str, digest: Option<&str>, arch: &str) -> String {
    let (repo, tag, in_ref) = split_image(image);
    let name = repo
        .rsplit('/')
        .next()
        .unwrap_or(&repo)
        .to_ascii_lowercase();
    let mut s = format!("pkg:oci/{}", pct(&name, ""));
    if let Some(d) = digest.or(in_ref.as_deref()) {
        s.push('@');
        s.push_str(&pct(d, ""));
    }
    s.push_str(&format!("?arch={}", pct(arch, "")));
    s.push_str(&format!("&repository_url={}", pct(&repo, "/")));
    if let Some(t) = tag {
        s.push_str(&format!("&tag={}", pct(&t, "")));
    }
    s
}

/// `pkg:generic/<file>@<version>?checksum=sha256:<hex>&download_url=<url>`.
pub(crate) fn generic_purl(file: &str, version: &str, url: &str, sha256: Option<&str>) -> String {
    let mut s = format!("pkg:generic/{}@{}", pct(file, ""), pct(version, ""));
    let mut q = Vec::new();
    if let Some(h) = sha256 {
        q.push(format!("checksum=sha256:{h}"));
    }
    q.push(format!("download_url={}", pct(url, ":/")));
    s.push('?');
    s.push_str(&q.join("&"));
    s
}

fn file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path)
}

/// One component as both formats see it.
struct Item {
    id: String,
    version: String,
    summary: Option<String>,
    license: Option<String>,
    homepage: Option<String>,
    /// Image reference as written, and its digest when pinned.
    image: Option<(String, Option<String>)>,
    purl: Option<String>,
    files: Vec<FileItem>,
    /// Ids this component requires or recommends (chosen ones), sorted.
    depends_on: Vec<String>,
}

struct FileItem {
    name: String,
    url: String,
    sha256: Option<String>,
    purl: String,
}

fn items(p: &Platform<'_>) -> Vec<Item> {
    let arch = p.loaded.arch.as_str();
    let mut deps: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
        std::collections::BTreeMap::new();
    for (id, c) in &p.resolution.components {
        for w in &c.why {
            if let Why::Required { by, .. } | Why::Recommended { by, .. } = w {
                if p.resolution.components.contains_key(by) && by != id {
                    deps.entry(by.as_str()).or_default().insert(id.as_str());
                }
            }
        }
    }
    p.resolution
        .components
        .iter()
        .map(|(id, c)| {
            let m = p.registry.manifest(id);
            let release = m.and_then(|m| m.release(&c.version));
            let image = release
                .and_then(|r| {
                    stackwright_assembly::effective_image(p.loaded.assembly.components.get(id), r)
                })
                .map(|i| (i.to_string(), p.digests.get(i).cloned()));
            let files: Vec<FileItem> = release
                .map(|r| {
                    r.files
                        .iter()
                        .filter(|f| f.arch == p.loaded.arch)
                        .map(|f| {
                            let sha = f.sha256.as_ref().map(|s| s.hex().to_string());
                            let name = file_name(&f.url).to_string();
                            FileItem {
                                purl: generic_purl(
                                    &name,
                                    &c.version.to_string(),
                                    &f.url,
                                    sha.as_deref(),
                                ),
                                name,
                                url: f.url.clone(),
                                sha256: sha,
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let purl = image.as_ref().map(|(i, d)| oci_purl(i, d.as_deref(), arch));
            Item {
                id: id.clone(),
                version: c.version.to_string(),
                summary: m.map(|m| m.summary.clone()),
                license: m.and_then(|m| m.license.clone()),
                homepage: m.and_then(|m| m.homepage.clone()),
                image,
                purl,
                files,
                depends_on: deps
                    .get(id.as_str())
                    .map(|s| s.iter().map(|d| d.to_string()).collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// A stable identity of the platform: sha256 over its lock.
fn identity(p: &Platform<'_>) -> [u8; 32] {
    let lock = crate::lockfile(p).to_toml();
    Sha256::digest(lock.as_bytes()).into()
}

fn spdx_id(kind: &str, s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-{kind}-{clean}")
}

/// A pulled image's own SPDX document (from its attestation), to merge into the platform's.
#[derive(Clone, Copy, Debug)]
pub struct ImageSbom<'a> {
    /// The component whose image it is.
    pub component: &'a str,
    /// Where the image's root filesystem lies in the built tree
    /// (`containers/services/<name>/rootfs`): prefixed to the document's file names.
    pub prefix: &'a str,
    /// The SPDX 2.x JSON document.
    pub document: &'a [u8],
}

/// The platform's SPDX 2.3 document (JSON). `created` is an RFC 3339 UTC time.
pub fn sbom_spdx(p: &Platform<'_>, created: &str) -> String {
    sbom_spdx_with_images(p, created, &[]).expect("no image documents to refuse")
}

/// [`sbom_spdx`] with pulled images' own SPDX documents merged in (see the module docs),
/// in the order given.
pub fn sbom_spdx_with_images(
    p: &Platform<'_>,
    created: &str,
    images: &[ImageSbom<'_>],
) -> Result<String, crate::RenderError> {
    let name = &p.loaded.name;
    let version = p
        .loaded
        .assembly
        .version
        .as_ref()
        .map(|v| v.value.to_string());
    let root = spdx_id("Platform", name);
    let mut packages = vec![json!({
        "SPDXID": root,
        "name": name,
        "versionInfo": version.clone().unwrap_or_else(|| "0.0.0".into()),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "OPERATING-SYSTEM",
        "comment": format!("A platform assembled by Stackwright for {}", p.loaded.arch),
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": root,
    })];
    for it in items(p) {
        spdx_component(&it, &root, &mut packages, &mut relationships);
    }
    let mut merged = Merged::default();
    for img in images {
        merged.add(img, &spdx_id("Package", img.component))?;
    }
    packages.extend(merged.packages);
    relationships.extend(merged.relationships);
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{name} platform"),
        "documentNamespace": format!("https://stackwright.invalid/spdx/{}-{}", pct(name, ""), hex::encode(&identity(p))),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: {TOOL}")],
        },
        "packages": packages,
        "relationships": relationships,
    });
    if !merged.files.is_empty() {
        doc["files"] = json!(merged.files);
    }
    if !merged.snippets.is_empty() {
        doc["snippets"] = json!(merged.snippets);
    }
    if !merged.licenses.is_empty() {
        doc["hasExtractedLicensingInfos"] = json!(merged.licenses);
    }
    if !merged.external.is_empty() {
        doc["externalDocumentRefs"] = json!(merged.external);
    }
    if !merged.annotations.is_empty() {
        doc["annotations"] = json!(merged.annotations);
    }
    // The images' documents are inputs too: the identity above covers only the lock, so
    // the namespace also takes their bytes.
    if !images.is_empty() {
        let mut h = Sha256::new();
        h.update(identity(p));
        for img in images {
            h.update(img.component.as_bytes());
            h.update([0]);
            h.update(img.document);
        }
        doc["documentNamespace"] = json!(format!(
            "https://stackwright.invalid/spdx/{}-{}",
            pct(name, ""),
            hex::encode(&h.finalize())
        ));
    }
    let mut s = serde_json::to_string_pretty(&doc).expect("SBOMs serialize");
    s.push('\n');
    Ok(s)
}

/// One component's SPDX package (contained in the platform `root`), its release files'
/// packages and its dependencies.
fn spdx_component(
    it: &Item,
    root: &str,
    packages: &mut Vec<Value>,
    relationships: &mut Vec<Value>,
) {
    let id = spdx_id("Package", &it.id);
    let mut pkg = json!({
        "SPDXID": id,
        "name": it.id,
        "versionInfo": it.version,
        "downloadLocation": it.files.first().map(|f| f.url.clone()).unwrap_or_else(|| "NOASSERTION".into()),
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": it.license.clone().unwrap_or_else(|| "NOASSERTION".into()),
        "copyrightText": "NOASSERTION",
        "supplier": "NOASSERTION",
        "primaryPackagePurpose": if it.image.is_some() { "CONTAINER" } else { "APPLICATION" },
    });
    if let Some(h) = &it.homepage {
        pkg["homepage"] = json!(h);
    }
    if let Some(s) = &it.summary {
        pkg["summary"] = json!(s);
    }
    if let Some(purl) = &it.purl {
        pkg["externalRefs"] = json!([{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl,
        }]);
    }
    if let Some((_, Some(d))) = &it.image {
        if let Some(h) = d.strip_prefix("sha256:") {
            pkg["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": h}]);
        }
    }
    packages.push(pkg);
    relationships.push(json!({
        "spdxElementId": root,
        "relationshipType": "CONTAINS",
        "relatedSpdxElement": id,
    }));
    spdx_release_files(it, &id, packages, relationships);
    for d in &it.depends_on {
        relationships.push(json!({
            "spdxElementId": id,
            "relationshipType": "DEPENDS_ON",
            "relatedSpdxElement": spdx_id("Package", d),
        }));
    }
}

/// The packages of a component's release files, each `GENERATED_FROM` by it.
fn spdx_release_files(
    it: &Item,
    id: &str,
    packages: &mut Vec<Value>,
    relationships: &mut Vec<Value>,
) {
    for (n, f) in it.files.iter().enumerate() {
        let fid = spdx_id("File", &format!("{}-{}", it.id, n + 1));
        let mut fp = json!({
            "SPDXID": fid,
            "name": f.name,
            "versionInfo": it.version,
            "downloadLocation": f.url,
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": it.license.clone().unwrap_or_else(|| "NOASSERTION".into()),
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "ARCHIVE",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": f.purl,
            }],
        });
        if let Some(h) = &f.sha256 {
            fp["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": h}]);
        }
        packages.push(fp);
        relationships.push(json!({
            "spdxElementId": id,
            "relationshipType": "GENERATED_FROM",
            "relatedSpdxElement": fid,
        }));
    }
}

/// Image documents merged so far: their elements, renamed.
#[derive(Default)]
struct Merged {
    packages: Vec<Value>,
    files: Vec<Value>,
    snippets: Vec<Value>,
    relationships: Vec<Value>,
    licenses: Vec<Value>,
    external: Vec<Value>,
    annotations: Vec<Value>,
}

/// Field names whose string values are licence expressions (`LicenseRef-`s are renamed in
/// them).
const LICENSE_FIELDS: &[&str] = &[
    "licenseConcluded",
    "licenseDeclared",
    "licenseInfoFromFiles",
    "licenseInfoInFiles",
    "licenseInfoInSnippets",
];
/// Field names whose string values are SPDX element ids.
const ID_FIELDS: &[&str] = &[
    "SPDXID",
    "spdxElementId",
    "relatedSpdxElement",
    "hasFiles",
    "snippetFromFile",
    "documentDescribes",
];

impl Merged {
    fn add(&mut self, img: &ImageSbom<'_>, owner: &str) -> Result<(), crate::RenderError> {
        let refuse = |reason: String| crate::RenderError::ImageSbom {
            component: img.component.to_string(),
            reason,
        };
        let mut doc: Value =
            serde_json::from_slice(img.document).map_err(|e| refuse(format!("not JSON: {e}")))?;
        let version = doc["spdxVersion"].as_str().unwrap_or_default();
        if !version.starts_with("SPDX-2.") {
            return Err(refuse(format!("spdxVersion is `{version}`, not SPDX-2.x")));
        }
        let tag: String = img
            .component
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        rename(&mut doc, &tag, None);
        let take = |doc: &mut Value, key: &str| -> Vec<Value> {
            match doc.get_mut(key).map(Value::take) {
                Some(Value::Array(v)) => v,
                _ => Vec::new(),
            }
        };
        let mut described: Vec<String> = take(&mut doc, "documentDescribes")
            .into_iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        for mut f in take(&mut doc, "files") {
            if let Some(n) = f["fileName"].as_str() {
                f["fileName"] = json!(join_prefix(img.prefix, n));
            }
            self.files.push(f);
        }
        for mut pkg in take(&mut doc, "packages") {
            if let Some(n) = pkg["packageFileName"].as_str() {
                pkg["packageFileName"] = json!(join_prefix(img.prefix, n));
            }
            self.packages.push(pkg);
        }
        self.snippets.extend(take(&mut doc, "snippets"));
        self.licenses
            .extend(take(&mut doc, "hasExtractedLicensingInfos"));
        self.annotations.extend(take(&mut doc, "annotations"));
        for e in take(&mut doc, "externalDocumentRefs") {
            if !self.external.contains(&e) {
                self.external.push(e);
            }
        }
        let doc_id = format!("SPDXRef-{tag}-DOCUMENT");
        for mut r in take(&mut doc, "relationships") {
            // What the image's document describes, its component contains.
            if r["spdxElementId"] == json!(doc_id) && r["relationshipType"] == json!("DESCRIBES") {
                if let Some(t) = r["relatedSpdxElement"].as_str() {
                    described.push(t.to_string());
                }
                continue;
            }
            for k in ["spdxElementId", "relatedSpdxElement"] {
                if r[k] == json!(doc_id) {
                    r[k] = json!(owner);
                }
            }
            self.relationships.push(r);
        }
        described.sort();
        described.dedup();
        for d in described {
            self.relationships.push(json!({
                "spdxElementId": owner,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": d,
            }));
        }
        Ok(())
    }
}

/// `prefix/name` with LinuxKit's `filepath.Join` (no doubled or leading `./`).
fn join_prefix(prefix: &str, name: &str) -> String {
    let name = name.trim_start_matches("./").trim_start_matches('/');
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", prefix.trim_end_matches('/'))
    }
}

/// Renames, in place, every element id (`SPDXRef-x` → `SPDXRef-<tag>-x`) and licence
/// reference (`LicenseRef-x` → `LicenseRef-<tag>-x`) of an image's document. Ids of other
/// documents (`DocumentRef-…:SPDXRef-…`) and the special `NONE`/`NOASSERTION` are kept.
fn rename(v: &mut Value, tag: &str, field: Option<&str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                rename(x, tag, Some(k.as_str()));
            }
        }
        Value::Array(a) => {
            for x in a {
                rename(x, tag, field);
            }
        }
        Value::String(s) => {
            let Some(f) = field else { return };
            if ID_FIELDS.contains(&f) {
                if let Some(rest) = s.strip_prefix("SPDXRef-") {
                    *s = format!("SPDXRef-{tag}-{rest}");
                }
            } else if LICENSE_FIELDS.contains(&f) || f == "licenseId" {
                *s = rename_license_refs(s, tag);
            }
        }
        _ => {}
    }
}

/// `LicenseRef-x` tokens of a licence expression renamed to `LicenseRef-<tag>-x`.
fn rename_license_refs(expr: &str, tag: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find("LicenseRef-") {
        let before = &rest[..i];
        // Only at a token start (not inside `DocumentRef-a:LicenseRef-b`).
        let at_token = before.is_empty() || before.ends_with([' ', '(']);
        out.push_str(before);
        out.push_str("LicenseRef-");
        if at_token {
            out.push_str(tag);
            out.push('-');
        }
        rest = &rest[i + "LicenseRef-".len()..];
    }
    out.push_str(rest);
    out
}

/// The platform's CycloneDX 1.6 BOM (JSON). `created` is an RFC 3339 UTC time.
pub fn sbom_cyclonedx(p: &Platform<'_>, created: &str) -> String {
    let name = &p.loaded.name;
    let h = identity(p);
    // A name-based (version 5 layout) UUID from the platform's identity.
    let serial = format!(
        "urn:uuid:{}-{}-5{}-{:x}{}-{}",
        hex::encode(&h[0..4]),
        hex::encode(&h[4..6]),
        &hex::encode(&h[6..8])[1..],
        (h[8] & 0x3) | 0x8,
        &hex::encode(&h[8..10])[1..],
        hex::encode(&h[10..16])
    );
    let mut components = Vec::new();
    let mut dependencies = Vec::new();
    let mut top: Vec<String> = Vec::new();
    for it in items(p) {
        let mut c = json!({
            "type": if it.image.is_some() { "container" } else { "application" },
            "bom-ref": it.id,
            "name": it.id,
            "version": it.version,
        });
        if let Some(s) = &it.summary {
            c["description"] = json!(s);
        }
        if let Some(l) = &it.license {
            c["licenses"] = json!([{"expression": l}]);
        }
        if let Some(h) = &it.homepage {
            c["externalReferences"] = json!([{"type": "website", "url": h}]);
        }
        if let Some(purl) = &it.purl {
            c["purl"] = json!(purl);
        }
        if let Some((_, Some(d))) = &it.image {
            if let Some(h) = d.strip_prefix("sha256:") {
                c["hashes"] = json!([{"alg": "SHA-256", "content": h}]);
            }
        }
        if !it.files.is_empty() {
            let files: Vec<Value> = it
                .files
                .iter()
                .enumerate()
                .map(|(n, f)| {
                    let mut fc = json!({
                        "type": "file",
                        "bom-ref": format!("{}#file-{}", it.id, n + 1),
                        "name": f.name,
                        "version": it.version,
                        "purl": f.purl,
                        "externalReferences": [{"type": "distribution", "url": f.url}],
                    });
                    if let Some(h) = &f.sha256 {
                        fc["hashes"] = json!([{"alg": "SHA-256", "content": h}]);
                    }
                    fc
                })
                .collect();
            c["components"] = json!(files);
        }
        components.push(c);
        top.push(it.id.clone());
        dependencies.push(json!({"ref": it.id, "dependsOn": it.depends_on}));
    }
    dependencies.insert(
        0,
        json!({"ref": format!("platform:{name}"), "dependsOn": top}),
    );
    let mut platform = json!({
        "type": "operating-system",
        "bom-ref": format!("platform:{name}"),
        "name": name,
        "description": format!("A platform assembled by Stackwright for {}", p.loaded.arch),
    });
    if let Some(v) = &p.loaded.assembly.version {
        platform["version"] = json!(v.value.to_string());
    }
    let bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": created,
            "tools": {"components": [{"type": "application", "name": "stackwright", "version": env!("CARGO_PKG_VERSION")}]},
            "component": platform,
        },
        "components": components,
        "dependencies": dependencies,
    });
    let mut s = serde_json::to_string_pretty(&bom).expect("SBOMs serialize");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_follow_the_spec_examples() {
        assert_eq!(
            oci_purl("registry.k8s.io/kube-apiserver:v1.36.4", Some("sha256:ab12"), "amd64"),
            "pkg:oci/kube-apiserver@sha256%3Aab12?arch=amd64&repository_url=registry.k8s.io/kube-apiserver&tag=v1.36.4"
        );
        assert_eq!(
            oci_purl("localhost:5000/a/b:1", None, "arm64"),
            "pkg:oci/b?arch=arm64&repository_url=localhost%3A5000/a/b&tag=1"
        );
        assert_eq!(
            generic_purl("kubelet", "1.36.4", "https://dl.k8s.io/v1.36.4/bin/linux/amd64/kubelet", Some("00ff")),
            "pkg:generic/kubelet@1.36.4?checksum=sha256:00ff&download_url=https://dl.k8s.io/v1.36.4/bin/linux/amd64/kubelet"
        );
        assert_eq!(file_name("https://h/x/y.tar.gz?raw=1"), "y.tar.gz");
    }
}
