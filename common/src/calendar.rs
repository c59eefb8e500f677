//! Workspace-local time: working hours, holidays (incl. Easter), and when a
//! `date` trigger comes due — all in the workspace's timezone, across DST.

use crate::domain::workspace::{Day, Holiday, Timezone, WorkingHours};
use crate::time::Time;
use chrono::{Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// The wall-clock date and time at `t` in `tz`.
pub fn local(tz: Timezone, t: Time) -> NaiveDateTime {
    t.with_timezone(&tz.0).naive_local()
}

/// The instant a workspace-local date and time names. A time skipped by a DST
/// jump (02:30 on the spring-forward night) resolves to the first instant after
/// the gap; a time that happens twice (autumn) resolves to the first of the two.
pub fn resolve(tz: Timezone, date: NaiveDate, time: NaiveTime) -> Time {
    let mut wall = date.and_time(time);
    // Gaps are at most a few hours; step forward a minute at a time until the wall clock exists.
    for _ in 0..=24 * 60 {
        match tz.0.from_local_datetime(&wall) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
            LocalResult::None => wall += chrono::Duration::minutes(1),
        }
    }
    unreachable!("no timezone skips a whole day of wall-clock time")
}

/// Easter Sunday of `year` (Gregorian calendar, anonymous algorithm).
pub fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("the algorithm yields a March or April date")
}

/// Whether `date` is one of the workspace's holidays.
pub fn is_holiday(holidays: &[Holiday], date: NaiveDate) -> bool {
    holidays.iter().any(|h| match *h {
        Holiday::Once(d) => d == date,
        Holiday::Yearly { month, day } => date.month() == month && date.day() == day,
        Holiday::Easter => easter(date.year()) == date,
        Holiday::EasterMonday => easter(date.year()) + Days::new(1) == date,
    })
}

/// Whether the business is open at a local date-time. No working hours at all means always open.
pub fn is_open(hours: Option<&WorkingHours>, at: NaiveDateTime) -> bool {
    let Some(hours) = hours else { return true };
    hours.get(&Day::from(at.weekday())).is_some_and(|ranges| ranges.iter().any(|r| r.contains(at.time())))
}

/// The first instant strictly after `after` that is `time` workspace-local on one of `days`
/// (`wait_until`). A local time skipped by DST resolves to the next instant that exists, a
/// repeated one to the first (as [`resolve`] does). `days` empty counts as every day.
pub fn next_local(tz: Timezone, after: Time, time: NaiveTime, days: &[Day]) -> Time {
    let today = local(tz, after).date();
    // A week and a day covers every weekday, even when today's instant has passed.
    (0..=8)
        .filter_map(|offset| today.checked_add_days(Days::new(offset)))
        .filter(|date| days.is_empty() || days.contains(&Day::from(date.weekday())))
        .map(|date| resolve(tz, date, time))
        .find(|at| *at > after)
        .expect("every weekday comes within eight days")
}

/// When the workspace next opens strictly after `after`: the start of the first working-hours
/// range on a day that is not a holiday. `None` when none comes within a year (no hours on
/// any day), or when there are no working hours at all (always open: never "next").
pub fn next_opening(tz: Timezone, hours: Option<&WorkingHours>, holidays: &[Holiday], after: Time) -> Option<Time> {
    let hours = hours?;
    let today = local(tz, after).date();
    (0..=366)
        .filter_map(|offset| today.checked_add_days(Days::new(offset)))
        .filter(|date| !is_holiday(holidays, *date))
        .flat_map(|date| {
            let mut starts: Vec<NaiveTime> =
                hours.get(&Day::from(date.weekday())).into_iter().flatten().map(|r| r.start).collect();
            starts.sort();
            starts.into_iter().map(move |start| resolve(tz, date, start))
        })
        .find(|at| *at > after)
}

/// Reads a date field (`YYYY-MM-DD`, or RFC 3339 taken as its workspace-local date).
pub fn field_date(value: &str, tz: Timezone) -> Option<NaiveDate> {
    let value = value.trim();
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .or_else(|| crate::time::parse_rfc3339(value).ok().map(|t| local(tz, t).date()))
}

/// The `date` trigger's rule: which dates it fires on for a field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRule {
    pub offset_days: i32,
    pub time: NaiveTime,
    pub annual: bool,
}

/// One firing of a date trigger: the target date and the instant it comes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Due {
    pub date: NaiveDate,
    pub at: Time,
}

impl DateRule {
    /// The first target date on or after `from` for a contact whose field holds `base`.
    /// Annual rules take the base's month and day every year (29 February: the 28th in other years).
    pub fn next_due(&self, base: NaiveDate, from: NaiveDate, tz: Timezone) -> Option<Due> {
        let date = if self.annual {
            let start = shift(from, -self.offset_days)?.year() - 1;
            (start..=start + 3)
                .filter_map(|year| shift(anniversary(base, year)?, self.offset_days))
                .find(|d| *d >= from)?
        } else {
            Some(shift(base, self.offset_days)?).filter(|d| *d >= from)?
        };
        Some(Due { date, at: resolve(tz, date, self.time) })
    }

    /// Whether `date` is a target date of the rule for `base`.
    pub fn targets(&self, base: NaiveDate, date: NaiveDate, tz: Timezone) -> bool {
        self.next_due(base, date, tz).is_some_and(|due| due.date == date)
    }
}

fn shift(date: NaiveDate, days: i32) -> Option<NaiveDate> {
    if days >= 0 {
        date.checked_add_days(Days::new(days as u64))
    } else {
        date.checked_sub_days(Days::new(days.unsigned_abs() as u64))
    }
}

fn anniversary(base: NaiveDate, year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, base.month(), base.day()).or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::workspace::TimeRange;

    const ROME: Timezone = Timezone(chrono_tz::Europe::Rome);

    fn date(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
    }

    fn hm(raw: &str) -> NaiveTime {
        NaiveTime::parse_from_str(raw, "%H:%M").unwrap()
    }

    #[test]
    fn easter_falls_on_the_known_sundays() {
        assert_eq!(easter(2024), date("2024-03-31"));
        assert_eq!(easter(2025), date("2025-04-20"));
        assert_eq!(easter(2026), date("2026-04-05"));
        assert_eq!(easter(2027), date("2027-03-28"));
    }

    #[test]
    fn easter_monday_and_yearly_holidays_repeat_every_year() {
        let holidays = [Holiday::EasterMonday, Holiday::Yearly { month: 12, day: 25 }];
        assert!(is_holiday(&holidays, date("2026-04-06")));
        assert!(!is_holiday(&holidays, date("2026-04-05")));
        assert!(is_holiday(&holidays, date("2031-12-25")));
    }

    #[test]
    fn working_hours_exclude_the_lunch_break_and_missing_days() {
        let hours = WorkingHours::from([(
            Day::Mon,
            vec![TimeRange::parse("09:00-13:00").unwrap(), TimeRange::parse("14:00-18:00").unwrap()],
        )]);
        let monday = date("2026-11-23");
        assert!(is_open(Some(&hours), monday.and_time(hm("09:00"))));
        assert!(!is_open(Some(&hours), monday.and_time(hm("13:30"))));
        assert!(!is_open(Some(&hours), monday.and_time(hm("18:00"))));
        assert!(!is_open(Some(&hours), date("2026-11-24").and_time(hm("10:00"))));
        assert!(is_open(None, monday.and_time(hm("03:00"))));
    }

    #[test]
    fn a_local_time_skipped_by_dst_resolves_to_the_end_of_the_gap() {
        // 2026-03-29 02:30 does not exist in Rome: clocks jump from 02:00 to 03:00 (01:00 UTC).
        let t = resolve(ROME, date("2026-03-29"), hm("02:30"));
        assert_eq!(crate::time::format_rfc3339(t), "2026-03-29T01:00:00Z");
    }

    #[test]
    fn a_local_time_that_happens_twice_resolves_to_the_first() {
        // 2026-10-25 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET).
        let t = resolve(ROME, date("2026-10-25"), hm("02:30"));
        assert_eq!(crate::time::format_rfc3339(t), "2026-10-25T00:30:00Z");
    }

    #[test]
    fn the_same_local_hour_is_a_different_utc_hour_across_dst() {
        let rule = DateRule { offset_days: 0, time: hm("09:00"), annual: false };
        let summer = rule.next_due(date("2026-07-01"), date("2026-01-01"), ROME).unwrap();
        let winter = rule.next_due(date("2026-12-01"), date("2026-01-01"), ROME).unwrap();
        assert_eq!(crate::time::format_rfc3339(summer.at), "2026-07-01T07:00:00Z");
        assert_eq!(crate::time::format_rfc3339(winter.at), "2026-12-01T08:00:00Z");
    }

    #[test]
    fn an_annual_rule_with_a_negative_offset_crosses_the_year() {
        let rule = DateRule { offset_days: -3, time: hm("10:00"), annual: true };
        let due = rule.next_due(date("1990-01-02"), date("2026-12-01"), ROME).unwrap();
        assert_eq!(due.date, date("2026-12-30"));
        assert!(rule.targets(date("1990-01-02"), date("2026-12-30"), ROME));
        assert!(!rule.targets(date("1990-01-02"), date("2026-12-31"), ROME));
    }

    #[test]
    fn a_leap_day_birthday_is_celebrated_on_the_28th_in_other_years() {
        let rule = DateRule { offset_days: 0, time: hm("09:00"), annual: true };
        assert_eq!(rule.next_due(date("2000-02-29"), date("2027-01-01"), ROME).unwrap().date, date("2027-02-28"));
        assert_eq!(rule.next_due(date("2000-02-29"), date("2028-01-01"), ROME).unwrap().date, date("2028-02-29"));
    }

    #[test]
    fn a_one_off_rule_in_the_past_never_comes_due() {
        let rule = DateRule { offset_days: 1, time: hm("09:00"), annual: false };
        assert_eq!(rule.next_due(date("2026-01-01"), date("2026-01-03"), ROME), None);
    }

    #[test]
    fn rfc3339_field_values_are_read_as_their_local_date() {
        assert_eq!(field_date("2026-05-01T23:30:00Z", ROME), Some(date("2026-05-02")));
        assert_eq!(field_date("2026-05-01", ROME), Some(date("2026-05-01")));
        assert_eq!(field_date("first of may", ROME), None);
    }
}
