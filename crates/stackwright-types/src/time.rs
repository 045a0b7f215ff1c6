//! Timestamps for reproducible outputs: seconds since the epoch (`SOURCE_DATE_EPOCH`, whose
//! value the caller that owns the environment hands to [`source_date_epoch`]) as RFC 3339
//! UTC. Pure: no clock and no environment is read here.

use crate::TypesError;

/// The reproducible-builds variable (reproducible-builds.org/specs/source-date-epoch).
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// The one reading of a `SOURCE_DATE_EPOCH` value: unset or empty is `None` (the outputs
/// use the epoch itself), a decimal number of seconds since 1970-01-01 is that time, and
/// anything else is an error (the specification asks builds to fail on a malformed value
/// rather than guess).
pub fn source_date_epoch(value: Option<&str>) -> Result<Option<u64>, TypesError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.bytes().all(|b| b.is_ascii_digit()) => {
            v.parse()
                .map(Some)
                .map_err(|_| TypesError::InvalidSourceDateEpoch {
                    value: v.to_string(),
                })
        }
        Some(v) => Err(TypesError::InvalidSourceDateEpoch {
            value: v.to_string(),
        }),
    }
}

/// `1970-01-01T00:00:00Z` for seconds since the epoch (UTC; proleptic Gregorian).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::{rfc3339, source_date_epoch};

    #[test]
    fn source_date_epoch_values() {
        assert_eq!(source_date_epoch(None).unwrap(), None);
        assert_eq!(source_date_epoch(Some("")).unwrap(), None);
        assert_eq!(
            source_date_epoch(Some(" 1764763200\n")).unwrap(),
            Some(1_764_763_200)
        );
        assert_eq!(source_date_epoch(Some("0")).unwrap(), Some(0));
        for bad in [
            "yesterday",
            "-1",
            "+5",
            "1.5",
            "1e9",
            "99999999999999999999999",
        ] {
            let e = source_date_epoch(Some(bad)).unwrap_err().to_string();
            assert!(
                e.contains("SOURCE_DATE_EPOCH") && e.contains(bad),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(1_764_763_200), "2025-12-03T12:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
