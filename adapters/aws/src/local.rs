//! Playing the parts of AWS that do not run locally. moto stores EventBridge
//! schedules but never fires them; [`fire_due_schedules`] does what Scheduler
//! does for the one-time schedules Avvio creates: at their time, send the
//! target's `Input` to the target queue, then delete the schedule
//! (`ActionAfterCompletion: DELETE`).

use avvio_common::time::Time;

/// Why playing a part of AWS locally failed (here and in `avvio-functions`' event source mapping).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LocalError(String);

impl LocalError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// `what` failed with an SDK error (its whole chain of causes).
    pub fn of(what: &str, error: impl std::error::Error) -> Self {
        Self(format!("{what}: {}", aws_sdk_scheduler::error::DisplayErrorContext(error)))
    }
}

fn fail(what: &str, error: impl std::error::Error) -> LocalError {
    LocalError::of(what, error)
}

/// The instant of a one-time expression `at(YYYY-MM-DDTHH:MM:SS)` in `timezone` (UTC when absent).
pub fn parse_at(expression: &str, timezone: Option<&str>) -> Option<Time> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    let local = chrono::NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S").ok()?;
    let tz: chrono_tz::Tz = timezone.unwrap_or("UTC").parse().ok()?;
    local.and_local_timezone(tz).earliest().map(|t| t.to_utc())
}

/// Fires every one-time schedule of `group` due at or before `now`: its input is sent
/// to its SQS target and the schedule deleted. Returns how many fired.
pub async fn fire_due_schedules(
    scheduler: &aws_sdk_scheduler::Client,
    sqs: &aws_sdk_sqs::Client,
    group: &str,
    now: Time,
) -> Result<usize, LocalError> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = scheduler
            .list_schedules()
            .group_name(group)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| fail("list schedules", e))?;
        names.extend(page.schedules().iter().filter_map(|s| s.name().map(str::to_string)));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut fired = 0;
    for name in names {
        let schedule = scheduler
            .get_schedule()
            .group_name(group)
            .name(&name)
            .send()
            .await
            .map_err(|e| fail("get a schedule", e))?;
        let due = schedule
            .schedule_expression()
            .and_then(|e| parse_at(e, schedule.schedule_expression_timezone()))
            .ok_or_else(|| LocalError(format!("schedule {name} is not a one-time at() schedule")))?;
        if due > now {
            continue;
        }
        let target = schedule.target().ok_or_else(|| LocalError(format!("schedule {name} has no target")))?;
        let queue_name = target.arn().rsplit(':').next().unwrap_or_default();
        let url = sqs
            .get_queue_url()
            .queue_name(queue_name)
            .send()
            .await
            .map_err(|e| fail("find the target queue", e))?
            .queue_url()
            .map(str::to_string)
            .ok_or_else(|| LocalError(format!("no URL for queue {queue_name}")))?;
        sqs.send_message()
            .queue_url(url)
            .message_body(target.input().unwrap_or("{}"))
            .send()
            .await
            .map_err(|e| fail("send a schedule's input", e))?;
        scheduler
            .delete_schedule()
            .group_name(group)
            .name(&name)
            .send()
            .await
            .map_err(|e| fail("delete a schedule", e))?;
        fired += 1;
    }
    Ok(fired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_expressions_are_read_in_their_timezone() {
        let utc = parse_at("at(2026-11-24T10:00:00)", None).unwrap();
        assert_eq!(utc.to_rfc3339(), "2026-11-24T10:00:00+00:00");
        let rome = parse_at("at(2026-11-24T10:00:00)", Some("Europe/Rome")).unwrap();
        assert_eq!(rome.to_rfc3339(), "2026-11-24T09:00:00+00:00");
        assert_eq!(parse_at("rate(5 minutes)", None), None);
    }
}
