//! An automation's stats (`GET /v1/automations/{id}/stats`), kept as counters while its
//! runs go, so reading them never scans runs.
//!
//! A run's record counts as a [`Tally`]: the run itself (`started`, and `active` or `ended`)
//! and each recorded step (`done`, `failed` or `skipped` by error code, `pending` while it is
//! being sent or waits, its message's deliveries, the branch a flow step took). Every write of
//! a run adds the difference between the tally of the run as written and as it was stored
//! (a [`Delta`]) to the counters of the automation and the day the run started (UTC), in the
//! same atomic write. So the counters of a day always equal a recount of the runs that
//! started that day, whatever the order of their writes: the stats of a window are those of
//! the runs started in it (a cohort), and reading them costs one item per day.

use crate::domain::ids::AutomationId;
use crate::domain::path::{Branch, StepPath};
use crate::domain::run::{Run, RunStatus, StepStatus};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The error code a failed or skipped step recorded without one counts under.
const NO_CODE: &str = "unknown";

/// One counter of an automation's day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Counter {
    /// Runs started.
    Started,
    /// Runs still going (started − ended).
    Active,
    /// Runs completed or cancelled.
    Ended,
    /// A count about one step of the runs.
    Step(StepPath, StepCounter),
}

/// A count about one step path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepCounter {
    Done,
    /// Failed, by error code.
    Failed(String),
    /// Skipped, by error code.
    Skipped(String),
    /// Under way: being sent, or a `wait_for_reply` waiting (a delayed step is not recorded yet).
    Pending,
    /// WhatsApp reported the message sent (or delivered, or read: each implies the ones before).
    Sent,
    Delivered,
    Read,
    /// WhatsApp reported the message undeliverable.
    Undelivered,
    /// The branch a flow step went on with.
    Branch(Branch),
}

impl fmt::Display for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Started => f.write_str("started"),
            Self::Active => f.write_str("active"),
            Self::Ended => f.write_str("ended"),
            Self::Step(path, counter) => match counter {
                StepCounter::Done => write!(f, "{path}:done"),
                StepCounter::Failed(code) => write!(f, "{path}:failed:{code}"),
                StepCounter::Skipped(code) => write!(f, "{path}:skipped:{code}"),
                StepCounter::Pending => write!(f, "{path}:pending"),
                StepCounter::Sent => write!(f, "{path}:sent"),
                StepCounter::Delivered => write!(f, "{path}:delivered"),
                StepCounter::Read => write!(f, "{path}:read"),
                StepCounter::Undelivered => write!(f, "{path}:undelivered"),
                StepCounter::Branch(branch) => write!(f, "{path}:branch:{branch}"),
            },
        }
    }
}

/// A counter's name that is not one [`Counter`] writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a stats counter")]
pub struct UnknownCounter(pub String);

impl FromStr for Counter {
    type Err = UnknownCounter;

    fn from_str(raw: &str) -> Result<Self, UnknownCounter> {
        let unknown = || UnknownCounter(raw.to_string());
        match raw {
            "started" => return Ok(Self::Started),
            "active" => return Ok(Self::Active),
            "ended" => return Ok(Self::Ended),
            _ => {}
        }
        let (path, rest) = raw.split_once(':').ok_or_else(unknown)?;
        let path: StepPath = path.parse().map_err(|_| unknown())?;
        let (kind, detail) = rest.split_once(':').map_or((rest, None), |(k, d)| (k, Some(d)));
        let counter = match (kind, detail) {
            ("done", None) => StepCounter::Done,
            ("failed", Some(code)) => StepCounter::Failed(code.to_string()),
            ("skipped", Some(code)) => StepCounter::Skipped(code.to_string()),
            ("pending", None) => StepCounter::Pending,
            ("sent", None) => StepCounter::Sent,
            ("delivered", None) => StepCounter::Delivered,
            ("read", None) => StepCounter::Read,
            ("undelivered", None) => StepCounter::Undelivered,
            ("branch", Some(branch)) => StepCounter::Branch(branch.parse().map_err(|_| unknown())?),
            _ => return Err(unknown()),
        };
        Ok(Self::Step(path, counter))
    }
}

/// What one run's record counts: a sorted multiset of counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally(Vec<Counter>);

impl Tally {
    /// What nothing counts: a run not stored yet.
    pub const NONE: Tally = Tally(Vec::new());

    /// What `run`'s record counts.
    pub fn of(run: &Run) -> Self {
        let mut counters = Vec::with_capacity(2 + 2 * run.steps.len());
        counters.push(Counter::Started);
        counters.push(if run.status == RunStatus::Active { Counter::Active } else { Counter::Ended });
        for record in &run.steps {
            let code = || record.error.clone().unwrap_or_else(|| NO_CODE.to_string());
            let status = match record.status {
                StepStatus::Done => StepCounter::Done,
                StepStatus::Failed => StepCounter::Failed(code()),
                StepStatus::Skipped => StepCounter::Skipped(code()),
                StepStatus::Sending | StepStatus::Waiting | StepStatus::Retrying => StepCounter::Pending,
            };
            counters.push(Counter::Step(record.step, status));
            let deliveries: &[StepCounter] = match record.delivery.as_deref() {
                Some("read") => &[StepCounter::Sent, StepCounter::Delivered, StepCounter::Read],
                Some("delivered") => &[StepCounter::Sent, StepCounter::Delivered],
                Some("sent") => &[StepCounter::Sent],
                Some("failed") => &[StepCounter::Undelivered],
                _ => &[],
            };
            counters.extend(deliveries.iter().map(|d| Counter::Step(record.step, d.clone())));
            if let Some(branch) = record.branch {
                counters.push(Counter::Step(record.step, StepCounter::Branch(branch)));
            }
        }
        counters.sort_unstable();
        Self(counters)
    }

    pub fn counters(&self) -> &[Counter] {
        &self.0
    }

    /// What changes when a run's record goes from counting `self` to counting `after`.
    pub fn changes_to(&self, after: &Tally) -> Vec<(Counter, i64)> {
        let (mut old, mut new) = (self.0.iter().peekable(), after.0.iter().peekable());
        let mut changes: Vec<(Counter, i64)> = Vec::new();
        let mut add = |counter: &Counter, by: i64| match changes.last_mut() {
            Some((last, n)) if last == counter => *n += by,
            _ => changes.push((counter.clone(), by)),
        };
        loop {
            match (old.peek(), new.peek()) {
                (Some(o), Some(n)) if o == n => {
                    old.next();
                    new.next();
                }
                (Some(o), Some(n)) if o < n => add(old.next().expect("peeked"), -1),
                (Some(_), Some(_)) | (None, Some(_)) => add(new.next().expect("peeked"), 1),
                (Some(_), None) => add(old.next().expect("peeked"), -1),
                (None, None) => break,
            }
        }
        changes.retain(|(_, n)| *n != 0);
        changes
    }
}

/// The counters of one automation and day that one write of a run changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub automation: AutomationId,
    /// The UTC day the run started.
    pub day: NaiveDate,
    pub changes: Vec<(Counter, i64)>,
    /// When the run started, if this write created it (the day's latest start moves on).
    pub started_at: Option<crate::time::Time>,
}

impl Delta {
    /// The change a write of `after` makes over a stored run that counted `before`; `None`
    /// when it changes no counter.
    pub fn of(before: &Tally, after: &Run) -> Option<Self> {
        let changes = before.changes_to(&Tally::of(after));
        (!changes.is_empty()).then(|| Self {
            automation: after.automation.clone(),
            day: after.started_at.date_naive(),
            started_at: changes.iter().any(|(c, n)| *c == Counter::Started && *n > 0).then_some(after.started_at),
            changes,
        })
    }

    /// Adds the changes of `other`, a delta of the same automation and day, to this one.
    pub fn merge(&mut self, other: Delta) {
        debug_assert!(self.automation == other.automation && self.day == other.day);
        self.started_at = self.started_at.max(other.started_at);
        for (counter, by) in other.changes {
            match self.changes.iter_mut().find(|(c, _)| *c == counter) {
                Some((_, n)) => *n += by,
                None => self.changes.push((counter, by)),
            }
        }
        self.changes.retain(|(_, n)| *n != 0);
    }

    /// The changes of several writes made at once, one delta per automation and day (a
    /// DynamoDB transaction may touch an item once).
    pub fn merged(deltas: impl IntoIterator<Item = Delta>) -> Vec<Delta> {
        let mut merged: Vec<Delta> = Vec::new();
        for delta in deltas {
            match merged.iter_mut().find(|d| d.automation == delta.automation && d.day == delta.day) {
                None => merged.push(delta),
                Some(into) => into.merge(delta),
            }
        }
        merged
    }
}

/// The counters of one automation and day, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayCounters {
    pub counters: BTreeMap<Counter, i64>,
    /// The latest start of a run that day.
    pub last_started: Option<crate::time::Time>,
}

impl DayCounters {
    pub fn apply(&mut self, delta: &Delta) {
        for (counter, by) in &delta.changes {
            let n = self.counters.entry(counter.clone()).or_default();
            *n += by;
            if *n == 0 {
                self.counters.remove(counter);
            }
        }
        self.last_started = self.last_started.max(delta.started_at);
    }
}

/// A window of whole UTC days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    pub since: NaiveDate,
    pub until: NaiveDate,
}

/// Why a window of days was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaysError {
    #[error("`since` ({since}) is after `until` ({until})")]
    Reversed { since: NaiveDate, until: NaiveDate },
    #[error("the window spans {0} days; at most {MAX_DAYS}")]
    TooLong(i64),
}

/// The longest window stats are read over (a year, leap day included).
pub const MAX_DAYS: i64 = 366;

impl Days {
    pub fn new(since: NaiveDate, until: NaiveDate) -> Result<Self, DaysError> {
        let span = (until - since).num_days() + 1;
        if span < 1 {
            Err(DaysError::Reversed { since, until })
        } else if span > MAX_DAYS {
            Err(DaysError::TooLong(span))
        } else {
            Ok(Self { since, until })
        }
    }

    /// The `n` days that end with `until`.
    pub fn last(n: u32, until: NaiveDate) -> Self {
        let since = until - chrono::Days::new(u64::from(n.max(1) - 1));
        Self { since, until }
    }

    /// The window `?since=&until=` names (each a day `2026-12-01` or an RFC 3339 instant, read
    /// as its UTC day): by default the week that ends `today`.
    pub fn from_query(since: Option<&str>, until: Option<&str>, today: NaiveDate) -> Result<Self, String> {
        let day = |name: &str, raw: &str| {
            raw.parse::<NaiveDate>()
                .or_else(|_| crate::time::parse_rfc3339(raw).map(|t| t.date_naive()))
                .map_err(|_| format!("`{name}` must be a day like 2026-12-01 or an RFC 3339 time, not `{raw}`"))
        };
        let until = until.map(|raw| day("until", raw)).transpose()?.unwrap_or(today);
        match since {
            Some(raw) => Self::new(day("since", raw)?, until).map_err(|e| e.to_string()),
            None => Ok(Self::last(7, until)),
        }
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.since <= day && day <= self.until
    }

    pub fn iter(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let until = self.until;
        self.since.iter_days().take_while(move |d| *d <= until)
    }
}

/// An automation's stats over a window: the answer of `GET /v1/automations/{id}/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub runs: RunCounts,
    /// Each step path that ran, in document order.
    pub steps: BTreeMap<StepPath, StepStats>,
    /// The latest start of a run in the window.
    #[serde(with = "crate::time::optional_rfc3339", skip_serializing_if = "Option::is_none")]
    pub last_started: Option<crate::time::Time>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    pub started: i64,
    pub active: i64,
    pub ended: i64,
}

/// The counts of one step path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StepStats {
    pub done: i64,
    /// By error code.
    pub failed: BTreeMap<String, i64>,
    /// By error code.
    pub skipped: BTreeMap<String, i64>,
    pub pending: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub undelivered: i64,
    /// A flow step's branches, by name (`branches[0]`, `otherwise`, `on_timeout`).
    pub branches: BTreeMap<String, i64>,
}

impl StepStats {
    pub fn failed_total(&self) -> i64 {
        self.failed.values().sum()
    }

    pub fn skipped_total(&self) -> i64 {
        self.skipped.values().sum()
    }
}

impl Stats {
    /// The sum of days' counters.
    pub fn sum<'a>(days: impl IntoIterator<Item = &'a DayCounters>) -> Self {
        let mut stats = Self::default();
        for day in days {
            stats.last_started = stats.last_started.max(day.last_started);
            for (counter, n) in &day.counters {
                stats.add(counter, *n);
            }
        }
        stats
    }

    /// The stats a recount of `runs` gives (what the counters must equal).
    pub fn recount<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Self {
        let mut stats = Self::default();
        for run in runs {
            stats.last_started = stats.last_started.max(Some(run.started_at));
            for counter in Tally::of(run).counters() {
                stats.add(counter, 1);
            }
        }
        stats
    }

    fn add(&mut self, counter: &Counter, n: i64) {
        let Counter::Step(path, counter) = counter else {
            match counter {
                Counter::Started => self.runs.started += n,
                Counter::Active => self.runs.active += n,
                _ => self.runs.ended += n,
            }
            return;
        };
        let step = self.steps.entry(*path).or_default();
        match counter {
            StepCounter::Done => step.done += n,
            StepCounter::Failed(code) => *step.failed.entry(code.clone()).or_default() += n,
            StepCounter::Skipped(code) => *step.skipped.entry(code.clone()).or_default() += n,
            StepCounter::Pending => step.pending += n,
            StepCounter::Sent => step.sent += n,
            StepCounter::Delivered => step.delivered += n,
            StepCounter::Read => step.read += n,
            StepCounter::Undelivered => step.undelivered += n,
            StepCounter::Branch(branch) => *step.branches.entry(branch.to_string()).or_default() += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::automation::ActionKind;
    use crate::domain::ids::RunId;
    use crate::domain::phone::{ContactKey, WaId};
    use crate::domain::run::{RunCause, StepRecord};

    fn at(hour: u32) -> crate::time::Time {
        chrono::DateTime::parse_from_rfc3339(&format!("2026-12-01T{hour:02}:00:00Z")).unwrap().to_utc()
    }

    fn run(steps: Vec<StepRecord>, status: RunStatus) -> Run {
        Run {
            id: RunId::parse("r-1").unwrap(),
            automation: AutomationId::parse("a").unwrap(),
            version: 1,
            contact: ContactKey::Phone(WaId::parse("393331234567").unwrap()),
            started_at: at(9),
            cause: RunCause::Manual,
            depth: 0,
            block_epoch: 0,
            status,
            steps,
            retention: crate::domain::run::RUNS_RETENTION,
        }
    }

    fn record(step: usize, status: StepStatus, error: Option<&str>) -> StepRecord {
        StepRecord::new(StepPath::top(step), ActionKind::SendText, status, at(10), error)
    }

    #[test]
    fn every_counter_reads_back_from_its_name() {
        let path: StepPath = "steps[1].action.branches[2].steps[0]".parse().unwrap();
        let counters = [
            Counter::Started,
            Counter::Active,
            Counter::Ended,
            Counter::Step(path, StepCounter::Done),
            Counter::Step(path, StepCounter::Failed("send_failed".into())),
            Counter::Step(path, StepCounter::Skipped("outside_window".into())),
            Counter::Step(path, StepCounter::Pending),
            Counter::Step(path, StepCounter::Sent),
            Counter::Step(path, StepCounter::Delivered),
            Counter::Step(path, StepCounter::Read),
            Counter::Step(path, StepCounter::Undelivered),
            Counter::Step(path, StepCounter::Branch(Branch::OnTimeout)),
            Counter::Step(path, StepCounter::Branch(Branch::Branches(3))),
        ];
        for counter in counters {
            assert_eq!(counter.to_string().parse::<Counter>(), Ok(counter.clone()), "{counter}");
        }
        assert!("steps[0]:bogus".parse::<Counter>().is_err());
        assert!("nonsense".parse::<Counter>().is_err());
    }

    #[test]
    fn a_new_run_counts_as_started_and_active() {
        let new = run(vec![record(0, StepStatus::Sending, None)], RunStatus::Active);
        let delta = Delta::of(&Tally::NONE, &new).unwrap();
        assert_eq!(delta.day, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(delta.started_at, Some(at(9)));
        assert_eq!(
            delta.changes,
            vec![
                (Counter::Started, 1),
                (Counter::Active, 1),
                (Counter::Step(StepPath::top(0), StepCounter::Pending), 1)
            ]
        );
    }

    #[test]
    fn a_step_finishing_moves_its_count_from_pending_to_its_outcome() {
        let sending = run(vec![record(0, StepStatus::Sending, None)], RunStatus::Active);
        let mut done = run(vec![record(0, StepStatus::Done, None)], RunStatus::Completed);
        done.steps[0].delivery = Some("read".into());
        let delta = Delta::of(&Tally::of(&sending), &done).unwrap();
        let step = |c| Counter::Step(StepPath::top(0), c);
        assert_eq!(delta.started_at, None, "the run started before this write");
        assert_eq!(
            delta.changes,
            vec![
                (Counter::Active, -1),
                (Counter::Ended, 1),
                (step(StepCounter::Done), 1),
                (step(StepCounter::Pending), -1),
                (step(StepCounter::Sent), 1),
                (step(StepCounter::Delivered), 1),
                (step(StepCounter::Read), 1),
            ]
        );
    }

    #[test]
    fn a_write_that_changes_nothing_counted_has_no_delta() {
        let before = run(vec![record(0, StepStatus::Done, None)], RunStatus::Active);
        let mut after = before.clone();
        after.steps[0].at = at(11);
        assert_eq!(Delta::of(&Tally::of(&before), &after), None);
    }

    #[test]
    fn failures_and_skips_count_by_their_code() {
        let finished = run(
            vec![record(0, StepStatus::Failed, Some("send_failed")), record(1, StepStatus::Skipped, None)],
            RunStatus::Completed,
        );
        let stats = Stats::recount([&finished]);
        assert_eq!(stats.steps[&StepPath::top(0)].failed, BTreeMap::from([("send_failed".to_string(), 1)]));
        assert_eq!(stats.steps[&StepPath::top(1)].skipped, BTreeMap::from([(NO_CODE.to_string(), 1)]));
        assert_eq!(stats.runs, RunCounts { started: 1, active: 0, ended: 1 });
    }

    #[test]
    fn counters_summed_over_any_order_of_writes_equal_a_recount() {
        let mut a = run(vec![record(0, StepStatus::Sending, None)], RunStatus::Active);
        let mut b = a.clone();
        b.id = RunId::parse("r-2").unwrap();
        let mut day = DayCounters::default();
        let mut write = |before: Option<&Run>, after: &Run| {
            let tally = before.map_or(Tally::NONE, Tally::of);
            if let Some(delta) = Delta::of(&tally, after) {
                day.apply(&delta);
            }
        };
        write(None, &a);
        write(None, &b);
        let a0 = a.clone();
        a.steps[0].status = StepStatus::Done;
        a.steps.push(StepRecord { branch: Some(Branch::Otherwise), ..record(1, StepStatus::Done, None) });
        a.status = RunStatus::Completed;
        write(Some(&a0), &a);
        let b0 = b.clone();
        b.status = RunStatus::Cancelled { reason: "contact_blocked".into() };
        b.steps[0].status = StepStatus::Skipped;
        b.steps[0].error = Some("contact_blocked".into());
        write(Some(&b0), &b);
        assert_eq!(Stats::sum([&day]), Stats::recount([&a, &b]));
    }

    #[test]
    fn deltas_of_one_automation_and_day_merge_into_one() {
        let a = run(Vec::new(), RunStatus::Active);
        let mut b = a.clone();
        b.started_at = at(12);
        let merged = Delta::merged([Delta::of(&Tally::NONE, &a).unwrap(), Delta::of(&Tally::NONE, &b).unwrap()]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].changes, vec![(Counter::Started, 2), (Counter::Active, 2)]);
        assert_eq!(merged[0].started_at, Some(at(12)));
    }

    #[test]
    fn a_window_is_whole_days_both_ends_included() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let week = Days::last(7, day(7));
        assert_eq!(week.since, day(1));
        assert_eq!(week.iter().count(), 7);
        assert!(Days::new(day(3), day(2)).is_err());
        assert!(Days::new(day(1), day(1) + chrono::Days::new(400)).is_err());
    }
}
