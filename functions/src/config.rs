//! Configuration from the environment, read once at cold start. A missing
//! variable stops the function with a message naming it, before any event.

/// Why the configuration cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the environment variable {0} is not set (the function cannot start without it)")]
    Missing(&'static str),
    #[error("the environment variable {variable} is not valid: {reason}")]
    Invalid { variable: &'static str, reason: String },
    #[error("cannot build the {0} HTTP client: {1}")]
    Client(&'static str, String),
    #[error("the SSM parameter `{name}` (named by {variable}) cannot be read: {reason}")]
    Parameter { variable: &'static str, name: String, reason: String },
}

/// The function's environment: variables by name, read once.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;

    /// A variable that must be set and not empty.
    fn require(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).filter(|v| !v.trim().is_empty()).ok_or(ConfigError::Missing(name))
    }
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for std::collections::HashMap<&str, &str> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).map(|v| v.to_string())
    }
}

/// The DynamoDB table every function reads and writes.
pub const TABLE: &str = "AVVIO_TABLE";
/// The events queue (SQS FIFO) URL.
pub const EVENTS_QUEUE_URL: &str = "AVVIO_EVENTS_QUEUE_URL";
/// The steps queue (SQS standard) URL and ARN (the ARN is the target of long-delay schedules).
pub const STEPS_QUEUE_URL: &str = "AVVIO_STEPS_QUEUE_URL";
pub const STEPS_QUEUE_ARN: &str = "AVVIO_STEPS_QUEUE_ARN";
/// The EventBridge Scheduler group of step schedules, and the role Scheduler assumes.
pub const SCHEDULE_GROUP: &str = "AVVIO_SCHEDULE_GROUP";
pub const SCHEDULER_ROLE_ARN: &str = "AVVIO_SCHEDULER_ROLE_ARN";

/// The dead-letter queue of the queue the function consumes (the matcher's: the events DLQ;
/// the executor's: the steps DLQ): a message that can never be handled goes there at once.
pub const DEAD_LETTER_QUEUE_URL: &str = "AVVIO_DEAD_LETTER_QUEUE_URL";

/// The Graph API's base URL (optional: Meta's by default).
pub const WHATSAPP_API_BASE: &str = "WHATSAPP_API_BASE";

/// The names of the SSM `SecureString` parameters holding Meta's secrets: the functions
/// read the secrets themselves at cold start, so they never sit in plain text in the
/// function's configuration. The app secret and the verify token are ingest's; the
/// access token (optional: workspaces usually carry their own) is the executor's.
pub const APP_SECRET_PARAMETER: &str = "WHATSAPP_APP_SECRET_PARAMETER";
pub const VERIFY_TOKEN_PARAMETER: &str = "WHATSAPP_VERIFY_TOKEN_PARAMETER";
pub const ACCESS_TOKEN_PARAMETER: &str = "WHATSAPP_ACCESS_TOKEN_PARAMETER";

/// The functions, by binary name, and the variables each reads (for the template check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Ingest,
    Matcher,
    Executor,
    Clock,
}

impl Function {
    pub const ALL: [Function; 4] = [Self::Ingest, Self::Matcher, Self::Executor, Self::Clock];

    /// The binary under `src/bin/`.
    pub fn binary(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Matcher => "matcher",
            Self::Executor => "executor",
            Self::Clock => "clock",
        }
    }

    /// Every variable the function reads (optional ones included).
    pub fn variables(self) -> &'static [&'static str] {
        // The clock reads WHATSAPP_API_BASE for the daily template sync; ingest for `POST /v1/templates/sync`.
        const CLOCK: [&str; 6] =
            [TABLE, STEPS_QUEUE_URL, STEPS_QUEUE_ARN, SCHEDULE_GROUP, SCHEDULER_ROLE_ARN, WHATSAPP_API_BASE];
        match self {
            Self::Ingest => &[TABLE, EVENTS_QUEUE_URL, APP_SECRET_PARAMETER, VERIFY_TOKEN_PARAMETER, WHATSAPP_API_BASE],
            Self::Clock => &CLOCK,
            // The matcher queues the next page of a list run on the events queue.
            Self::Matcher => &[
                TABLE,
                EVENTS_QUEUE_URL,
                DEAD_LETTER_QUEUE_URL,
                STEPS_QUEUE_URL,
                STEPS_QUEUE_ARN,
                SCHEDULE_GROUP,
                SCHEDULER_ROLE_ARN,
                WHATSAPP_API_BASE,
                ACCESS_TOKEN_PARAMETER,
            ],
            Self::Executor => &[
                TABLE,
                DEAD_LETTER_QUEUE_URL,
                STEPS_QUEUE_URL,
                STEPS_QUEUE_ARN,
                SCHEDULE_GROUP,
                SCHEDULER_ROLE_ARN,
                WHATSAPP_API_BASE,
                ACCESS_TOKEN_PARAMETER,
            ],
        }
    }
}

/// Where steps go: what the matcher, the executor and the clock need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepsConfig {
    pub table: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub schedule_group: String,
    pub scheduler_role_arn: String,
}

impl StepsConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: env.require(TABLE)?,
            queue_url: env.require(STEPS_QUEUE_URL)?,
            queue_arn: env.require(STEPS_QUEUE_ARN)?,
            schedule_group: env.require(SCHEDULE_GROUP)?,
            scheduler_role_arn: env.require(SCHEDULER_ROLE_ARN)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_missing_or_empty_variable_is_named_in_the_error() {
        let mut env: HashMap<&str, &str> = HashMap::from([
            (TABLE, "avvio"),
            (STEPS_QUEUE_URL, "https://sqs/steps"),
            (STEPS_QUEUE_ARN, "arn:aws:sqs:eu-south-1:1:steps"),
            (SCHEDULE_GROUP, "avvio-steps"),
        ]);
        let error = StepsConfig::from_env(&env).unwrap_err();
        assert_eq!(error, ConfigError::Missing(SCHEDULER_ROLE_ARN));
        assert!(error.to_string().contains("AVVIO_SCHEDULER_ROLE_ARN"));
        env.insert(SCHEDULER_ROLE_ARN, " ");
        assert_eq!(StepsConfig::from_env(&env).unwrap_err(), ConfigError::Missing(SCHEDULER_ROLE_ARN));
        env.insert(SCHEDULER_ROLE_ARN, "arn:aws:iam::1:role/scheduler");
        assert_eq!(StepsConfig::from_env(&env).unwrap().table, "avvio");
    }
}
