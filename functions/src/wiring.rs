//! What each function's `main` builds at cold start, from the environment: the
//! AWS clients, the adapters, and the secrets read from SSM. Kept out of the
//! binaries so tests build the very same thing against the local emulator.

use crate::config::{
    ACCESS_TOKEN_PARAMETER, APP_SECRET_PARAMETER, ConfigError, EVENTS_QUEUE_URL, Env, StepsConfig, TABLE,
    VERIFY_TOKEN_PARAMETER, WHATSAPP_API_BASE,
};
use avvio_api::{App, IngestConfig, MetaTemplates};
use avvio_aws::dynamo::DynamoStore;
use avvio_aws::queues::{Schedules, SqsEventQueue, SqsStepQueue};
use avvio_common::outbound::Mode;
use avvio_common::stages::Deps;
use avvio_http::graph::{GraphConfig, GraphSender};
use avvio_http::webhooks::{HttpWebhookPoster, WebhookConfig};
use std::sync::Arc;

/// The adapters of the matcher, the executor and the clock.
pub type Pipeline = Deps<DynamoStore, SqsStepQueue, GraphSender, HttpWebhookPoster>;

/// What the ingest router shares.
pub type Ingest = App<DynamoStore, SqsEventQueue>;

/// The AWS configuration of the function's environment (region, credentials and,
/// locally, `AWS_ENDPOINT_URL`).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

/// One client per AWS service, built once per execution environment and shared.
#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub ssm: aws_sdk_ssm::Client,
}

impl Clients {
    pub fn new(aws: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(aws),
            sqs: aws_sdk_sqs::Client::new(aws),
            scheduler: aws_sdk_scheduler::Client::new(aws),
            ssm: aws_sdk_ssm::Client::new(aws),
        }
    }

    /// Clients that show every call to `interceptor` (to count calls, see `local::CallCounter`).
    pub fn intercepted<I>(aws: &aws_config::SdkConfig, interceptor: I) -> Self
    where
        I: aws_sdk_sqs::config::Intercept + Clone + 'static,
    {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(aws).interceptor(interceptor.clone()).build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(aws).interceptor(interceptor.clone()).build(),
            ),
            scheduler: aws_sdk_scheduler::Client::from_conf(
                aws_sdk_scheduler::config::Builder::from(aws).interceptor(interceptor.clone()).build(),
            ),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(aws).interceptor(interceptor).build(),
            ),
        }
    }
}

/// The ingest function: the router's store, events queue and Meta's secrets.
pub async fn ingest(env: &impl Env, clients: &Clients) -> Result<Arc<Ingest>, ConfigError> {
    let table = env.require(TABLE)?;
    let events_url = env.require(EVENTS_QUEUE_URL)?;
    let [app_secret, verify_token] = read_secrets(
        &clients.ssm,
        [
            (APP_SECRET_PARAMETER, env.require(APP_SECRET_PARAMETER)?),
            (VERIFY_TOKEN_PARAMETER, env.require(VERIFY_TOKEN_PARAMETER)?),
        ],
    )
    .await?;
    Ok(Arc::new(App {
        store: DynamoStore::new(clients.dynamodb.clone(), table),
        events: SqsEventQueue::new(clients.sqs.clone(), events_url),
        config: IngestConfig { app_secret, verify_token },
        templates: MetaTemplates::new(graph_config(env), None)
            .map_err(|e| ConfigError::Invalid { variable: WHATSAPP_API_BASE, reason: e.to_string() })?,
    }))
}

/// The dead-letter queue of the queue the function consumes.
pub fn dead_letters(env: &impl Env, clients: &Clients) -> Result<crate::dead_letters::DeadLetterQueue, ConfigError> {
    Ok(crate::dead_letters::DeadLetterQueue::new(
        clients.sqs.clone(),
        env.require(crate::config::DEAD_LETTER_QUEUE_URL)?,
    ))
}

/// The events queue (the matcher queues the next page of a list run on it).
pub fn events(env: &impl Env, clients: &Clients) -> Result<SqsEventQueue, ConfigError> {
    Ok(SqsEventQueue::new(clients.sqs.clone(), env.require(EVENTS_QUEUE_URL)?))
}

/// The clock's adapters: it starts runs and queues their steps; it never sends.
pub async fn queueing(env: &impl Env, clients: &Clients) -> Result<Pipeline, ConfigError> {
    let steps = StepsConfig::from_env(env)?;
    build_pipeline(steps, GraphConfig::default(), None, clients)
}

/// The matcher's and the executor's adapters: the pipeline plus the Graph API and the
/// default access token (the matcher sends a reply due at once itself).
pub async fn sending(env: &impl Env, clients: &Clients) -> Result<Pipeline, ConfigError> {
    let steps = StepsConfig::from_env(env)?;
    let graph = graph_config(env);
    let access_token = match env.get(ACCESS_TOKEN_PARAMETER).filter(|n| !n.trim().is_empty()) {
        Some(name) => {
            let [token] = read_secrets(&clients.ssm, [(ACCESS_TOKEN_PARAMETER, name)]).await?;
            Some(token)
        }
        None => None,
    };
    build_pipeline(steps, graph, access_token, clients)
}

/// The Graph API at `WHATSAPP_API_BASE` (Meta's when unset).
fn graph_config(env: &impl Env) -> GraphConfig {
    let mut graph = GraphConfig::default();
    if let Some(base) = env.get(WHATSAPP_API_BASE).filter(|b| !b.trim().is_empty()) {
        graph.api_base = base;
    }
    graph
}

/// The clock's reader of Meta's templates (the daily template sync), at `WHATSAPP_API_BASE`.
pub fn clock_templates(env: &impl Env) -> Result<avvio_http::templates::GraphTemplates, ConfigError> {
    avvio_http::templates::GraphTemplates::new(graph_config(env))
        .map_err(|e| ConfigError::Invalid { variable: WHATSAPP_API_BASE, reason: e.to_string() })
}

fn build_pipeline(
    steps: StepsConfig,
    graph: GraphConfig,
    default_access_token: Option<String>,
    clients: &Clients,
) -> Result<Pipeline, ConfigError> {
    let sender = GraphSender::new(graph)
        .map_err(|e| ConfigError::Invalid { variable: WHATSAPP_API_BASE, reason: e.to_string() })?;
    let poster = HttpWebhookPoster::new(WebhookConfig::new(Mode::Production))
        .map_err(|e| ConfigError::Client("webhook", e.to_string()))?;
    let schedules = Schedules {
        client: clients.scheduler.clone(),
        group: steps.schedule_group,
        role_arn: steps.scheduler_role_arn,
    };
    Ok(Deps {
        store: DynamoStore::new(clients.dynamodb.clone(), steps.table),
        steps: SqsStepQueue::new(clients.sqs.clone(), steps.queue_url, steps.queue_arn, schedules),
        sender,
        poster,
        default_access_token,
    })
}

/// Reads SSM `SecureString` parameters (decrypted) in one call; `wanted` pairs each
/// parameter's name with the variable that named it, so an error names both.
pub async fn read_secrets<const N: usize>(
    ssm: &aws_sdk_ssm::Client,
    wanted: [(&'static str, String); N],
) -> Result<[String; N], ConfigError> {
    let names: Vec<String> = wanted.iter().map(|(_, name)| name.clone()).collect();
    let answer = ssm.get_parameters().set_names(Some(names)).with_decryption(true).send().await.map_err(|e| {
        let (variable, name) = &wanted[0];
        ConfigError::Parameter {
            variable,
            name: name.clone(),
            reason: aws_sdk_ssm::error::DisplayErrorContext(e).to_string(),
        }
    })?;
    let mut values = Vec::with_capacity(N);
    for (variable, name) in &wanted {
        let found = answer.parameters().iter().find(|p| p.name() == Some(name) || p.arn() == Some(name));
        let value = found.and_then(|p| p.value()).filter(|v| !v.is_empty()).ok_or_else(|| {
            let missing = answer.invalid_parameters().iter().any(|n| n == name);
            let reason = if missing { "no such parameter" } else { "the parameter is empty" };
            ConfigError::Parameter { variable, name: name.clone(), reason: reason.into() }
        })?;
        values.push(value.to_string());
    }
    Ok(values.try_into().expect("one value per wanted parameter"))
}
