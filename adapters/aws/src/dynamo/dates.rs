//! The date index: when each date automation next comes due for each contact.
//!
//! Each due item sits in the workspace's partition (`DATE#{automation}#{contact}`, so an
//! automation's items can be cleared together) and in the sparse `due` index, partitioned
//! by the UTC day it comes due and sorted by instant. [`DynamoStore::read_due_dates`]
//! queries only the day partitions from [`LOOKBACK_DAYS`] ago to today, up to `now`: its
//! reads grow with the items due, not with the contacts or automations there are.

use super::DynamoStore;
use super::keys;
use super::table::{DUE_PK, DUE_SK, Item, get_parsed, item, s};
use avvio_common::calendar::Due;
use avvio_common::domain::ids::{AutomationId, WorkspaceId};
use avvio_common::domain::phone::ContactKey;
use avvio_common::ports::{DueDate, StoreError};
use avvio_common::time::{Time, format_rfc3339, parse_rfc3339};
use chrono::NaiveDate;

/// How many days back the clock looks for items still due. A due instant is at most about
/// a day before the contact's field changed (a date set later on its day still fires), so
/// this covers that plus almost a week of the clock not running; older items are not seen.
pub const LOOKBACK_DAYS: u64 = 7;

fn read_due(item: &Item) -> Result<DueDate, StoreError> {
    Ok(DueDate {
        workspace: get_parsed(item, "ws", WorkspaceId::parse)?,
        automation: get_parsed(item, "automation", AutomationId::parse)?,
        contact: get_parsed(item, "contact", ContactKey::parse)?,
        due: Due {
            date: get_parsed(item, "date", |raw| NaiveDate::parse_from_str(raw, "%Y-%m-%d"))?,
            at: get_parsed(item, "at", parse_rfc3339)?,
        },
    })
}

/// The item saying when `automation` next comes due for `contact`.
pub(super) fn date_item(ws: &WorkspaceId, automation: &AutomationId, contact: &ContactKey, due: Due) -> Item {
    item(
        &keys::date_due(ws, automation, contact),
        [
            ("ws", s(ws.as_str())),
            ("automation", s(automation.as_str())),
            ("contact", s(contact.as_str())),
            ("date", s(due.date.format("%Y-%m-%d").to_string())),
            ("at", s(format_rfc3339(due.at))),
            (DUE_PK, s(keys::due_day(due.at.date_naive()))),
            (DUE_SK, s(keys::due_sort(due.at, ws, automation, contact))),
        ],
    )
}

impl DynamoStore {
    pub(super) async fn write_date_due(
        &self,
        ws: &WorkspaceId,
        automation: &AutomationId,
        contact: &ContactKey,
        due: Option<Due>,
    ) -> Result<(), StoreError> {
        let key = keys::date_due(ws, automation, contact);
        let Some(due) = due else { return self.delete(&key).await };
        self.put(date_item(ws, automation, contact, due)).await
    }

    /// Every item due at or before `now`, across workspaces, earliest first: one paginated
    /// index query per day partition, oldest day first.
    pub(super) async fn read_due_dates(&self, now: Time) -> Result<Vec<DueDate>, StoreError> {
        let today = now.date_naive();
        let bound = keys::due_bound(now);
        let mut due = Vec::new();
        let mut day = today.checked_sub_days(chrono::Days::new(LOOKBACK_DAYS)).unwrap_or(today);
        while day <= today {
            for item in self.query_due(&keys::due_day(day), &bound).await? {
                due.push(read_due(&item)?);
            }
            day = match day.succ_opt() {
                Some(next) => next,
                None => break,
            };
        }
        Ok(due)
    }
}
