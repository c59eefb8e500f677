//! Date triggers: when each comes due for a contact, and firing it.

use super::{DATE_GRACE, RunStart, start_run};
use crate::calendar::{self, DateRule, Due};
use crate::domain::automation::{Automation, Trigger};
use crate::domain::contact::Contact;
use crate::domain::ids::FieldKey;
use crate::domain::run::RunCause;
use crate::domain::workspace::Workspace;
use crate::time::Time;
use chrono::NaiveDate;

/// The field and rule of a `date` trigger.
pub fn date_rule(trigger: &Trigger) -> Option<(&FieldKey, DateRule)> {
    match trigger {
        Trigger::Date { field, offset_days, time, annual } => {
            Some((field, DateRule { offset_days: *offset_days, time: time.0, annual: *annual }))
        }
        _ => None,
    }
}

/// When `automation` next comes due for `contact`, looking from the local date
/// `from` on (so a field set later the same day still fires that day).
pub fn next_date_due(
    automation: &Automation,
    contact: &Contact,
    workspace: &Workspace,
    from: NaiveDate,
) -> Option<Due> {
    let (field, rule) = date_rule(&automation.trigger)?;
    let base = calendar::field_date(contact.fields.get(field)?, workspace.timezone)?;
    let mut from = from;
    loop {
        let due = rule.next_due(base, from, workspace.timezone)?;
        if !contact.engine.dates_fired.contains(&(automation.id().clone(), due.date)) {
            return Some(due);
        }
        from = due.date.succ_opt()?;
    }
}

/// Fires a date trigger found due by the clock, if it still holds: the field
/// still targets `date`, it has not fired for it, and `now` is on that local day
/// (or at most [`DATE_GRACE`] after it came due). Marks it fired on the contact.
pub fn fire_date(
    automation: &Automation,
    contact: &mut Contact,
    workspace: &Workspace,
    due: Due,
    now: Time,
) -> Option<RunStart> {
    let (field, rule) = date_rule(&automation.trigger)?;
    let base = calendar::field_date(contact.fields.get(field)?, workspace.timezone)?;
    let on_time = calendar::local(workspace.timezone, now).date() == due.date || now - due.at <= DATE_GRACE;
    if !automation.enabled
        || contact.blocked
        || due.at > now
        || !on_time
        || !rule.targets(base, due.date, workspace.timezone)
    {
        return None;
    }
    if !contact.engine.dates_fired.insert((automation.id().clone(), due.date)) {
        return None;
    }
    // Forget dates older than a year: they can never come due again.
    if let Some(horizon) = due.date.checked_sub_days(chrono::Days::new(400)) {
        contact.engine.dates_fired.retain(|(_, d)| *d >= horizon);
    }
    let cause_key = format!("date:{}", due.date);
    let start = start_run(automation, contact, RunCause::Date { date: due.date }, &cause_key, 0, now).ok()?;
    Some(start.kept_for(workspace.runs_retention))
}
