//! When a report rule closes its period: every day at a wall-clock time in a time zone,
//! or every fixed interval. Pure functions of unix seconds.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::human;

#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Every day at `hour:minute` in `zone` (a time skipped by a DST change is taken
    /// as the same wall time after the change, as `jiff` does by default).
    Daily {
        hour: i8,
        minute: i8,
        zone: TimeZone,
    },
    /// At every multiple of `secs` since the unix epoch (`6h`: 00:00, 06:00, ... UTC).
    Every { secs: i64 },
}

impl Schedule {
    /// The default schedule of a report rule: daily at midnight UTC.
    pub fn midnight_utc() -> Schedule {
        Schedule::Daily {
            hour: 0,
            minute: 0,
            zone: TimeZone::UTC,
        }
    }

    /// The first boundary strictly after `t`.
    pub fn next_after(&self, t: i64) -> i64 {
        match self {
            Schedule::Every { secs } => {
                let secs = (*secs).max(1);
                t.div_euclid(secs).saturating_add(1).saturating_mul(secs)
            }
            Schedule::Daily { hour, minute, zone } => {
                let at = |date: Date| {
                    date.at(*hour, *minute, 0, 0)
                        .to_zoned(zone.clone())
                        .map(|z| z.timestamp().as_second())
                        .ok()
                };
                let today = Timestamp::from_second(t)
                    .map(|ts| ts.to_zoned(zone.clone()).date())
                    .ok();
                let next = today.and_then(|d| match at(d) {
                    Some(b) if b > t => Some(b),
                    _ => d.tomorrow().ok().and_then(at),
                });
                // Past jiff's range (year 9999): a day later, so time still moves on.
                next.filter(|b| *b > t).unwrap_or(t.saturating_add(86_400))
            }
        }
    }

    /// How a period is named in report messages: `daily report 2026-03-01` (the local
    /// date the period starts on; a period stretched over missed days names its last
    /// day too), or `report 2026-03-01T06:00:00Z to 2026-03-01T12:00:00Z`.
    pub fn label(&self, start: i64, end: i64) -> String {
        match self {
            Schedule::Every { .. } => {
                format!("report {} to {}", human::time(start), human::time(end))
            }
            Schedule::Daily { zone, .. } => {
                let date = |t: i64| {
                    Timestamp::from_second(t)
                        .map(|ts| ts.to_zoned(zone.clone()).date().to_string())
                        .unwrap_or_else(|_| t.to_string())
                };
                let (first, last) = (date(start), date(end.saturating_sub(1).max(start)));
                if first == last {
                    format!("daily report {first}")
                } else {
                    format!("daily report {first} to {last}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-03-01T00:00:00Z.
    const T0: i64 = 1_772_323_200;
    const H: i64 = 3600;

    fn paris(hour: i8) -> Schedule {
        Schedule::Daily {
            hour,
            minute: 0,
            zone: TimeZone::get("Europe/Paris").unwrap(),
        }
    }

    #[test]
    fn daily_boundaries_are_local_midnights() {
        // Paris is UTC+1 in March before the change: local midnight is 23:00Z.
        let s = paris(0);
        assert_eq!(s.next_after(T0), T0 + 23 * H);
        assert_eq!(s.next_after(T0 + 23 * H), T0 + 47 * H);
        assert_eq!(s.next_after(T0 - H - 1), T0 - H);
        assert_eq!(Schedule::midnight_utc().next_after(T0), T0 + 24 * H);
        assert_eq!(Schedule::midnight_utc().next_after(T0 - 1), T0);
    }

    #[test]
    fn daily_boundaries_follow_daylight_saving_changes() {
        // 2026-03-29: Paris goes from +01:00 to +02:00 at 02:00 local.
        let s = paris(0);
        let sat = T0 + 27 * 24 * H - H; // 2026-03-28T00:00+01:00
        let sun = s.next_after(sat);
        assert_eq!(sun - sat, 24 * H);
        assert_eq!(s.next_after(sun) - sun, 23 * H);
        // 02:30 does not exist that day; it is taken as 03:30 (+02:00), 01:30Z.
        let s = Schedule::Daily {
            hour: 2,
            minute: 30,
            zone: TimeZone::get("Europe/Paris").unwrap(),
        };
        assert_eq!(s.next_after(sun), sun + H + H / 2 + H);
    }

    #[test]
    fn every_is_aligned_to_the_epoch() {
        let s = Schedule::Every { secs: 6 * H };
        assert_eq!(s.next_after(T0), T0 + 6 * H);
        assert_eq!(s.next_after(T0 + 5 * H), T0 + 6 * H);
        assert_eq!(
            s.label(T0, T0 + 6 * H),
            "report 2026-03-01T00:00:00Z to 2026-03-01T06:00:00Z"
        );
    }

    #[test]
    fn labels_name_the_local_day_or_days() {
        let s = paris(0);
        assert_eq!(s.label(T0 - H, T0 + 23 * H), "daily report 2026-03-01");
        assert_eq!(
            s.label(T0 - H, T0 + 71 * H),
            "daily report 2026-03-01 to 2026-03-03"
        );
    }
}
