//! `template.yaml` against the code: the functions it deploys are the binaries
//! there are, each gets every variable it reads (pointing at the right resource),
//! the table and queues are declared as the code and the local bootstrap use
//! them, and every SQS event source reports batch item failures.

use avvio_aws::dynamo::{EXPIRES_AT, INDEXES, PK, Projected, SK};
use avvio_functions::config::{self, Function};
use avvio_functions::local::{DEPLOYED, Names};
use serde_yaml::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

fn resources(template: &Value) -> &serde_yaml::Mapping {
    template["Resources"].as_mapping().expect("Resources")
}

/// The resource `id` (panics naming it when absent) and its type.
fn resource<'a>(template: &'a Value, id: &str) -> (&'a Value, &'a str) {
    let found = &template["Resources"][id];
    assert!(found.is_mapping(), "template.yaml declares no resource {id}");
    (found, found["Type"].as_str().unwrap_or_default())
}

/// The logical id a `!Ref X` or `!GetAtt X.Attr` names, with the attribute.
fn reference(value: &Value) -> Option<(String, Option<String>)> {
    let Value::Tagged(tagged) = value else { return None };
    let target = tagged.value.as_str()?;
    if tagged.tag == "Ref" {
        return Some((target.to_string(), None));
    }
    if tagged.tag == "GetAtt" {
        let (id, attribute) = target.split_once('.')?;
        return Some((id.to_string(), Some(attribute.to_string())));
    }
    None
}

/// The template's functions, by the binary each is built from.
fn functions(template: &Value) -> Vec<(String, String, &Value)> {
    resources(template)
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, r)| {
            let id = id.as_str().unwrap().to_string();
            let binary = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_else(|| panic!("{id} has no Metadata.BuildProperties.Binary"))
                .to_string();
            (id, binary, r)
        })
        .collect()
}

fn function_resource(template: &Value, function: Function) -> (String, &Value) {
    functions(template)
        .into_iter()
        .find(|(_, binary, _)| binary == function.binary())
        .map(|(id, _, r)| (id, r))
        .unwrap_or_else(|| panic!("no function in template.yaml builds the {} binary", function.binary()))
}

/// A function's property, or the `Globals.Function` default.
fn property<'a>(template: &'a Value, function: &'a Value, name: &str) -> &'a Value {
    match &function["Properties"][name] {
        Value::Null => &template["Globals"]["Function"][name],
        own => own,
    }
}

#[test]
fn every_function_in_the_template_is_a_binary_and_every_binary_is_deployed() {
    let template = template();
    let deployed: BTreeSet<String> = functions(&template).into_iter().map(|(_, binary, _)| binary).collect();
    let built: BTreeSet<String> = Function::ALL.iter().map(|f| f.binary().to_string()).collect();
    assert_eq!(deployed, built);
    for binary in &built {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("src/bin/{binary}.rs"));
        assert!(source.exists(), "{} is missing", source.display());
    }
    for (id, _, function) in functions(&template) {
        assert_eq!(property(&template, function, "Runtime"), "provided.al2023", "{id}");
        assert_eq!(property(&template, function, "Architectures")[0], "arm64", "{id}");
        assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda", "{id}");
    }
}

#[test]
fn every_variable_a_function_reads_is_set_and_names_the_right_resource() {
    let template = template();
    // What each variable must point at: (resource type, attribute of !GetAtt or None for !Ref).
    let resources_named = [
        (config::TABLE, "AWS::DynamoDB::Table", None),
        (config::EVENTS_QUEUE_URL, "AWS::SQS::Queue", None),
        (config::STEPS_QUEUE_URL, "AWS::SQS::Queue", None),
        (config::STEPS_QUEUE_ARN, "AWS::SQS::Queue", Some("Arn")),
        (config::SCHEDULE_GROUP, "AWS::Scheduler::ScheduleGroup", None),
        (config::SCHEDULER_ROLE_ARN, "AWS::IAM::Role", Some("Arn")),
    ];
    for function in Function::ALL {
        let (id, resource) = function_resource(&template, function);
        let own = &resource["Properties"]["Environment"]["Variables"];
        let global = &template["Globals"]["Function"]["Environment"]["Variables"];
        let set: BTreeSet<&str> = [own, global]
            .into_iter()
            .filter_map(Value::as_mapping)
            .flat_map(|m| m.keys().filter_map(Value::as_str))
            .collect();
        let read: BTreeSet<&str> = function.variables().iter().copied().collect();
        assert_eq!(set, read, "{id}: the variables set are not the ones {} reads", function.binary());
        for (variable, kind, attribute) in resources_named {
            let value = if own[variable].is_null() { &global[variable] } else { &own[variable] };
            if value.is_null() {
                continue;
            }
            let (target, got) =
                reference(value).unwrap_or_else(|| panic!("{id}: {variable} is not a !Ref or !GetAtt: {value:?}"));
            assert_eq!(got.as_deref(), attribute, "{id}: {variable} takes the wrong attribute of {target}");
            assert_eq!(resource_type(&template, &target), kind, "{id}: {variable} points at {target}");
        }
    }
    // The events queue is the FIFO one, the steps queue the standard one.
    let (ingest_id, ingest) = function_resource(&template, Function::Ingest);
    let events = reference(&ingest["Properties"]["Environment"]["Variables"][config::EVENTS_QUEUE_URL]).unwrap().0;
    assert_eq!(resource(&template, &events).0["Properties"]["FifoQueue"], true, "{ingest_id}'s events queue");
    let (_, executor) = function_resource(&template, Function::Executor);
    let steps = reference(&executor["Properties"]["Environment"]["Variables"][config::STEPS_QUEUE_URL]).unwrap().0;
    assert_ne!(resource(&template, &steps).0["Properties"]["FifoQueue"], true, "the steps queue takes DelaySeconds");
}

fn resource_type(template: &Value, id: &str) -> String {
    resource(template, id).1.to_string()
}

#[test]
fn the_table_is_declared_with_the_keys_indexes_and_ttl_the_store_uses() {
    let template = template();
    let (table, kind) = resources(&template)
        .values()
        .map(|r| (r, r["Type"].as_str().unwrap_or_default()))
        .find(|(_, kind)| *kind == "AWS::DynamoDB::Table")
        .expect("a DynamoDB table");
    assert_eq!(kind, "AWS::DynamoDB::Table");
    let table = &table["Properties"];
    let keys = |schema: &Value| -> Vec<(String, String)> {
        schema
            .as_sequence()
            .expect("a key schema")
            .iter()
            .map(|k| (k["AttributeName"].as_str().unwrap().into(), k["KeyType"].as_str().unwrap().into()))
            .collect()
    };
    let pair =
        |hash: &str, range: &str| vec![(hash.to_string(), "HASH".to_string()), (range.to_string(), "RANGE".into())];
    assert_eq!(keys(&table["KeySchema"]), pair(PK, SK));
    let indexes = table["GlobalSecondaryIndexes"].as_sequence().expect("global secondary indexes");
    let declared: BTreeSet<&str> = indexes.iter().map(|i| i["IndexName"].as_str().unwrap()).collect();
    assert_eq!(declared, INDEXES.iter().map(|i| i.name).collect(), "the indexes create_table makes");
    let mut used = BTreeSet::from([PK, SK]);
    for spec in INDEXES {
        let index = indexes.iter().find(|i| i["IndexName"] == spec.name).expect("declared above");
        assert_eq!(keys(&index["KeySchema"]), pair(spec.pk, spec.sk), "{}", spec.name);
        let projection = &index["Projection"];
        let included = |p: &Value| -> Vec<String> {
            p["NonKeyAttributes"]
                .as_sequence()
                .map_or_else(Vec::new, |names| names.iter().map(|n| n.as_str().unwrap().to_string()).collect())
        };
        match spec.projected {
            Projected::All => assert_eq!(projection["ProjectionType"], "ALL", "{}", spec.name),
            Projected::KeysOnly => assert_eq!(projection["ProjectionType"], "KEYS_ONLY", "{}", spec.name),
            Projected::Include(names) => {
                assert_eq!(projection["ProjectionType"], "INCLUDE", "{}", spec.name);
                assert_eq!(included(projection), names, "{}", spec.name);
            }
        }
        used.extend([spec.pk, spec.sk]);
    }
    let defined: BTreeSet<&str> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a["AttributeName"].as_str().unwrap())
        .collect();
    assert_eq!(defined, used, "every key attribute defined, and only those");
    assert_eq!(table["TimeToLiveSpecification"]["AttributeName"], EXPIRES_AT);
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
}

#[test]
fn each_queue_has_a_dead_letter_queue_and_the_settings_of_the_local_bootstrap() {
    let template = template();
    for (function, queue_variable) in [(Function::Matcher, None), (Function::Executor, Some(config::STEPS_QUEUE_URL))] {
        let (function_id, resource_) = function_resource(&template, function);
        let timeout = property(&template, resource_, "Timeout").as_u64().expect("a timeout");
        let mappings = event_sources(&template, &function_id);
        assert_eq!(mappings.len(), 1, "{function_id} has one SQS event source");
        let (queue_id, mapping) = &mappings[0];
        if let Some(variable) = queue_variable {
            let named = reference(&resource_["Properties"]["Environment"]["Variables"][variable]).unwrap().0;
            assert_eq!(&named, queue_id, "{function_id} consumes the queue it sends its next steps to");
        }
        let queue = &resource(&template, queue_id).0["Properties"];
        let visibility = queue["VisibilityTimeout"].as_u64().expect("a visibility timeout");
        assert!(visibility >= 6 * timeout, "{queue_id}: visibility {visibility}s < 6 × {function_id}'s {timeout}s");
        assert_eq!(visibility, u64::from(DEPLOYED.visibility_timeout), "{queue_id} drifted from the local bootstrap");
        let redrive = &queue["RedrivePolicy"];
        assert_eq!(redrive["maxReceiveCount"].as_u64(), Some(u64::from(DEPLOYED.max_receive_count)), "{queue_id}");
        let (dlq, attribute) = reference(&redrive["deadLetterTargetArn"]).expect("a dead-letter queue reference");
        assert_eq!((resource_type(&template, &dlq).as_str(), attribute.as_deref()), ("AWS::SQS::Queue", Some("Arn")));
        assert_eq!(resource(&template, &dlq).0["Properties"]["FifoQueue"], queue["FifoQueue"], "{dlq}");

        let reports: Vec<&str> = mapping["FunctionResponseTypes"]
            .as_sequence()
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(reports, ["ReportBatchItemFailures"], "{function_id}'s event source");
        let concurrency = mapping["ScalingConfig"]["MaximumConcurrency"].as_u64().expect("a maximum concurrency");
        assert!(concurrency >= 2, "{function_id}: MaximumConcurrency {concurrency} is below the API's minimum of 2");
        assert!(mapping["BatchSize"].as_u64().is_some_and(|b| b <= 10), "{function_id}: batches of at most 10");
    }
}

/// The SQS event sources of a function: `AWS::Lambda::EventSourceMapping` resources or
/// the function's own `Events` of type SQS, as (queue logical id, properties).
fn event_sources<'a>(template: &'a Value, function_id: &str) -> Vec<(String, &'a Value)> {
    let mut found = Vec::new();
    for resource in resources(template).values() {
        let properties = &resource["Properties"];
        if resource["Type"] == "AWS::Lambda::EventSourceMapping"
            && reference(&properties["FunctionName"]).is_some_and(|(id, _)| id == function_id)
        {
            found.push((reference(&properties["EventSourceArn"]).expect("a queue reference").0, properties));
        }
    }
    if let Some(events) = template["Resources"][function_id]["Properties"]["Events"].as_mapping() {
        for event in events.values().filter(|e| e["Type"] == "SQS") {
            let properties = &event["Properties"];
            found.push((reference(&properties["Queue"]).expect("a queue reference").0, properties));
        }
    }
    found
}

#[test]
fn the_resources_are_named_as_the_local_bootstrap_names_them() {
    let template = template();
    let names = Names::of("${AWS::StackName}");
    let named = |id: &str, property: &str| -> String {
        let value = &resource(&template, id).0["Properties"][property];
        match value {
            Value::Tagged(tagged) if tagged.tag == "Sub" => tagged.value.as_str().unwrap_or_default().to_string(),
            other => panic!("{id}.{property} is not a !Sub of the stack's name: {other:?}"),
        }
    };
    let table = resources(&template)
        .iter()
        .find(|(_, r)| r["Type"] == "AWS::DynamoDB::Table")
        .map(|(id, _)| id.as_str().unwrap().to_string())
        .unwrap();
    assert_eq!(named(&table, "TableName"), names.table);
    let (_, ingest) = function_resource(&template, Function::Ingest);
    let events = reference(&ingest["Properties"]["Environment"]["Variables"][config::EVENTS_QUEUE_URL]).unwrap().0;
    let (_, executor) = function_resource(&template, Function::Executor);
    let steps = reference(&executor["Properties"]["Environment"]["Variables"][config::STEPS_QUEUE_URL]).unwrap().0;
    let group = reference(&executor["Properties"]["Environment"]["Variables"][config::SCHEDULE_GROUP]).unwrap().0;
    let dlq = |queue: &str| {
        reference(&resource(&template, queue).0["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]).unwrap().0
    };
    assert_eq!(named(&events, "QueueName"), names.events);
    assert_eq!(named(&dlq(&events), "QueueName"), names.events_dlq);
    assert_eq!(named(&steps, "QueueName"), names.steps);
    assert_eq!(named(&dlq(&steps), "QueueName"), names.steps_dlq);
    assert_eq!(named(&group, "Name"), names.schedule_group);
}

/// The dashboard's body, read as JSON: `${Resource}` references stay as text; the one
/// number substituted outside a string (the step lag threshold) reads as 0.
fn dashboard(template: &Value) -> serde_json::Value {
    let (dashboard, kind) = resource(template, "Dashboard");
    assert_eq!(kind, "AWS::CloudWatch::Dashboard");
    let Value::Tagged(body) = &dashboard["Properties"]["DashboardBody"] else { panic!("DashboardBody is a !Sub") };
    let text = body.value.as_str().expect("a JSON text").replace(": ${StepLagAlarmThresholdMs}", ": 0");
    serde_json::from_str(&text).expect("the dashboard body is JSON")
}

/// The metrics a dashboard widget graphs: (namespace, name, dimensions as `key=value`).
fn graphed(widget: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    let mut found = Vec::new();
    for metric in widget["properties"]["metrics"].as_array().into_iter().flatten() {
        let parts: Vec<&str> = metric.as_array().unwrap().iter().filter_map(|p| p.as_str()).collect();
        if let [namespace, name, dimensions @ ..] = parts.as_slice() {
            let dimensions = dimensions.chunks(2).map(|kv| kv.join("=")).collect();
            found.push((namespace.to_string(), name.to_string(), dimensions));
        }
        // A SEARCH expression: `{Namespace,Key,…} MetricName="Name" …`.
        if let Some(expression) = metric[0]["expression"].as_str() {
            let schema = expression.split('{').nth(1).and_then(|s| s.split('}').next()).expect("a search schema");
            let mut keys = schema.split(',');
            let namespace = keys.next().unwrap().to_string();
            let name = expression.split("MetricName=\"").nth(1).and_then(|s| s.split('"').next()).unwrap();
            found.push((namespace, name.to_string(), keys.map(String::from).collect()));
        }
    }
    found
}

#[test]
fn the_dashboard_graphs_the_metrics_the_functions_emit_under_their_names() {
    use avvio_common::metrics::{CODE, FUNCTION, NAMES, NAMESPACE, STEP_LAG, WEBHOOK_TO_SEND};
    let template = template();
    let (executor, _) = function_resource(&template, Function::Executor);
    let (matcher, _) = function_resource(&template, Function::Matcher);
    let widgets = dashboard(&template)["widgets"].as_array().expect("widgets").clone();
    let ours: Vec<_> = widgets.iter().flat_map(graphed).filter(|(namespace, ..)| namespace == NAMESPACE).collect();
    let names: BTreeSet<&str> = ours.iter().map(|(_, name, _)| name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(NAMES), "the dashboard graphs every metric the code emits, and only those");
    for (_, name, dimensions) in &ours {
        let function = dimensions.iter().find(|d| d.starts_with(FUNCTION)).expect("every metric is by function");
        match name.as_str() {
            n if n == STEP_LAG => assert_eq!(*function, format!("{FUNCTION}=${{{executor}}}"), "{n}"),
            n if n == WEBHOOK_TO_SEND => assert_eq!(*function, format!("{FUNCTION}=${{{matcher}}}"), "{n}"),
            // The by-code series, through SEARCH: their schema names the two dimensions.
            n if dimensions.len() == 2 => assert_eq!(dimensions, &[FUNCTION.to_string(), CODE.to_string()], "{n}"),
            _ => {}
        }
    }
    // Every alarm shows on it.
    let shown: BTreeSet<String> = widgets
        .iter()
        .filter(|w| w["type"] == "alarm")
        .flat_map(|w| w["properties"]["alarms"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().trim_start_matches("${").trim_end_matches(".Arn}").to_string())
        .collect();
    let alarms: BTreeSet<String> = resources(&template)
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(id, _)| id.as_str().unwrap().to_string())
        .collect();
    assert_eq!(shown, alarms);
}

#[test]
fn every_alarm_notifies_the_topic_and_each_function_has_an_error_rate_alarm() {
    use avvio_common::metrics::{FUNCTION, NAMESPACE, STEP_LAG};
    let template = template();
    let alarms: Vec<(&str, &Value)> = resources(&template)
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(id, r)| (id.as_str().unwrap(), &r["Properties"]))
        .collect();
    for (id, alarm) in &alarms {
        let Value::Tagged(actions) = &alarm["AlarmActions"] else { panic!("{id}: AlarmActions is an !If") };
        let topic = &actions.value[1][0];
        assert_eq!(reference(topic).map(|(id, _)| id), Some("AlarmTopic".to_string()), "{id}");
        assert_eq!(resource_type(&template, "AlarmTopic"), "AWS::SNS::Topic");
    }
    // The step lag alarm reads the executor's StepLag, as the code emits it.
    let (executor, _) = function_resource(&template, Function::Executor);
    let lag = alarms.iter().find(|(_, a)| a["MetricName"] == STEP_LAG).expect("a step lag alarm").1;
    assert_eq!(lag["Namespace"], NAMESPACE);
    assert_eq!(lag["Dimensions"][0]["Name"], FUNCTION);
    assert_eq!(reference(&lag["Dimensions"][0]["Value"]).map(|(id, _)| id), Some(executor));
    assert!(lag["ExtendedStatistic"].as_str().is_some_and(|s| s.starts_with('p')), "a percentile");
    // Errors over invocations of each function, by metric math.
    for function in Function::ALL {
        let (id, _) = function_resource(&template, function);
        let rate = alarms.iter().find(|(_, a)| {
            let queries = a["Metrics"].as_sequence().map(Vec::as_slice).unwrap_or_default();
            let of = |name: &str| {
                queries.iter().any(|q| {
                    let metric = &q["MetricStat"]["Metric"];
                    metric["MetricName"] == name
                        && reference(&metric["Dimensions"][0]["Value"]).is_some_and(|(target, _)| target == id)
                })
            };
            of("Errors") && of("Invocations") && queries.iter().any(|q| q["Expression"].is_string())
        });
        assert!(rate.is_some(), "{id} has no error rate alarm");
    }
}
