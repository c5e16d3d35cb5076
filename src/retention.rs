//! Retention values and the regulated-minimum gate. No SDK types: stores receive a finished
//! [`crate::store::LockSpec`].

use chrono::{DateTime, Months, TimeDelta, Utc};

/// The regulated minimum: 2555 days (7 years).
pub const MINIMUM_RETENTION_DAYS: u32 = 2555;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RetentionError {
    #[error(
        "retention of {days} days is below the regulated minimum of {minimum} days; set --retention-days {minimum} or more in the bundle's retention policy"
    )]
    BelowMinimum { days: i64, minimum: u32 },
    #[error(
        "retain-until {retain_until} is earlier than the minimum {required} ({minimum} days from {from})"
    )]
    RetainUntilTooEarly {
        retain_until: DateTime<Utc>,
        required: DateTime<Utc>,
        minimum: u32,
        from: DateTime<Utc>,
    },
    #[error("retention of {days} days is out of range")]
    OutOfRange { days: i64 },
}

/// Refuse a retention period below the minimum.
pub fn check_minimum(days: i64, minimum: u32) -> Result<(), RetentionError> {
    if days < i64::from(minimum) {
        return Err(RetentionError::BelowMinimum { days, minimum });
    }
    Ok(())
}

/// The retain-until date for `days` of retention starting at `from`, counted in whole calendar
/// years (so 2555 days → 7 calendar years, which is 2556 or 2557 days with leap days) and never
/// shorter than `days` itself. Calendar years keep retain-until dates on the same day of the
/// year, which is what records schedules say ("7 years") and what auditors expect to read.
pub fn retain_until(from: DateTime<Utc>, days: u32) -> Result<DateTime<Utc>, RetentionError> {
    let out_of_range = || RetentionError::OutOfRange {
        days: i64::from(days),
    };
    let years = days.div_ceil(365);
    let by_years = from
        .checked_add_months(Months::new(years * 12))
        .ok_or_else(out_of_range)?;
    let by_days = from
        .checked_add_signed(TimeDelta::days(i64::from(days)))
        .ok_or_else(out_of_range)?;
    Ok(by_years.max(by_days))
}

/// Check a concrete retain-until date against the minimum counted from `from`.
pub fn check_retain_until(
    retain_until: DateTime<Utc>,
    from: DateTime<Utc>,
    minimum: u32,
) -> Result<(), RetentionError> {
    let required = from + TimeDelta::days(i64::from(minimum));
    if retain_until < required {
        return Err(RetentionError::RetainUntilTooEarly {
            retain_until,
            required,
            minimum,
            from,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn seven_calendar_years_cover_2555_days() {
        let from = at("2026-11-22T10:00:00Z");
        let until = retain_until(from, 2555).unwrap();
        assert_eq!(until, at("2033-11-22T10:00:00Z"));
        assert!(until - from >= TimeDelta::days(2555));
        // Leap day start: Feb 29 + 7 years clamps to Feb 28, still >= 2555 days.
        let leap = at("2028-02-29T00:00:00Z");
        let until = retain_until(leap, 2555).unwrap();
        assert_eq!(until, at("2035-02-28T00:00:00Z"));
        assert!(until - leap >= TimeDelta::days(2555));
        // Never less than the day count: 366 days → 2 years.
        assert_eq!(retain_until(from, 366).unwrap(), at("2028-11-22T10:00:00Z"));
    }

    #[test]
    fn minimum_gate() {
        assert_eq!(check_minimum(2555, 2555), Ok(()));
        assert_eq!(
            check_minimum(2554, 2555),
            Err(RetentionError::BelowMinimum {
                days: 2554,
                minimum: 2555
            })
        );
        let from = at("2026-01-01T00:00:00Z");
        assert!(check_retain_until(at("2032-12-29T23:59:59Z"), from, 2555).is_err());
        assert!(check_retain_until(at("2032-12-30T00:00:00Z"), from, 2555).is_ok());
    }
}
