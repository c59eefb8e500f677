//! Pacing on DynamoDB (SPEC §2.6): one item per WhatsApp number holds the end of the send slots
//! handed out so far, across every Lambda instance. An instance takes slots in leases — one
//! `UpdateItem` for several sends — and hands them out locally; the lease grows while the
//! instance uses each one up, and shrinks when slots go unused, so a busy instance pays about
//! one call per ten sends and a quiet one does not hold slots others could use. The design and
//! its cost: `docs/aws.md`, "Pacing".

use super::DynamoStore;
use super::table::{Key, unavailable};
use avvio_common::pacing::interval;
use avvio_common::ports::StoreError;
use avvio_common::time::Time;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The attribute holding the end of the slots handed out, microseconds since the epoch.
const NEXT_FREE: &str = "next_free";
/// The most slots one lease holds: an eighth of a second of the number's rate, and at least 10
/// (so a number at the default 80/s costs one call per 10 sends at most).
fn max_lease(rate: u32) -> u32 {
    (rate / 8).max(10)
}

/// How long after its span a lease's slots may still be used. Slots are not tied to their exact
/// times within a lease (an instance sends one message at a time, slower than the rate), so an
/// instance spends its lease's slots as its sends come, until this long after the lease's span.
const LEASE_GRACE: chrono::Duration = chrono::Duration::milliseconds(500);

/// The slots an instance holds for one number: `left` of the span `start..end` of the number's
/// timeline, usable from `start` until `end + LEASE_GRACE`.
#[derive(Debug, Default)]
pub(super) struct Lease {
    start: Option<Time>,
    end: Option<Time>,
    left: u32,
    /// How many slots the next lease takes.
    size: u32,
    /// Whether slots of the current lease went unused (they expired before anyone asked).
    wasted: bool,
}

/// The leases of this instance, one per number (each behind its own lock, held while it is
/// refilled, so that the instance's concurrent sends share one call).
#[derive(Debug, Default, Clone)]
pub(super) struct Leases {
    by_number: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<Lease>>>>>,
    /// The `UpdateItem` calls made for leases (what pacing costs).
    calls: Arc<std::sync::atomic::AtomicU64>,
}

impl Leases {
    fn of(&self, number: &str) -> Arc<tokio::sync::Mutex<Lease>> {
        let mut leases = self.by_number.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        leases.entry(number.to_string()).or_default().clone()
    }
}

fn micros(at: Time) -> i64 {
    at.timestamp_micros()
}

fn from_micros(micros: i64) -> Result<Time, StoreError> {
    chrono::DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Unavailable(format!("a pace item holds an impossible time: {micros}")))
}

fn pace_key(number: &str) -> Key {
    Key::new(format!("PACE#{number}"), "PACE")
}

impl Lease {
    /// A slot of this lease for a send at `now`: the lease's start when it is still ahead, else
    /// now. `None` when the lease is used up or expired.
    fn take(&mut self, now: Time) -> Option<Time> {
        let (start, end) = (self.start?, self.end?);
        if self.left == 0 {
            return None;
        }
        if now >= end + LEASE_GRACE {
            self.wasted = true;
            self.left = 0;
            return None;
        }
        self.left -= 1;
        Some(start.max(now))
    }

    /// How many slots to lease next: twice as many after a lease used up whole, half as many
    /// after one that expired with slots left.
    fn next_size(&mut self, rate: u32) -> u32 {
        self.size = match (self.size, self.wasted) {
            (0, _) => 1,
            (size, true) => (size / 2).max(1),
            (size, false) => (size * 2).min(max_lease(rate)),
        };
        self.wasted = false;
        self.size
    }
}

impl DynamoStore {
    /// How many `UpdateItem` calls this store made to lease send slots (pacing's whole cost).
    pub fn pace_calls(&self) -> u64 {
        self.leases.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// [`avvio_common::ports::Store::send_slot`]: from this instance's lease, refilled from the
    /// number's pace item when used up.
    pub(super) async fn pace_slot(&self, number: &str, rate: u32, now: Time) -> Result<Time, StoreError> {
        let lease = self.leases.of(number);
        let mut lease = lease.lock().await;
        if let Some(slot) = lease.take(now) {
            return Ok(slot);
        }
        let size = lease.next_size(rate);
        let length = interval(rate) * size as i32;
        // The item is probably ahead of `now` when this instance's last lease still ends later.
        let busy = lease.end.is_some_and(|end| end >= now);
        let (start, end) = self.lease(number, now, length, busy).await?;
        (lease.start, lease.end, lease.left) = (Some(start), Some(end), size);
        Ok(lease.take(now).unwrap_or(start))
    }

    /// Takes `length` of the number's slot timeline: appended to the slots handed out when they
    /// reach past `now`, else starting at `now`. One conditional `UpdateItem`; two when the guess
    /// `busy` (which of the two cases holds) was wrong.
    async fn lease(
        &self,
        number: &str,
        now: Time,
        length: chrono::Duration,
        busy: bool,
    ) -> Result<(Time, Time), StoreError> {
        self.leases.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = pace_key(number).to_item();
        let (now_us, length_us) = (micros(now), length.num_microseconds().unwrap_or(i64::MAX));
        let mut append = busy;
        for _ in 0..4 {
            let request = self.client.update_item().table_name(&*self.table).set_key(Some(key.clone()));
            let request = if append {
                request
                    .update_expression("SET #next = #next + :length")
                    .condition_expression("#next >= :now")
                    .expression_attribute_values(":length", AttributeValue::N(length_us.to_string()))
            } else {
                request
                    .update_expression("SET #next = :end")
                    .condition_expression("attribute_not_exists(#next) OR #next < :now")
                    .expression_attribute_values(":end", AttributeValue::N((now_us + length_us).to_string()))
            };
            let answer = request
                .expression_attribute_names("#next", NEXT_FREE)
                .expression_attribute_values(":now", AttributeValue::N(now_us.to_string()))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match answer {
                Ok(out) => {
                    let end = out
                        .attributes()
                        .and_then(|a| a.get(NEXT_FREE))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse::<i64>().ok())
                        .ok_or_else(|| StoreError::Unavailable("UpdateItem returned no next_free".into()))?;
                    return Ok((from_micros(end - length_us)?, from_micros(end)?));
                }
                Err(SdkError::ServiceError(e))
                    if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
                {
                    append = !append;
                }
                Err(e) => return Err(unavailable("UpdateItem", e)),
            }
        }
        Err(StoreError::Conflict(format!("the pace of {number} kept changing")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Time {
        chrono::DateTime::from_timestamp_millis(1_796_000_000_000 + ms).unwrap()
    }

    #[test]
    fn a_lease_hands_out_its_slots_from_its_start_until_its_grace_ends() {
        let mut lease = Lease { start: Some(at(100)), end: Some(at(200)), left: 3, size: 3, wasted: false };
        assert_eq!(lease.take(at(0)), Some(at(100)), "not before the lease's start");
        assert_eq!(lease.take(at(150)), Some(at(150)));
        assert_eq!(lease.take(at(800)), None, "200 ms + 500 ms of grace passed");
        assert!(lease.wasted && lease.left == 0);
        let mut used_up = Lease { start: Some(at(0)), end: Some(at(100)), left: 1, size: 1, wasted: false };
        assert_eq!(used_up.take(at(10)), Some(at(10)));
        assert_eq!(used_up.take(at(10)), None);
        assert!(!used_up.wasted);
    }

    #[test]
    fn leases_grow_while_used_up_and_shrink_when_slots_go_unused() {
        let mut lease = Lease::default();
        let sizes: Vec<u32> = (0..6).map(|_| lease.next_size(80)).collect();
        assert_eq!(sizes, [1, 2, 4, 8, 10, 10], "at most 10 at 80/s");
        lease.wasted = true;
        assert_eq!(lease.next_size(80), 5);
        assert_eq!(Lease { size: 10, ..Lease::default() }.next_size(1000), 20, "1000/s: up to 125");
    }
}
