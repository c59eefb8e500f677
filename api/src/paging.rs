//! Paged listings (`GET /v1/contacts`, `/v1/runs`, `/v1/automations`): `?limit=` (default
//! 100, at most 1000) and `?cursor=`, answered as `{"items": [...], "next_cursor": ... | null}`.
//!
//! A cursor is the position of the last item of the page before, in the listing's order,
//! written as hex so that clients treat it as opaque. It names its listing: a cursor of
//! another listing, or one not made here, is a 400, never a silently different page.

use crate::ApiError;
use avvio_common::domain::phone::ContactKey;
use avvio_common::domain::{AutomationId, RunId};
use avvio_common::ports::{PAGE_MAX, Page, RunPosition};
use avvio_common::time::parse_rfc3339;
use chrono::SecondsFormat;
use serde_json::{Value, json};

/// How many items a page holds when `?limit=` is not given.
pub const DEFAULT_LIMIT: usize = 100;

/// A position in one listing, written into and read from its cursor.
pub trait Position: Sized {
    /// The listing's tag in its cursors.
    const LISTING: &'static str;
    fn write(&self) -> String;
    fn read(raw: &str) -> Option<Self>;
}

impl Position for ContactKey {
    const LISTING: &'static str = "contacts";
    fn write(&self) -> String {
        self.to_string()
    }
    fn read(raw: &str) -> Option<Self> {
        ContactKey::parse(raw).ok().filter(|key| key.as_str() == raw)
    }
}

impl Position for RunPosition {
    const LISTING: &'static str = "runs";
    fn write(&self) -> String {
        format!("{} {}", self.started_at.to_rfc3339_opts(SecondsFormat::Nanos, true), self.id)
    }
    fn read(raw: &str) -> Option<Self> {
        let (at, id) = raw.split_once(' ')?;
        Some(Self { started_at: parse_rfc3339(at).ok()?, id: RunId::parse(id).ok()? })
    }
}

impl Position for AutomationId {
    const LISTING: &'static str = "automations";
    fn write(&self) -> String {
        self.to_string()
    }
    fn read(raw: &str) -> Option<Self> {
        AutomationId::parse(raw).ok()
    }
}

/// Which page a request asks for: after `after` (from the start when `None`), `limit` items.
#[derive(Debug)]
pub struct PageRequest<P> {
    pub after: Option<P>,
    pub limit: usize,
}

impl<P: Position> PageRequest<P> {
    /// Reads `?limit=` and `?cursor=`: 400 naming the parameter when either is malformed.
    pub fn read(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => raw.parse().ok().filter(|n| (1..=PAGE_MAX).contains(n)).ok_or_else(|| {
                ApiError::bad_request(format!("`limit` must be a whole number from 1 to {PAGE_MAX}, not `{raw}`"))
            })?,
        };
        let after = cursor.map(read_cursor).transpose()?;
        Ok(Self { after, limit })
    }
}

fn read_cursor<P: Position>(cursor: &str) -> Result<P, ApiError> {
    let refused = || {
        ApiError::bad_request(format!(
            "`cursor` is not a cursor of this listing: pass the `next_cursor` of a page of GET /v1/{}",
            P::LISTING
        ))
    };
    let bytes = hex::decode(cursor).map_err(|_| refused())?;
    let text = String::from_utf8(bytes).map_err(|_| refused())?;
    let position = text.strip_prefix(P::LISTING).and_then(|rest| rest.strip_prefix(':')).ok_or_else(refused)?;
    P::read(position).ok_or_else(refused)
}

fn cursor_of<P: Position>(position: &P) -> String {
    hex::encode(format!("{}:{}", P::LISTING, position.write()))
}

/// A page as the API answers it.
pub fn answer<T, P: Position>(page: Page<T, P>, item: impl Fn(&T) -> Value) -> Value {
    json!({
        "items": page.items.iter().map(item).collect::<Vec<_>>(),
        "next_cursor": page.next.as_ref().map(cursor_of),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<P: Position + PartialEq + std::fmt::Debug>(position: P) {
        let cursor = cursor_of(&position);
        let read: PageRequest<P> = PageRequest::read(None, Some(&cursor)).unwrap();
        assert_eq!(read.after, Some(position), "{cursor}");
    }

    #[test]
    fn every_listings_cursor_reads_back_as_the_position_it_was_made_of() {
        round_trip(ContactKey::parse("393331234567").unwrap());
        round_trip(ContactKey::parse("IT.1502576394655843").unwrap());
        round_trip(AutomationId::parse("benvenuto").unwrap());
        let started_at = parse_rfc3339("2026-11-23T10:00:00.123456789Z").unwrap();
        round_trip(RunPosition { started_at, id: RunId::parse("r-0a1b2c").unwrap() });
    }

    #[test]
    fn a_cursor_of_another_listing_or_not_made_here_is_refused() {
        let contacts = cursor_of(&ContactKey::parse("393331234567").unwrap());
        for cursor in [contacts.as_str(), "zz", "", "72756e733a"] {
            let read = PageRequest::<RunPosition>::read(None, Some(cursor));
            let error = read.expect_err(cursor);
            assert_eq!(error.status.as_u16(), 400, "{cursor}");
        }
    }

    #[test]
    fn a_limit_outside_1_to_1000_is_refused_and_none_means_100() {
        assert_eq!(PageRequest::<AutomationId>::read(None, None).unwrap().limit, 100);
        assert_eq!(PageRequest::<AutomationId>::read(Some("1000"), None).unwrap().limit, 1000);
        for bad in ["0", "1001", "-1", "ten", ""] {
            assert!(PageRequest::<AutomationId>::read(Some(bad), None).is_err(), "{bad}");
        }
    }
}
