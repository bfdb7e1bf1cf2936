//! RFC 3339 timestamps, as Vertex writes them.

use std::time::SystemTime;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The current time, e.g. `2026-11-22T15:30:00.123456Z`.
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// An RFC 3339 time, as a point in time (`None` when it is not one).
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// A time in UTC to the microsecond, e.g. `2026-11-22T15:30:00.123456Z`.
pub fn rfc3339(at: SystemTime) -> String {
    let t = OffsetDateTime::from(at);
    let t = t
        .replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}
