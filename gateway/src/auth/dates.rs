//! The date shapes signed requests carry, parsed without trusting the client:
//! SigV4's ISO 8601 basic format (`20261207T142256Z`) and scope date
//! (`20261207`), and the HTTP dates SigV2 signers put in `Date`/`x-amz-date`
//! (RFC 1123 with `GMT`, `UTC` or a numeric zone as s3cmd sends, RFC 850 and
//! asctime, as AWS accepts). Everything is checked byte by byte before any
//! arithmetic, so no input can overflow.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// `n` ASCII digits as a number (`None` for anything else; `n` ≤ 4).
fn digits(text: &[u8]) -> Option<u16> {
    if text.is_empty() || text.len() > 4 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        text.iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0')),
    )
}

fn two(text: &[u8]) -> Option<u8> {
    if text.len() != 2 {
        return None;
    }
    digits(text).and_then(|n| u8::try_from(n).ok())
}

fn date(year: u16, month: u8, day: u8) -> Option<Date> {
    Date::from_calendar_date(i32::from(year), Month::try_from(month).ok()?, day).ok()
}

/// SigV4's `yyyyMMdd'T'HHmmss'Z'` (exactly 16 bytes), as a UTC time.
pub fn parse_iso_basic(text: &str) -> Option<OffsetDateTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let day = parse_scope_date(&text[..8])?;
    let time = Time::from_hms(two(&b[9..11])?, two(&b[11..13])?, two(&b[13..15])?).ok()?;
    Some(PrimitiveDateTime::new(day, time).assume_utc())
}

/// A SigV4 credential scope's `yyyyMMdd` (exactly 8 digits).
pub fn parse_scope_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    if b.len() != 8 {
        return None;
    }
    date(digits(&b[..4])?, two(&b[4..6])?, two(&b[6..8])?)
}

fn month(name: &str) -> Option<u8> {
    const NAMES: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let index = NAMES.iter().position(|m| m.eq_ignore_ascii_case(name))?;
    u8::try_from(index + 1).ok()
}

fn clock(text: &str) -> Option<Time> {
    let mut parts = text.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Time::from_hms(two(h.as_bytes())?, two(m.as_bytes())?, two(s.as_bytes())?).ok()
}

/// `GMT`, `UT`, `UTC`, `Z` or `±hhmm`; no zone means GMT (asctime).
fn zone(text: Option<&str>) -> Option<UtcOffset> {
    let Some(text) = text else {
        return Some(UtcOffset::UTC);
    };
    if ["GMT", "UT", "UTC", "Z"]
        .iter()
        .any(|z| z.eq_ignore_ascii_case(text))
    {
        return Some(UtcOffset::UTC);
    }
    let b = text.as_bytes();
    let sign: i8 = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if b.len() != 5 {
        return None;
    }
    let (h, m) = (two(&b[1..3])?, two(&b[3..5])?);
    let (h, m) = (i8::try_from(h).ok()?, i8::try_from(m).ok()?);
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

/// A year as written: four digits, or RFC 850's two (70–99 → 19xx, else 20xx).
fn year(text: &str) -> Option<u16> {
    let n = digits(text.as_bytes())?;
    match text.len() {
        4 => Some(n),
        2 if n >= 70 => Some(1900 + n),
        2 => Some(2000 + n),
        _ => None,
    }
}

fn day(text: &str) -> Option<u8> {
    if text.is_empty() || text.len() > 2 {
        return None;
    }
    digits(text.as_bytes()).and_then(|n| u8::try_from(n).ok())
}

/// An HTTP date in any of the forms SigV2 clients send, as a point in time.
pub fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Some(t) = parse_iso_basic(text) {
        return Some(t);
    }
    let mut tokens: Vec<&str> = text.split([' ', ',']).filter(|t| !t.is_empty()).collect();
    // The weekday is optional and not checked against the date (nor does AWS).
    if tokens
        .first()
        .is_some_and(|t| t.bytes().all(|c| c.is_ascii_alphabetic()) && month(t).is_none())
    {
        tokens.remove(0);
    }
    let (y, mo, d, t, z) = match tokens.as_slice() {
        // RFC 850: 06-Nov-94 08:49:37 GMT
        [dmy, t, rest @ ..] if dmy.contains('-') && rest.len() <= 1 => {
            let mut parts = dmy.split('-');
            let (d, mo, y) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() {
                return None;
            }
            (year(y)?, month(mo)?, day(d)?, *t, rest.first().copied())
        }
        // asctime: Nov  6 08:49:37 1994
        [mo, d, t, y] if month(mo).is_some() => (year(y)?, month(mo)?, day(d)?, *t, None),
        // RFC 1123 / RFC 2822: 06 Nov 1994 08:49:37 GMT (or +0000)
        [d, mo, y, t, rest @ ..] if rest.len() <= 1 => {
            (year(y)?, month(mo)?, day(d)?, *t, rest.first().copied())
        }
        _ => return None,
    };
    let local = PrimitiveDateTime::new(date(y, mo, d)?, clock(t)?);
    Some(local.assume_offset(zone(z)?).to_offset(UtcOffset::UTC))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn http_dates_in_every_form_aws_accepts() {
        let want = datetime!(2026-12-07 14:22:56 UTC);
        for text in [
            "Mon, 07 Dec 2026 14:22:56 GMT",
            "Mon, 07 Dec 2026 14:22:56 +0000",
            "Mon, 07 Dec 2026 15:22:56 +0100",
            "Mon, 07 Dec 2026 09:22:56 -0500",
            "Mon, 07 Dec 2026 14:22:56 UTC",
            "Mon, 7 Dec 2026 14:22:56 GMT",
            "07 Dec 2026 14:22:56 GMT",
            "Monday, 07-Dec-26 14:22:56 GMT",
            "Mon Dec  7 14:22:56 2026",
            "20261207T142256Z",
        ] {
            assert_eq!(parse_http_date(text), Some(want), "{text}");
        }
        for text in [
            "",
            "2026-12-07T14:22:56Z",
            "Mon, 07 Dec 2026 14:22:56 +00",
            "Mon, 07 Foo 2026 14:22:56 GMT",
            "Mon, 32 Dec 2026 14:22:56 GMT",
            "Mon, 07 Dec 2026 24:22:56 GMT",
            "Mon, 07 Dec 2026 14:22:56 GMT extra",
            "Mon, 07 Dec 2026 14:22 GMT",
            "Mon, -7 Dec 2026 14:22:56 GMT",
        ] {
            assert_eq!(parse_http_date(text), None, "{text}");
        }
    }

    #[test]
    fn sigv4_dates_are_exactly_the_basic_format() {
        assert_eq!(
            parse_iso_basic("20261207T142256Z"),
            Some(datetime!(2026-12-07 14:22:56 UTC))
        );
        for bad in [
            "2026-12-07T14:22:56Z",
            "2026-207T142256Z",
            "20261207T142256",
            "20261307T142256Z",
            "2026120-T142256Z",
            "+0261207T142256Z",
        ] {
            assert_eq!(parse_iso_basic(bad), None, "{bad}");
        }
        assert!(parse_scope_date("20261207").is_some());
        assert!(parse_scope_date("2026-1-7").is_none());
        assert!(parse_scope_date("2026120 ").is_none());
    }

    proptest! {
        #[test]
        fn date_parsers_never_panic(text in "\\PC{0,40}", bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_http_date(&text);
            let _ = parse_iso_basic(&text);
            let _ = parse_scope_date(&text);
            let lossy = String::from_utf8_lossy(&bytes);
            let _ = parse_http_date(&lossy);
            let _ = parse_iso_basic(&lossy);
        }

        #[test]
        fn formatted_dates_parse_back(secs in 0i64..4_102_444_800) {
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let rfc1123 = time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] +0000"
            );
            prop_assert_eq!(parse_http_date(&t.format(rfc1123).unwrap()), Some(t));
            let basic = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
            prop_assert_eq!(parse_iso_basic(&t.format(basic).unwrap()), Some(t));
        }
    }
}
