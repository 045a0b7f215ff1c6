//! The reference SBOM validators from PyPI: `pyspdxtools` (spdx-tools) for SPDX, and
//! cyclonedx-python-lib's strict JSON validator for CycloneDX. `cargo xtask test` installs
//! both (`pip install spdx-tools cyclonedx-python-lib[json-validation]`).

use std::path::Path;
use std::process::Command;

/// Set to `1` to skip the SBOM validator runs (a machine without the PyPI packages).
pub const SKIP_SBOM_ENV: &str = "STACKWRIGHT_SKIP_SBOM_VALIDATORS";

const INSTALL: &str = "install them with `python3 -m pip install spdx-tools 'cyclonedx-python-lib[json-validation]'` (cargo xtask test does), or set STACKWRIGHT_SKIP_SBOM_VALIDATORS=1 to skip";

const CDX_SCRIPT: &str = r#"
import sys
from cyclonedx.validation.json import JsonStrictValidator
from cyclonedx.schema import SchemaVersion
err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())
if err:
    print(err)
    sys.exit(1)
"#;

/// Validates many files in one Python process (the validators' import alone takes
/// seconds): each `.spdx.json` as `pyspdxtools -i` does (spdx-tools' `parse_file` and
/// `validate_full_spdx_document`), each `.cdx.json` as [`validate_cyclonedx`]. `Err` lists
/// every file refused, with the reasons.
pub fn validate_all(files: &[std::path::PathBuf]) -> Result<(), String> {
    const SCRIPT: &str = r#"
import sys
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from cyclonedx.validation.json import JsonStrictValidator
from cyclonedx.schema import SchemaVersion
cdx = JsonStrictValidator(SchemaVersion.V1_6)
bad = 0
for f in sys.argv[1:]:
    if f.endswith(".spdx.json"):
        msgs = [m.validation_message for m in validate_full_spdx_document(parse_file(f))]
    else:
        err = cdx.validate_str(open(f).read())
        msgs = [str(err)] if err else []
    for m in msgs:
        bad += 1
        print(f + ": " + m)
sys.exit(1 if bad else 0)
"#;
    run(Command::new("python3").args(["-c", SCRIPT]).args(files))
}

/// Whether the validators are to be run: `false` only with the skip switch; panics with
/// the install hint when they are missing.
pub fn sbom_validators_or_skip() -> bool {
    if std::env::var(SKIP_SBOM_ENV).is_ok_and(|v| v == "1") {
        return false;
    }
    let ok = Command::new("python3")
        .args([
            "-c",
            "import spdx_tools, cyclonedx.validation.json, jsonschema",
        ])
        .status()
        .is_ok_and(|s| s.success())
        && crate::find_program("pyspdxtools", "STACKWRIGHT_PYSPDXTOOLS").is_some();
    assert!(ok, "the SBOM validators are missing: {INSTALL}");
    true
}

/// Runs `pyspdxtools -i FILE` (parse and validate against SPDX 2.3); `Err` with its output.
pub fn validate_spdx(file: &Path) -> Result<(), String> {
    let exe = crate::find_program("pyspdxtools", "STACKWRIGHT_PYSPDXTOOLS")
        .ok_or_else(|| format!("pyspdxtools not found: {INSTALL}"))?;
    run(Command::new(exe).arg("-i").arg(file))
}

/// Validates FILE as CycloneDX 1.6 JSON with cyclonedx-python-lib; `Err` with the reason.
pub fn validate_cyclonedx(file: &Path) -> Result<(), String> {
    run(Command::new("python3").args(["-c", CDX_SCRIPT]).arg(file))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
