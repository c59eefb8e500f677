//! An automation's stats counters on DynamoDB (see `avvio_common::stats`): every write of a
//! run adds its change to a counter item with `ADD`, in the run write's own transaction.
//!
//! A day's counters of one automation are spread over [`SHARDS`] items, the run's id picking
//! one: a transaction conflicts with any other in flight on one of its items, so a single
//! counter item would make every concurrent run write of a busy automation conflict (and be
//! decided again). Reading a day sums its shards: stats over `d` days read `d × SHARDS` items
//! by key (100 per `BatchGetItem`), whatever the number of runs.

use super::DynamoStore;
use super::keys;
use super::table::{Changes, Item, Tx, get_s, s};
use avvio_common::domain::ids::{AutomationId, RunId, WorkspaceId};
use avvio_common::domain::run::Run;
use avvio_common::ports::StoreError;
use avvio_common::stats::{Counter, DayCounters, Days, Delta, Tally};
use avvio_common::time::parse_rfc3339;

/// How many items one automation's counters of one day are spread over.
pub const SHARDS: u8 = 16;

const AUTOMATION: &str = "automation";
const DAY: &str = "day";
const LAST_STARTED: &str = "last_started";

/// The shard a run counts in: a stable hash of its id (FNV-1a).
fn shard(run: &RunId) -> u8 {
    let hash =
        run.as_str().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (hash % u64::from(SHARDS)) as u8
}

/// Adds to `tx` the counter changes of run writes, each a run as written and what the stored
/// run counted before (one update per counter item: a transaction touches an item once).
pub(super) fn stage_counts<'a, R: Copy>(
    tx: &mut Tx<R>,
    role: R,
    ws: &WorkspaceId,
    writes: impl IntoIterator<Item = (&'a Tally, &'a Run)>,
) {
    let mut deltas: Vec<(u8, Delta)> = Vec::new();
    for (before, after) in writes {
        let Some(delta) = Delta::of(before, after) else { continue };
        let shard = shard(&after.id);
        match deltas.iter_mut().find(|(s, d)| *s == shard && d.automation == delta.automation && d.day == delta.day) {
            Some((_, into)) => into.merge(delta),
            None => deltas.push((shard, delta)),
        }
    }
    for (shard, delta) in deltas.into_iter().filter(|(_, d)| !d.changes.is_empty()) {
        let mut changes =
            Changes::default().set(AUTOMATION, s(delta.automation.as_str())).set(DAY, s(delta.day.to_string()));
        for (counter, by) in &delta.changes {
            changes = changes.add(&counter.to_string(), *by);
        }
        // The day's latest start: a concurrent earlier start may overwrite it with its own,
        // a few moments older (the list's "last run" is that approximate).
        if let Some(started_at) = delta.started_at {
            changes = changes.set(LAST_STARTED, s(avvio_common::time::format_rfc3339(started_at)));
        }
        tx.update(role, keys::stats(ws, delta.day, &delta.automation, shard), changes);
    }
}

/// A counter item read back: its automation and counters.
fn read_counters(item: &Item) -> Result<(AutomationId, DayCounters), StoreError> {
    let automation = AutomationId::parse(get_s(item, AUTOMATION)?)
        .map_err(|e| StoreError::Unavailable(format!("a stats item names no automation: {e}")))?;
    let mut day = DayCounters::default();
    for (name, value) in item {
        if let Ok(counter) = name.parse::<Counter>() {
            let n = value.as_n().ok().and_then(|n| n.parse::<i64>().ok()).unwrap_or_default();
            if n != 0 {
                *day.counters.entry(counter).or_default() += n;
            }
        }
    }
    day.last_started = item.get(LAST_STARTED).and_then(|v| v.as_s().ok()).and_then(|t| parse_rfc3339(t).ok());
    Ok((automation, day))
}

impl DynamoStore {
    pub(super) async fn read_stats(
        &self,
        ws: &WorkspaceId,
        id: &AutomationId,
        days: Days,
    ) -> Result<Vec<DayCounters>, StoreError> {
        let wanted = days.iter().flat_map(|day| (0..SHARDS).map(move |shard| keys::stats(ws, day, id, shard)));
        let found = self.batch_get(wanted).await?;
        found.values().map(|item| read_counters(item).map(|(_, day)| day)).collect()
    }

    pub(super) async fn read_activity(
        &self,
        ws: &WorkspaceId,
        days: Days,
    ) -> Result<Vec<(AutomationId, DayCounters)>, StoreError> {
        let from = format!("{}{}#", keys::STATS_PREFIX, days.since);
        // `$` sorts after `#`: every shard of every automation of the last day.
        let to = format!("{}{}$", keys::STATS_PREFIX, days.until);
        let items = self.query_between(&keys::workspace_pk(ws), &from, &to).await?;
        items.iter().map(read_counters).collect()
    }
}
