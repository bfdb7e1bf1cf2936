//! RFC 3339 timestamps, as Vertex writes them.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The current time, e.g. `2026-11-22T15:30:00.123456Z`.
pub fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now);
    now.format(&Rfc3339).unwrap_or_default()
}
