//! `avvio dev` end to end: the binary on the examples, a stand-in Graph API on
//! a random local port, a signed webhook in, the send out, Ctrl-C to stop.

use avvio_tests::graph::{StandInGraph, signature};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

struct Dev {
    child: Child,
    base: String,
    _turn: Turn,
}

/// The list-run test measures the pace of sends where they arrive: it runs alone, no other
/// test's `avvio dev` competing for the machine's cores; the other tests share the time left.
static MEASURING: RwLock<()> = RwLock::new(());

/// A test's turn on the machine: held while its `avvio dev` runs.
type Turn = Box<dyn std::any::Any>;

fn shared() -> Turn {
    Box::new(MEASURING.read().unwrap_or_else(PoisonError::into_inner))
}

fn alone() -> Turn {
    Box::new(MEASURING.write().unwrap_or_else(PoisonError::into_inner))
}

fn start_dev(graph_base: &str, automations: Option<&std::path::Path>) -> Dev {
    let mut command = Command::new(env!("CARGO_BIN_EXE_avvio"));
    command.args(["dev", "--port", "0"]);
    if let Some(path) = automations {
        command.arg("--automations").arg(path);
    }
    spawn_dev(command, graph_base)
}

/// Starts `command` (an `avvio dev` command line) sending to `graph_base`.
fn spawn_dev(command: Command, graph_base: &str) -> Dev {
    spawn_dev_in(command, graph_base, shared())
}

fn spawn_dev_in(mut command: Command, graph_base: &str, turn: Turn) -> Dev {
    let mut child = command
        .env("WHATSAPP_API_BASE", graph_base)
        .env("WHATSAPP_ACCESS_TOKEN", "dev-test-token")
        .env("WHATSAPP_APP_SECRET", "dev-test-secret")
        .env("AVVIO_API_KEY", API_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("avvio dev starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let base = loop {
        let line = lines.next().expect("avvio dev prints where it listens").unwrap();
        if let Some(address) = line.strip_prefix("avvio dev: listening on ") {
            break address.to_string();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Dev { child, base, _turn: turn }
}

const API_KEY: &str = "dev-test-api-key";

fn signed_text(body_text: &str) -> (Vec<u8>, String) {
    signed_text_with_id(body_text, &format!("wamid.dev.{}", chrono::Utc::now().timestamp()))
}

fn signed_text_with_id(body_text: &str, wamid: &str) -> (Vec<u8>, String) {
    let ts = chrono::Utc::now().timestamp();
    let body = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "390212345678", "phone_number_id": "106540352242922" },
            "contacts": [{ "profile": { "name": "Mario Rossi" }, "wa_id": "393331234567" }],
            "messages": [{ "from": "393331234567", "id": wamid, "timestamp": ts.to_string(),
                           "type": "text", "text": { "body": body_text } }]
        } }] }]
    })
    .to_string()
    .into_bytes();
    let signature = signature("dev-test-secret", &body);
    (body, signature)
}

/// Posts Meta's webhook with one text, signed; `avvio dev` must answer 200.
async fn post_signed_text(dev: &Dev, text: &str) {
    post_signed(dev, signed_text(text)).await;
}

async fn post_signed(dev: &Dev, (body, signature): (Vec<u8>, String)) {
    let response = reqwest::Client::new()
        .post(format!("{}/webhooks/whatsapp", dev.base))
        .header("X-Hub-Signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_to_avvio_dev_sends_the_examples_welcome_template() {
    let graph = StandInGraph::start().await;
    let mut dev = start_dev(&graph.base, None);
    let http = reqwest::Client::new();
    assert_eq!(http.get(format!("{}/health", dev.base)).send().await.unwrap().status(), 200);

    post_signed_text(&dev, "Vorrei informazioni").await;

    let first = graph.wait_for(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!(first.path, "v23.0/106540352242922/messages");
    assert_eq!(first.authorization, "Bearer dev-test-token");
    let request = first.body;
    assert_eq!(request["to"], "393331234567");
    assert_eq!(request["template"]["name"], "welcome");
    assert_eq!(request["template"]["components"][0]["parameters"][0]["text"], "Mario Rossi");

    // Ctrl-C stops it cleanly.
    let pid = dev.child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = dev.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "avvio dev did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

/// Writes `automations` to a fresh file for `--automations`.
fn automations_file(name: &str, automations: serde_json::Value) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("avvio-dev-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("automations.json");
    std::fs::write(&path, automations.to_string()).unwrap();
    path
}

/// Sends a signed "Vorrei informazioni" and waits for its run to finish; returns the run.
async fn run_to_completion(dev: &Dev) -> serde_json::Value {
    let http = reqwest::Client::new();
    post_signed_text(dev, "Vorrei informazioni").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply =
            http.get(format!("{}/v1/runs?phone=393331234567", dev.base)).bearer_auth(API_KEY).send().await.unwrap();
        let runs: serde_json::Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
        if let Some(run) = runs["items"].as_array().and_then(|r| r.first()) {
            if run["status"]["state"] != "active" {
                return run.clone();
            }
        }
        assert!(Instant::now() < deadline, "the run did not finish: {runs}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn template_then_tag() -> serde_json::Value {
    serde_json::json!([{ "id": "info", "name": "info", "trigger": { "type": "customer_message", "phrase": "Vorrei informazioni" },
        "steps": [
            { "after": "0s", "action": { "type": "send_template", "template": "welcome", "language": "it", "params": ["{{name}}"] } },
            { "after": "0s", "action": { "type": "add_tag", "tag": "lead" } }
        ] }])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_api_answering_500_then_200_gets_the_message_retried_and_sent_once() {
    let meta_500 = serde_json::json!({ "error": { "message": "Service temporarily unavailable", "code": 2, "type": "OAuthException" } });
    let graph = StandInGraph::scripted(vec![(500, meta_500)]).await;
    let dev = start_dev(&graph.base, Some(&automations_file("retry", template_then_tag())));
    let run = run_to_completion(&dev).await;
    assert_eq!(run["status"]["state"], "completed", "{run}");
    assert_eq!(run["steps"][0]["status"], "done", "{run}");
    assert_eq!(run["steps"][0]["wamid"], "wamid.standin.2", "the second attempt's message: {run}");
    assert_eq!(run["steps"][0]["retry"]["attempts"], 1, "the refused try is on the step's record: {run}");
    let sent = graph.sent();
    assert_eq!(sent.len(), 2, "one failed attempt, one send");
    assert_eq!(sent[0].body, sent[1].body, "the retry posts the same body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_api_answering_131047_fails_the_step_with_the_code_and_the_run_goes_on() {
    let meta_131047 = serde_json::json!({ "error": {
        "message": "Re-engagement message", "type": "OAuthException", "code": 131047,
        "error_data": { "messaging_product": "whatsapp", "details": "More than 24 hours have passed since the recipient last replied to the sender number." },
        "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam" } });
    let graph = StandInGraph::scripted(vec![(400, meta_131047)]).await;
    let dev = start_dev(&graph.base, Some(&automations_file("fatal", template_then_tag())));
    let run = run_to_completion(&dev).await;
    assert_eq!(run["status"]["state"], "completed", "{run}");
    assert_eq!(
        (run["steps"][0]["status"].as_str(), run["steps"][0]["error"].as_str()),
        (Some("failed"), Some("131047"))
    );
    assert_eq!(run["steps"][1]["status"], "done", "the run goes on: {run}");
    assert_eq!(graph.sent().len(), 1, "a fatal error is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_waiting_run_in_avvio_dev_runs_its_branch() {
    let graph = StandInGraph::start().await;
    let flow = serde_json::json!([{ "id": "domanda", "name": "domanda",
        "trigger": { "type": "customer_message", "phrase": "Vorrei informazioni" },
        "steps": [
            { "after": "0s", "action": { "type": "send_text", "text": "Confermi?" } },
            { "after": "0s", "action": { "type": "wait_for_reply", "timeout": "1h",
                "branches": [ { "reply": ["si"], "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Perfetto!" } } ] } ] } }
        ] }]);
    let dev = start_dev(&graph.base, Some(&automations_file("flow", flow)));
    post_signed(&dev, signed_text_with_id("Vorrei informazioni", "wamid.dev.flow.1")).await;
    graph.wait_for(1, Duration::from_secs(10)).await;
    // A reply answers a wait that has started (one written before it does not): wait for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let runs = reqwest::Client::new()
            .get(format!("{}/v1/runs?phone=393331234567", dev.base))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        let runs: serde_json::Value = serde_json::from_slice(&runs.bytes().await.unwrap()).unwrap();
        if runs["items"][0]["steps"][1]["status"] == "waiting" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the wait never started: {runs}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    post_signed(&dev, signed_text_with_id("  SI ", "wamid.dev.flow.2")).await;
    let sent = graph.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(sent[1].body["text"]["body"], "Perfetto!");
    // The run is written just after the send reaches Meta.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let runs = loop {
        let runs = reqwest::Client::new()
            .get(format!("{}/v1/runs?phone=393331234567", dev.base))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        let runs: serde_json::Value = serde_json::from_slice(&runs.bytes().await.unwrap()).unwrap();
        if runs["items"][0]["status"]["state"] != "active" || std::time::Instant::now() > deadline {
            break runs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let run = &runs["items"][0];
    assert_eq!(run["status"]["state"], "completed", "{run}");
    assert_eq!(run["steps"][1]["branch"], "branches[0]", "{run}");
    assert_eq!(runs["items"].as_array().unwrap().len(), 1, "the reply started no other run");
}

/// The examples' workspace sending at most `rate` messages per second.
fn workspace_file(name: &str, rate: u32) -> std::path::PathBuf {
    let mut workspace: serde_json::Value =
        serde_json::from_str(include_str!("../../examples/workspace.json")).expect("the example workspace");
    workspace["whatsapp"]["max_sends_per_second"] = rate.into();
    let dir = std::env::temp_dir().join(format!("avvio-dev-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("workspace.json");
    std::fs::write(&path, workspace.to_string()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_run_of_2000_members_sends_each_one_message_within_the_rate_though_meta_throttles_harder() {
    const MEMBERS: usize = 2000;
    const RATE: usize = 50;
    let graph = StandInGraph::start().await;
    // Meta takes fewer than the workspace's rate: the sends past it come back as 130429.
    graph.enforce(avvio_tests::graph::Limits { per_second: Some(45), ..Default::default() });
    let mut command = Command::new(env!("CARGO_BIN_EXE_avvio"));
    command.args(["dev", "--port", "0", "--workspace"]).arg(workspace_file("pacing", RATE as u32));
    command.arg("--automations").arg(automations_file("pacing", serde_json::json!([])));
    let dev = spawn_dev_in(command, &graph.base, alone());
    let http = reqwest::Client::new();
    let phones: Vec<String> = (0..MEMBERS).map(|i| format!("39{}", 3_400_000_000u64 + i as u64)).collect();
    for phone in &phones {
        let url = format!("{}/v1/lists/clienti/contacts/{phone}", dev.base);
        let reply = http.put(url).bearer_auth(API_KEY).send().await.unwrap();
        assert!(reply.status().is_success(), "{phone}: {}", reply.status());
    }
    let campaign = serde_json::json!({ "id": "campagna", "name": "campagna", "trigger": { "type": "list", "list": "clienti" },
        "steps": [ { "after": "0s", "action": { "type": "send_template", "template": "welcome", "language": "it", "params": ["{{name|cliente}}"] } } ] });
    let created = http
        .post(format!("{}/v1/automations", dev.base))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body(campaign.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    // The members joined before the automation existed: only the list run sends.
    let deadline = Instant::now() + Duration::from_secs(60);
    while list_size(&http, &dev).await < MEMBERS {
        assert!(Instant::now() < deadline, "the members did not all join");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    let run = http
        .post(format!("{}/v1/automations/campagna/run", dev.base))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 202);

    let deadline = Instant::now() + Duration::from_secs(150);
    while graph.accepted().len() < MEMBERS {
        assert!(Instant::now() < deadline, "{} of {MEMBERS} members got their message", graph.accepted().len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let accepted = graph.accepted();
    let mut per_member = std::collections::HashMap::<&str, usize>::new();
    for (_, to) in &accepted {
        *per_member.entry(to.as_str()).or_default() += 1;
    }
    assert_eq!(per_member.len(), MEMBERS, "every member got a message");
    assert!(per_member.values().all(|&n| n == 1), "none got two");
    // Every request Avvio made (the refused ones too), by arrival: no second holds more than RATE.
    let arrivals: Vec<Instant> = graph.sent().iter().map(|s| s.at).collect();
    let busiest = arrivals
        .iter()
        .enumerate()
        .map(|(i, start)| arrivals[i..].iter().take_while(|at| **at - *start < Duration::from_secs(1)).count())
        .max()
        .unwrap();
    assert!(busiest <= RATE, "{busiest} requests in one second, the rate is {RATE}");
    let refused = graph.sent().len() - accepted.len();
    eprintln!(
        "{MEMBERS} members in {:.1}s, busiest second {busiest} requests, {refused} throttled and retried",
        started.elapsed().as_secs_f64()
    );
}

/// The members of `clienti`, read a page of 1000 at a time.
async fn list_size(http: &reqwest::Client, dev: &Dev) -> usize {
    let (mut size, mut cursor) = (0, String::new());
    loop {
        let url = format!("{}/v1/contacts?list=clienti&limit=1000{cursor}", dev.base);
        let reply = http.get(url).bearer_auth(API_KEY).send().await.unwrap();
        let page: serde_json::Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
        size += page["items"].as_array().map_or(0, Vec::len);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return size,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_answering_131050_fails_the_step_and_opts_the_contact_out() {
    let graph = StandInGraph::start().await;
    graph.enforce(avvio_tests::graph::Limits { refuse: vec![("393331234567".into(), 131050)], ..Default::default() });
    let dev = start_dev(&graph.base, Some(&automations_file("opt-out", template_then_tag())));
    let run = run_to_completion(&dev).await;
    assert_eq!(
        (run["steps"][0]["status"].as_str(), run["steps"][0]["error"].as_str()),
        (Some("failed"), Some("marketing_opt_out")),
        "{run}"
    );
    assert_eq!(run["steps"][1]["status"], "done", "the run goes on: {run}");
    let http = reqwest::Client::new();
    let contact = http.get(format!("{}/v1/contacts/393331234567", dev.base)).bearer_auth(API_KEY).send().await.unwrap();
    let contact: serde_json::Value = serde_json::from_slice(&contact.bytes().await.unwrap()).unwrap();
    assert_eq!(contact["marketing"], "opted_out", "{contact}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_answering_131049_fails_the_step_with_marketing_limit_and_is_not_retried() {
    let graph = StandInGraph::start().await;
    graph.enforce(avvio_tests::graph::Limits { refuse: vec![("393331234567".into(), 131049)], ..Default::default() });
    let dev = start_dev(&graph.base, Some(&automations_file("limit", template_then_tag())));
    let run = run_to_completion(&dev).await;
    assert_eq!(
        (run["steps"][0]["status"].as_str(), run["steps"][0]["error"].as_str()),
        (Some("failed"), Some("marketing_limit")),
        "{run}"
    );
    assert_eq!(graph.sent().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_sent_to_too_fast_gets_the_message_after_meta_s_backoff_and_the_tries_are_on_the_run() {
    let graph = StandInGraph::start().await;
    // Meta's pair rate: one message to a recipient every 2 s; sooner is 131056.
    graph.enforce(avvio_tests::graph::Limits { pair_interval: Some(Duration::from_secs(2)), ..Default::default() });
    let two_texts = serde_json::json!([{ "id": "info", "name": "info", "trigger": { "type": "customer_message", "phrase": "Vorrei informazioni" },
        "steps": [
            { "after": "0s", "action": { "type": "send_text", "text": "Ciao!" } },
            { "after": "0s", "action": { "type": "send_text", "text": "Come possiamo aiutarti?" } }
        ] }]);
    let dev = start_dev(&graph.base, Some(&automations_file("pair-rate", two_texts)));
    let run = run_to_completion(&dev).await;
    assert_eq!(run["steps"][1]["status"], "done", "{run}");
    // Refused at once, then after 1 s (4^0) too soon again, then taken after 4 s more (4^1).
    assert_eq!(run["steps"][1]["retry"]["attempts"], 2, "{run}");
    let accepted = graph.accepted();
    assert_eq!(accepted.len(), 2);
    assert!(accepted[1].0 - accepted[0].0 >= Duration::from_secs(2), "the pair rate was kept");
    let refused: Vec<_> =
        graph.sent().into_iter().filter(|s| s.body["text"]["body"] == "Come possiamo aiutarti?").collect();
    assert_eq!(refused.len(), 3, "two refusals and the send");
}
