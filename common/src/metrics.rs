//! The pipeline's operational metrics for CloudWatch: what the stages' [`Report`]s say (sends,
//! failures by error code, sends Meta throttled) and two timings the functions measure around
//! them (how late a step started, how long an inbound message waited for its reply), rendered
//! in CloudWatch's embedded metric format (EMF): JSON log lines that CloudWatch Logs turns
//! into metrics of the namespace [`NAMESPACE`], one line per invocation plus one per error code
//! seen. Pure: times are passed in, and the caller prints the lines.

use crate::engine::{Detail, Effect};
use crate::stages::Report;
use crate::time::Time;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Avvio";
/// Messages WhatsApp accepted (a wamid came back): the executor's steps and the matcher's replies.
pub const SENDS: &str = "Sends";
/// Steps that failed or were skipped with an error code, and sent messages WhatsApp reported
/// failed (`delivery_failed`); also by [`CODE`].
pub const FAILURES: &str = "Failures";
/// Sends Meta refused for now (130429 throughput, 131056 pair rate, 80007, 5xx…) and that are
/// tried again later; also by [`CODE`]. One that runs out of `retry_for` counts as a failure.
pub const THROTTLES: &str = "Throttles";
/// How late a step started after its due time, in milliseconds (the executor).
pub const STEP_LAG: &str = "StepLag";
/// From an inbound message's event being queued by ingest (its webhook's arrival) to the reply
/// the matcher sent for it, in milliseconds.
pub const WEBHOOK_TO_SEND: &str = "WebhookToSendLatency";
/// Every metric name.
pub const NAMES: [&str; 5] = [SENDS, FAILURES, THROTTLES, STEP_LAG, WEBHOOK_TO_SEND];

/// The dimension naming the function, valued as Lambda's own `AWS/Lambda` dimension of that name.
pub const FUNCTION: &str = "FunctionName";
/// The dimension naming an error code (of [`FAILURES`] and [`THROTTLES`]).
pub const CODE: &str = "code";

/// The most values one metric of one document may carry (an EMF limit).
const MAX_VALUES: usize = 100;

/// What one invocation did, counted as it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    pub sends: u64,
    /// By error code.
    pub failures: BTreeMap<String, u64>,
    /// By Meta's error code.
    pub throttles: BTreeMap<String, u64>,
    /// One value per step started, in milliseconds.
    pub step_lag: Vec<u64>,
    /// One value per reply sent, in milliseconds.
    pub webhook_to_send: Vec<u64>,
}

impl Metrics {
    /// Counts what a stage did: its sends, its effects' error codes, a send Meta throttled.
    pub fn count(&mut self, report: &Report) {
        self.sends += sends(report) as u64;
        for code in report.effects.iter().filter_map(|e| e.error.as_ref()) {
            *self.failures.entry(code.clone()).or_default() += 1;
        }
        if let Some(code) = &report.throttled {
            *self.throttles.entry(code.clone()).or_default() += 1;
        }
    }

    /// A step due at `due` started at `started` (never counted early: a step SQS delivered
    /// before its due time, by its whole-second delays, lags 0).
    pub fn step_started(&mut self, due: Time, started: Time) {
        self.step_lag.push(millis(started - due));
    }

    /// Each send of `report` answered an inbound event queued at `received`, and went out by `sent`.
    pub fn answered(&mut self, report: &Report, received: Time, sent: Time) {
        let latency = millis(sent - received);
        self.webhook_to_send.extend(std::iter::repeat_n(latency, sends(report)));
    }

    /// The EMF documents, one JSON object each (a line to print), for the function named
    /// `function`, timestamped `at`. The first carries the counts (zeros too, so that a quiet
    /// function shows as such) and the timings; then one per error code, its failures and
    /// throttles. Timings past [`MAX_VALUES`] continue in further documents.
    pub fn to_emf(&self, function: &str, at: Time) -> Vec<String> {
        let timings = [(STEP_LAG, &self.step_lag), (WEBHOOK_TO_SEND, &self.webhook_to_send)];
        let parts = timings.iter().map(|(_, values)| values.len().div_ceil(MAX_VALUES)).max().unwrap_or(0).max(1);
        let mut lines = Vec::with_capacity(parts);
        for part in 0..parts {
            let mut values = Vec::new();
            if part == 0 {
                values.push((SENDS, Unit::Count, json!(self.sends)));
                values.push((FAILURES, Unit::Count, json!(self.failures.values().sum::<u64>())));
                values.push((THROTTLES, Unit::Count, json!(self.throttles.values().sum::<u64>())));
            }
            for (name, timing) in timings {
                if let Some(chunk) = timing.chunks(MAX_VALUES).nth(part) {
                    values.push((name, Unit::Milliseconds, json!(chunk)));
                }
            }
            lines.push(document(at, &[(FUNCTION, function)], values));
        }
        let codes: BTreeSet<&String> = self.failures.keys().chain(self.throttles.keys()).collect();
        for code in codes {
            let counts = [(FAILURES, self.failures.get(code)), (THROTTLES, self.throttles.get(code))];
            let values = counts.into_iter().filter_map(|(name, n)| Some((name, Unit::Count, json!(n?)))).collect();
            lines.push(document(at, &[(FUNCTION, function), (CODE, code)], values));
        }
        lines
    }
}

/// How many messages WhatsApp accepted in `report`: the effects with a Graph request and no error.
fn sends(report: &Report) -> usize {
    let sent = |e: &&Effect| matches!(e.detail, Detail::Request { .. }) && e.error.is_none();
    report.effects.iter().filter(sent).count()
}

fn millis(elapsed: chrono::Duration) -> u64 {
    u64::try_from(elapsed.num_milliseconds()).unwrap_or(0)
}

/// The units used, as CloudWatch names them.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF document: the `_aws` metadata naming the metrics and their one dimension set,
/// then the dimensions' values and the metrics' values as members of the root.
fn document(at: Time, dimensions: &[(&str, &str)], values: Vec<(&str, Unit, Value)>) -> String {
    let keys: Vec<&str> = dimensions.iter().map(|(key, _)| *key).collect();
    let metrics: Vec<Value> =
        values.iter().map(|(name, unit, _)| json!({ "Name": name, "Unit": unit.as_str() })).collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": [keys], "Metrics": metrics }],
        }),
    );
    for (key, value) in dimensions {
        root.insert((*key).into(), json!(value));
    }
    for (name, _, value) in values {
        root.insert(name.into(), value);
    }
    Value::Object(root).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::automation::ActionKind;
    use crate::domain::ids::{AutomationId, RunId};
    use crate::domain::path::StepPath;
    use crate::domain::phone::ContactKey;

    fn at(rfc3339: &str) -> Time {
        chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    fn effect(detail: Detail, error: Option<&str>) -> Effect {
        Effect {
            at: at("2026-03-01T09:00:00Z"),
            contact: ContactKey::parse("393331234567").unwrap(),
            automation: AutomationId::parse("benvenuto").unwrap(),
            run: RunId::derived("r-1"),
            step: StepPath::first(),
            action: ActionKind::SendText,
            detail,
            error: error.map(String::from),
        }
    }

    fn sent() -> Effect {
        let contact = crate::domain::contact::Contact::new(&ContactKey::parse("393331234567").unwrap());
        effect(Detail::Request { request: crate::graph::text(&contact, "Ciao!") }, None)
    }

    #[test]
    fn a_quiet_invocation_is_one_line_of_zeros() {
        let lines = Metrics::default().to_emf("avvio-executor", at("2026-03-01T09:00:00Z"));
        assert_eq!(
            lines,
            [concat!(
                r#"{"_aws":{"Timestamp":1772355600000,"CloudWatchMetrics":[{"Namespace":"Avvio","Dimensions":[["FunctionName"]],"#,
                r#""Metrics":[{"Name":"Sends","Unit":"Count"},{"Name":"Failures","Unit":"Count"},{"Name":"Throttles","Unit":"Count"}]}]},"#,
                r#""FunctionName":"avvio-executor","Sends":0,"Failures":0,"Throttles":0}"#
            )]
        );
    }

    #[test]
    fn sends_failures_throttles_and_timings_render_as_one_line_and_one_per_code() {
        let mut metrics = Metrics::default();
        let failed = effect(Detail::Nothing {}, Some("outside_customer_service_window"));
        metrics.count(&Report { effects: vec![sent(), failed], ..Report::default() });
        metrics.count(&Report { throttled: Some("130429".into()), ..Report::ignored("the send waits") });
        metrics.count(&Report { effects: vec![effect(Detail::Nothing {}, Some("130429"))], ..Report::default() });
        metrics.step_started(at("2026-03-01T09:00:00Z"), at("2026-03-01T09:00:00.120Z"));
        metrics.step_started(at("2026-03-01T09:00:01Z"), at("2026-03-01T09:00:00.400Z"));
        let reply = Report { effects: vec![sent()], ..Report::default() };
        metrics.answered(&reply, at("2026-03-01T08:59:59.150Z"), at("2026-03-01T09:00:00Z"));

        let lines = metrics.to_emf("avvio-executor", at("2026-03-01T09:00:00Z"));
        let expected = [
            concat!(
                r#"{"_aws":{"Timestamp":1772355600000,"CloudWatchMetrics":[{"Namespace":"Avvio","Dimensions":[["FunctionName"]],"#,
                r#""Metrics":[{"Name":"Sends","Unit":"Count"},{"Name":"Failures","Unit":"Count"},{"Name":"Throttles","Unit":"Count"},"#,
                r#"{"Name":"StepLag","Unit":"Milliseconds"},{"Name":"WebhookToSendLatency","Unit":"Milliseconds"}]}]},"#,
                r#""FunctionName":"avvio-executor","Sends":1,"Failures":2,"Throttles":1,"StepLag":[120,0],"WebhookToSendLatency":[850]}"#
            ),
            concat!(
                r#"{"_aws":{"Timestamp":1772355600000,"CloudWatchMetrics":[{"Namespace":"Avvio","Dimensions":[["FunctionName","code"]],"#,
                r#""Metrics":[{"Name":"Failures","Unit":"Count"},{"Name":"Throttles","Unit":"Count"}]}]},"#,
                r#""FunctionName":"avvio-executor","code":"130429","Failures":1,"Throttles":1}"#
            ),
            concat!(
                r#"{"_aws":{"Timestamp":1772355600000,"CloudWatchMetrics":[{"Namespace":"Avvio","Dimensions":[["FunctionName","code"]],"#,
                r#""Metrics":[{"Name":"Failures","Unit":"Count"}]}]},"#,
                r#""FunctionName":"avvio-executor","code":"outside_customer_service_window","Failures":1}"#
            ),
        ];
        assert_eq!(lines, expected);
    }

    #[test]
    fn more_timings_than_one_document_holds_continue_in_the_next() {
        let mut metrics = Metrics::default();
        for ms in 0..250 {
            let due = at("2026-03-01T09:00:00Z");
            metrics.step_started(due, due + chrono::Duration::milliseconds(ms));
        }
        let lines = metrics.to_emf("avvio-executor", at("2026-03-01T09:00:00Z"));
        let documents: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let lags: Vec<usize> = documents.iter().map(|d| d["StepLag"].as_array().unwrap().len()).collect();
        assert_eq!(lags, [100, 100, 50]);
        assert_eq!(documents[0]["Sends"], 0, "the counts are in the first document");
        assert!(documents[1].get("Sends").is_none(), "and only there");
        let named = |d: &Value| d["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap().len();
        assert_eq!(named(&documents[1]), 1, "a document names only the metrics it carries");
    }
}
