//! Timestamps are stored as Unix milliseconds (portable across SQLite and PostgreSQL) and shown as
//! RFC 3339 in UTC.

use time::OffsetDateTime;

/// The current time in Unix milliseconds.
pub fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Formats Unix milliseconds as `2024-06-21T10:27:57Z` (second precision: what humans and the
/// compatibility APIs want).
pub fn format_rfc3339(millis: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_seconds() {
        assert_eq!(super::format_rfc3339(1_718_965_677_123), "2024-06-21T10:27:57Z");
    }
}

/// Parses an RFC 3339 time (`2024-06-21T10:27:57Z`, offsets and fractions allowed) into Unix
/// milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod parse_tests {
    #[test]
    fn parses_what_it_formats() {
        let ms = super::parse_rfc3339("2024-06-21T10:27:57Z").unwrap();
        assert_eq!(super::format_rfc3339(ms), "2024-06-21T10:27:57Z");
        assert!(super::parse_rfc3339("yesterday").is_none());
    }
}
