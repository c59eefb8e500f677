//! The queue adapters against real SQS and EventBridge Scheduler APIs served by
//! moto (`scripts/test` starts it and exports `AWS_ENDPOINT_URL`).

mod support;

use avvio_aws::local::fire_due_schedules;
use avvio_aws::queues::{Schedules, SqsEventQueue, SqsStepQueue, at_expression, schedule_name};
use avvio_common::domain::phone::ContactKey;
use avvio_common::domain::{AutomationId, ListName, RunId, WorkspaceId};
use avvio_common::engine::StepDue;
use avvio_common::manage::fresh_token;
use avvio_common::ports::{EventQueue, PipelineEvent, StepMessage, StepQueue};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use std::time::Duration;
use support::sdk_config as aws;

/// A fresh queue; returns (url, arn).
async fn queue(sqs: &aws_sdk_sqs::Client, fifo: bool) -> (String, String) {
    let name = if fifo {
        format!("avvio-events-{}.fifo", fresh_token(""))
    } else {
        format!("avvio-steps-{}", fresh_token(""))
    };
    let mut create = sqs.create_queue().queue_name(name);
    if fifo {
        create = create.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let url = create.send().await.unwrap().queue_url().unwrap().to_string();
    let attributes =
        sqs.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::QueueArn).send().await.unwrap();
    let arn = attributes.attributes().unwrap()[&QueueAttributeName::QueueArn].clone();
    (url, arn)
}

async fn receive(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages()
        .to_vec()
}

fn list_add(request_id: &str) -> PipelineEvent {
    PipelineEvent::ListAdd {
        workspace: WorkspaceId::parse("negozio").unwrap(),
        list: ListName::parse("vip").unwrap(),
        contact: ContactKey::parse("393331234567").unwrap(),
        request_id: request_id.to_string(),
    }
}

#[tokio::test]
async fn an_event_queued_twice_is_delivered_once_in_its_contacts_group() {
    let config = aws().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (url, _) = queue(&sqs, true).await;
    let events = SqsEventQueue::new(sqs.clone(), &url);
    events.enqueue(list_add("req-1")).await.unwrap();
    events.enqueue(list_add("req-1")).await.unwrap();
    events.enqueue(list_add("req-2")).await.unwrap();
    let messages = receive(&sqs, &url).await;
    let bodies: Vec<PipelineEvent> =
        messages.iter().map(|m| serde_json::from_str(m.body().unwrap()).unwrap()).collect();
    assert_eq!(bodies, vec![list_add("req-1"), list_add("req-2")]);
    let group = &messages[0].attributes().unwrap()[&MessageSystemAttributeName::MessageGroupId];
    assert_eq!(group, "negozio:393331234567");
}

fn step(due: avvio_common::time::Time) -> StepMessage {
    StepMessage {
        workspace: WorkspaceId::parse("negozio").unwrap(),
        step: StepDue {
            run: RunId::parse("r-0123456789abcdef").unwrap(),
            step: avvio_common::domain::StepPath::top(1),
            due,
        },
    }
}

async fn step_queue(config: &aws_config::SdkConfig) -> (SqsStepQueue, aws_sdk_sqs::Client, String, String) {
    let sqs = aws_sdk_sqs::Client::new(config);
    let scheduler = aws_sdk_scheduler::Client::new(config);
    let (url, arn) = queue(&sqs, false).await;
    let group = format!("avvio-{}", fresh_token(""));
    scheduler.create_schedule_group().name(&group).send().await.unwrap();
    let schedules = Schedules {
        client: scheduler,
        group: group.clone(),
        role_arn: "arn:aws:iam::123456789012:role/avvio-scheduler".into(),
    };
    (SqsStepQueue::new(sqs.clone(), &url, arn, schedules), sqs, url, group)
}

#[tokio::test]
async fn a_step_due_within_15_minutes_waits_in_sqs_for_its_delay() {
    let config = aws().await;
    let (steps, sqs, url, _) = step_queue(&config).await;
    let now = chrono::Utc::now();
    let message = step(now + chrono::Duration::seconds(2));
    steps.schedule(message.clone(), now).await.unwrap();
    assert!(receive(&sqs, &url).await.is_empty(), "delivered before its delay");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let received = receive(&sqs, &url).await;
    assert_eq!(received.len(), 1);
    assert_eq!(serde_json::from_str::<StepMessage>(received[0].body().unwrap()).unwrap(), message);
}

#[tokio::test]
async fn a_later_step_becomes_one_self_deleting_schedule_that_fires_once() {
    let config = aws().await;
    let (steps, sqs, url, group) = step_queue(&config).await;
    let scheduler = aws_sdk_scheduler::Client::new(&config);
    let now = chrono::Utc::now();
    let due = now + chrono::Duration::hours(2);
    let message = step(due);
    steps.schedule(message.clone(), now).await.unwrap();
    // The same step scheduled again (a redelivered message) is not an error and not a second schedule.
    steps.schedule(message.clone(), now).await.unwrap();
    assert!(receive(&sqs, &url).await.is_empty());

    let listed = scheduler.list_schedules().group_name(&group).send().await.unwrap();
    assert_eq!(listed.schedules().len(), 1);
    let schedule = scheduler.get_schedule().group_name(&group).name(schedule_name(&message)).send().await.unwrap();
    assert_eq!(schedule.schedule_expression(), Some(at_expression(due).as_str()));
    assert_eq!(schedule.action_after_completion().map(|a| a.as_str()), Some("DELETE"));
    let input: StepMessage = serde_json::from_str(schedule.target().unwrap().input().unwrap()).unwrap();
    assert_eq!(input, message);

    assert_eq!(fire_due_schedules(&scheduler, &sqs, &group, now).await.unwrap(), 0, "not due yet");
    // `at()` has whole seconds: the schedule fires at the due time rounded up.
    let fires = due + chrono::Duration::seconds(1);
    assert_eq!(fire_due_schedules(&scheduler, &sqs, &group, fires).await.unwrap(), 1);
    assert_eq!(fire_due_schedules(&scheduler, &sqs, &group, fires).await.unwrap(), 0, "deleted after firing");
    let received = receive(&sqs, &url).await;
    assert_eq!(received.len(), 1);
    assert_eq!(serde_json::from_str::<StepMessage>(received[0].body().unwrap()).unwrap(), message);
}

#[tokio::test]
async fn a_manual_run_for_a_whole_list_is_one_event_grouped_by_automation() {
    let event = PipelineEvent::Manual {
        workspace: WorkspaceId::parse("negozio").unwrap(),
        automation: AutomationId::parse("promo").unwrap(),
        phone: None,
        request_id: "req-9".into(),
        after: None,
    };
    assert_eq!(event.group_key(), "negozio:promo");
    let config = aws().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (url, _) = queue(&sqs, true).await;
    SqsEventQueue::new(sqs.clone(), &url).enqueue(event.clone()).await.unwrap();
    let received = receive(&sqs, &url).await;
    assert_eq!(serde_json::from_str::<PipelineEvent>(received[0].body().unwrap()).unwrap(), event);
}
