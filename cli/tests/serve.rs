//! `avvio serve` crashing and restarting on its file: the binary killed with `SIGKILL` (a real
//! child process, not a simulated crash) and started again on the same database, against a
//! stand-in Graph API that outlives both processes. Nothing acknowledged is lost, nothing is
//! sent twice, pending steps fire once at their time; a damaged or foreign file, or missing
//! configuration, is refused with a message naming it.

use avvio_tests::graph::{StandInGraph, signature};
use avvio_tests::text_webhook;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const API_KEY: &str = "serve-test-api-key";
const APP_SECRET: &str = "serve-test-app-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";
const REQUIRED: [&str; 3] = ["AVVIO_API_KEY", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"];

/// A fresh directory of its own for one test.
fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("avvio-serve-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `avvio serve --data data --listen 127.0.0.1:0` with its whole configuration, sending to `graph`.
fn serve_command(data: &Path, graph: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_avvio"));
    command.args(["serve", "--listen", "127.0.0.1:0", "--data"]).arg(data);
    command
        .env("AVVIO_API_KEY", API_KEY)
        .env("WHATSAPP_APP_SECRET", APP_SECRET)
        .env("WHATSAPP_VERIFY_TOKEN", "serve-test-verify-token")
        .env("WHATSAPP_API_BASE", graph)
        .env("WHATSAPP_ACCESS_TOKEN", "serve-test-token")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// A running `avvio serve`; killed (`SIGKILL`) when dropped, so a failing test leaves none behind.
struct Serve {
    child: Child,
    base: String,
    stderr: Arc<Mutex<Vec<String>>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

fn start_serve(data: &Path, graph: &StandInGraph) -> Serve {
    let mut child = serve_command(data, &graph.base).spawn().expect("avvio serve starts");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("avvio serve ended before listening: {:?}", stderr.lock().unwrap());
        };
        stderr.lock().unwrap().push(line.clone());
        if let Some(address) = line.strip_prefix("avvio serve: listening on ") {
            break address.to_string();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    let kept = stderr.clone();
    let drain =
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(|line| kept.lock().unwrap().push(line)));
    Serve { child, base, stderr, drain: Some(drain) }
}

impl Serve {
    /// `SIGKILL`: the process dies at once, wherever it is.
    fn crash(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// `SIGTERM`, then its exit status and everything it printed on stderr.
    fn terminate(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = wait_exit(&mut self.child, Duration::from_secs(40));
        // The drain thread ends with the pipe.
        self.drain.take().unwrap().join().unwrap();
        (status, self.stderr.lock().unwrap().join("\n"))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` to exit (killing it and panicking after `within`).
fn wait_exit(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("avvio serve did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `command` to its end (at most 15 s): its exit status and stderr.
fn run_to_exit(mut command: Command) -> (ExitStatus, String) {
    let mut child = command.spawn().expect("avvio serve starts");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).map(|_| text).unwrap_or_default()
    });
    let status = wait_exit(&mut child, Duration::from_secs(15));
    (status, reader.join().unwrap())
}

/// Polls `check` every 20 ms until it answers; panics naming `what` after `within`.
async fn eventually<T>(within: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(answer) = check() {
            return answer;
        }
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stores the example workspace, sending at most `rate` messages a second, and `automations`
/// through the API.
async fn configure(serve: &Serve, rate: u32, automations: &[serde_json::Value]) {
    let http = reqwest::Client::new();
    let mut workspace: serde_json::Value = serde_json::from_str(include_str!("../../examples/workspace.json")).unwrap();
    workspace["whatsapp"]["max_sends_per_second"] = rate.into();
    let reply = http.put(format!("{}/v1/workspace", serve.base)).bearer_auth(API_KEY);
    let reply = reply.header("content-type", "application/json").body(workspace.to_string()).send().await.unwrap();
    assert_eq!(reply.status(), 200, "{}", reply.text().await.unwrap());
    for automation in automations {
        let reply = http.post(format!("{}/v1/automations", serve.base)).bearer_auth(API_KEY);
        let reply = reply.header("content-type", "application/json").body(automation.to_string()).send().await.unwrap();
        assert_eq!(reply.status(), 201, "{}", reply.text().await.unwrap());
    }
}

/// An automation started by "ciao" running `steps`.
fn on_ciao(steps: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "id": "benvenuto", "name": "benvenuto",
        "trigger": { "type": "customer_message", "phrase": "ciao" }, "steps": steps })
}

fn send_text(after: &str, text: &str) -> serde_json::Value {
    serde_json::json!({ "after": after, "action": { "type": "send_text", "text": text } })
}

/// Posts Meta's webhook with one text "ciao" from `from`, signed: the status `avvio serve`
/// answered, or the error of a request it never answered.
async fn post_ciao(http: &reqwest::Client, base: &str, from: &str) -> Result<u16, reqwest::Error> {
    let now = chrono::Utc::now().to_rfc3339();
    let body = text_webhook(PHONE_NUMBER_ID, from, &format!("wamid.serve.{from}"), &now, "ciao");
    let request =
        http.post(format!("{base}/webhooks/whatsapp")).header("X-Hub-Signature-256", signature(APP_SECRET, &body));
    Ok(request.body(body).send().await?.status().as_u16())
}

/// The texts sent to `to`, in arrival order (each request the stand-in saw, answered or not).
fn texts_to(graph: &StandInGraph, to: &str) -> Vec<String> {
    let sent = graph.sent().into_iter().filter(|s| s.body["to"] == to);
    sent.map(|s| s.body["text"]["body"].as_str().unwrap_or_default().to_string()).collect()
}

/// When the request carrying `text` to `to` reached the stand-in.
fn arrival(graph: &StandInGraph, to: &str, text: &str) -> Option<Instant> {
    graph.sent().into_iter().find(|s| s.body["to"] == to && s.body["text"]["body"] == text).map(|s| s.at)
}

/// The rows of the file's queues, read-only: (events, steps by due in microseconds).
fn queues(data: &Path) -> (i64, Vec<i64>) {
    let db = rusqlite::Connection::open_with_flags(data, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let events = db.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).unwrap();
    let mut steps = db.prepare("SELECT due FROM steps ORDER BY due").unwrap();
    let steps = steps.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    (events, steps)
}

/// The contacts whose step at `path` is queued in `data`, earliest due first.
fn queued(data: &Path, path: &str) -> Vec<String> {
    let db = rusqlite::Connection::open_with_flags(data, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut rows = db
        .prepare(
            "SELECT r.contact FROM steps s JOIN runs r ON r.id = json_extract(s.message, '$.run')
             WHERE json_extract(s.message, '$.step') = ?1 ORDER BY s.due, s.id",
        )
        .unwrap();
    rows.query_map([path], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

/// Waits until the file holds no queued event and no step due within the next hour: every
/// effect the running process owes now has happened.
async fn settled(data: &Path) {
    let hour_ahead = micros_since_epoch(SystemTime::now() + Duration::from_secs(3600));
    eventually(Duration::from_secs(30), "the queues to empty", || {
        let (events, steps) = queues(data);
        (events == 0 && steps.iter().all(|due| *due > hour_ahead)).then_some(())
    })
    .await;
}

fn micros_since_epoch(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_micros() as i64
}

/// 200 webhooks from distinct contacts posted 20 at a time, `avvio serve` killed once 100 were
/// acknowledged, then started again and left to settle: the stand-in, the file, the running
/// process and the contacts whose webhook was answered 200.
struct Burst {
    graph: StandInGraph,
    data: PathBuf,
    _serve: Serve,
    acknowledged: Vec<String>,
}

async fn crash_during_a_burst(name: &str) -> Burst {
    let graph = StandInGraph::start().await;
    let data = test_dir(name).join("avvio.db");
    let serve = start_serve(&data, &graph);
    configure(&serve, 80, &[on_ciao(serde_json::json!([send_text("0s", "Benvenuto!")]))]).await;

    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let lanes = Arc::new(tokio::sync::Semaphore::new(20));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let posts: Vec<_> = (0..200)
        .map(|i| {
            let (http, base, lanes, acknowledged) =
                (http.clone(), serve.base.clone(), lanes.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let _lane = lanes.acquire().await.unwrap();
                let phone = format!("39340{i:07}");
                if let Ok(200) = post_ciao(&http, &base, &phone).await {
                    acknowledged.lock().unwrap().push(phone);
                }
            })
        })
        .collect();
    let half = || (acknowledged.lock().unwrap().len() >= 100).then_some(());
    eventually(Duration::from_secs(30), "100 acknowledgements", half).await;
    serve.crash();
    for post in posts {
        post.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() < 200, "the crash came while webhooks were still being posted");

    let serve = start_serve(&data, &graph);
    settled(&data).await;
    Burst { graph, data, _serve: serve, acknowledged }
}

/// `contact` got `text` once across both processes; or, when the crash fell between the send's
/// intent being stored and its request leaving, never, and its run says `send_unconfirmed`
/// (never repeated: the engine cannot know whether Meta took it).
fn assert_sent_once_or_unconfirmed(graph: &StandInGraph, data: &Path, contact: &str, text: &str) {
    let (sent, run) = (texts_to(graph, contact), run_doc(data, contact));
    let unconfirmed = run.as_deref().is_some_and(|doc| doc.contains(r#""error":"send_unconfirmed""#));
    assert!(sent == [text] || (sent.is_empty() && unconfirmed), "sent {sent:?}; the run: {run:?}");
}

/// The stored run of `contact` (its JSON document), read-only from the file.
fn run_doc(data: &Path, contact: &str) -> Option<String> {
    let db = rusqlite::Connection::open_with_flags(data, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    db.query_row("SELECT doc FROM runs WHERE contact = ?1", [contact], |r| r.get(0)).ok()
}

/// A whole Avvio database at `data`, with a workspace, an automation and a run, stopped
/// cleanly; its WAL checkpointed into the one file.
async fn avvio_database(data: &Path) {
    let graph = StandInGraph::start().await;
    let serve = start_serve(data, &graph);
    configure(&serve, 80, &[on_ciao(serde_json::json!([send_text("0s", "Benvenuto!")]))]).await;
    assert_eq!(post_ciao(&reqwest::Client::new(), &serve.base, "393330000006").await.unwrap(), 200);
    graph.wait_for(1, Duration::from_secs(10)).await;
    settled(data).await;
    let (status, stderr) = serve.terminate();
    assert!(status.success(), "{stderr}");
    let db = rusqlite::Connection::open(data).unwrap();
    db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    drop(db);
}

/// The root page of `table` in `data`: where its B-tree starts.
fn page_of(data: &Path, table: &str) -> std::ops::Range<usize> {
    let db = rusqlite::Connection::open_with_flags(data, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let root: usize =
        db.query_row("SELECT rootpage FROM sqlite_master WHERE name = ?1", [table], |r| r.get(0)).unwrap();
    let size: usize = db.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    (root - 1) * size..root * size
}

/// `bytes` with `range` overwritten by garbage.
fn overwritten(bytes: &[u8], range: std::ops::Range<usize>) -> Vec<u8> {
    let mut damaged = bytes.to_vec();
    damaged[range].iter_mut().enumerate().for_each(|(i, b)| *b = (i as u8).wrapping_mul(37) ^ 0xA5);
    damaged
}

/// Runs `avvio serve` on each (name, bytes) written to a file: it must exit non-zero naming
/// the file with one of `why`, and leave the file's bytes as they were, with no transaction
/// committed beside it either (a `-wal` holding a frame).
fn assert_refused(dir: &Path, files: Vec<(&str, Vec<u8>)>, why: &[&str]) {
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        let (status, stderr) = run_to_exit(serve_command(&path, "http://127.0.0.1:9"));
        assert!(!status.success(), "{name}: avvio serve started: {stderr}");
        assert!(stderr.contains(&path.display().to_string()), "{name}: the message names the file: {stderr}");
        assert!(why.iter().any(|w| stderr.contains(w)), "{name}: the message says why: {stderr}");
        assert!(std::fs::read(&path).unwrap() == bytes, "{name}: the file was changed: {stderr}");
        let wal = std::fs::metadata(format!("{}-wal", path.display())).map_or(0, |m| m.len());
        assert!(wal <= 32, "{name}: {wal} bytes were written to its WAL: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_acknowledged_just_before_a_crash_is_not_lost_and_its_message_is_never_sent_twice() {
    let graph = StandInGraph::start().await;
    let data = test_dir("acknowledged").join("avvio.db");
    let serve = start_serve(&data, &graph);
    configure(&serve, 80, &[on_ciao(serde_json::json!([send_text("0s", "Benvenuto!")]))]).await;

    let http = reqwest::Client::new();
    assert_eq!(post_ciao(&http, &serve.base, "393330000001").await.unwrap(), 200);
    serve.crash();

    let serve = start_serve(&data, &graph);
    settled(&data).await;
    assert_sent_once_or_unconfirmed(&graph, &data, "393330000001", "Benvenuto!");
    drop(serve);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_in_flight_when_the_process_is_killed_is_never_sent_again_and_the_restart_keeps_working() {
    let graph = StandInGraph::start().await;
    let data = test_dir("in-flight").join("avvio.db");
    let serve = start_serve(&data, &graph);
    configure(&serve, 80, &[on_ciao(serde_json::json!([send_text("0s", "Benvenuto!")]))]).await;

    // A slow Graph API: the send has left (its intent is stored) and waits for its answer.
    graph.delay_answers(Duration::from_secs(8));
    let http = reqwest::Client::new();
    assert_eq!(post_ciao(&http, &serve.base, "393330000002").await.unwrap(), 200);
    graph.wait_for(1, Duration::from_secs(10)).await;
    serve.crash();

    graph.delay_answers(Duration::ZERO);
    let serve = start_serve(&data, &graph);
    assert_eq!(post_ciao(&http, &serve.base, "393330000003").await.unwrap(), 200);
    eventually(Duration::from_secs(15), "the other contact's message", || {
        (!texts_to(&graph, "393330000003").is_empty()).then_some(())
    })
    .await;
    settled(&data).await;
    assert_eq!(texts_to(&graph, "393330000002"), ["Benvenuto!"], "the send in flight is not repeated");
    assert_eq!(texts_to(&graph, "393330000003"), ["Benvenuto!"]);
    drop(serve);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_a_burst_of_200_webhooks_sends_none_twice_and_accounts_for_every_acknowledged_one() {
    let Burst { graph, data, acknowledged, .. } = crash_during_a_burst("burst").await;
    let mut per_contact = HashMap::<String, usize>::new();
    for sent in graph.sent() {
        *per_contact.entry(sent.body["to"].as_str().unwrap().to_string()).or_default() += 1;
    }
    let twice: Vec<_> = per_contact.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    for phone in &acknowledged {
        assert_sent_once_or_unconfirmed(&graph, &data, phone, "Benvenuto!");
    }
    let unsent = acknowledged.iter().filter(|phone| !per_contact.contains_key(*phone)).count();
    eprintln!("{} of 200 acknowledged; {unsent} of them never sent (send_unconfirmed)", acknowledged.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_waiting_for_its_pacing_slot_when_the_process_is_killed_is_sent_after_the_restart() {
    let graph = StandInGraph::start().await;
    let data = test_dir("pacing").join("avvio.db");
    let serve = start_serve(&data, &graph);
    // One send a second: the second contact's send waits in the process for its slot.
    configure(&serve, 1, &[on_ciao(serde_json::json!([send_text("0s", "Benvenuto!")]))]).await;
    let http = reqwest::Client::new();
    let (first, second) = ("393330000011", "393330000012");
    assert_eq!(post_ciao(&http, &serve.base, first).await.unwrap(), 200);
    graph.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(post_ciao(&http, &serve.base, second).await.unwrap(), 200);
    // Its slot is a second after the first send's: kill the process while it waits for it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    serve.crash();
    assert!(texts_to(&graph, second).is_empty(), "it had not left when the process was killed");

    let _serve = start_serve(&data, &graph);
    settled(&data).await;
    assert_eq!(texts_to(&graph, second), ["Benvenuto!"], "the run says {:?}", run_doc(&data, second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delays_and_a_reply_timeout_fire_once_at_their_time_across_a_crash_and_a_two_hour_step_stays_pending() {
    let graph = StandInGraph::start().await;
    let data = test_dir("delays").join("avvio.db");
    let serve = start_serve(&data, &graph);
    let wait = serde_json::json!({ "after": "0s", "action": { "type": "wait_for_reply", "timeout": "1m",
        "on_timeout": [send_text("0s", "Ci sei?"), send_text("2h", "Ti aspettiamo")] } });
    let steps = serde_json::json!([send_text("0s", "Ciao!"), send_text("3s", "Come va?"), wait]);
    configure(&serve, 80, &[on_ciao(steps)]).await;

    let contact = "393330000004";
    let started = SystemTime::now();
    assert_eq!(post_ciao(&reqwest::Client::new(), &serve.base, contact).await.unwrap(), 200);
    let first = eventually(Duration::from_secs(10), "the first send", || arrival(&graph, contact, "Ciao!")).await;
    let next_queued = || (queued(&data, "steps[1]") == [contact]).then_some(());
    eventually(Duration::from_secs(10), "the first send stored and the next step queued", next_queued).await;
    serve.crash();

    // The 3-second step comes due while the process is down.
    tokio::time::sleep((first + Duration::from_secs(4)).saturating_duration_since(Instant::now())).await;
    let restarted = Instant::now();
    let serve = start_serve(&data, &graph);
    let late = eventually(Duration::from_secs(10), "the late step", || arrival(&graph, contact, "Come va?")).await;
    assert!(late >= first + Duration::from_secs(3), "not before its time");
    assert!(late - restarted < Duration::from_secs(3), "a late step runs at once after the restart");

    // The wait started once "Come va?" was sent; its timeout path sends one minute later.
    let timed_out =
        eventually(Duration::from_secs(75), "the timeout path", || arrival(&graph, contact, "Ci sei?")).await;
    assert!(timed_out >= late + Duration::from_millis(59_900), "not before the timeout");
    assert!(timed_out < late + Duration::from_secs(65), "at its time");
    settled(&data).await;
    assert_eq!(texts_to(&graph, contact), ["Ciao!", "Come va?", "Ci sei?"], "each step once");

    // The two-hour step is pending in the file: due two hours (and the minute's wait) after the run started.
    let (events, steps) = queues(&data);
    assert_eq!((events, steps.len()), (0, 1), "{steps:?}");
    let after_start = Duration::from_micros((steps[0] - micros_since_epoch(started)) as u64);
    let two_hours = Duration::from_secs(2 * 3600);
    assert!(after_start > two_hours && after_start < two_hours + Duration::from_secs(150), "due {after_start:?} after");
    drop(serve);
}

/// The dead letters of `data`: (queue, reason), oldest first.
fn dead_letters(data: &Path) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open_with_flags(data, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut rows = db.prepare("SELECT queue, reason FROM dead_letters ORDER BY id").unwrap();
    rows.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_that_can_never_be_done_is_kept_as_dead_letters_and_holds_back_nothing_else() {
    let graph = StandInGraph::start().await;
    let data = test_dir("dead-letters").join("avvio.db");
    let serve = start_serve(&data, &graph);
    configure(&serve, 80, &[on_ciao(serde_json::json!([send_text("0s", "Ciao!"), send_text("2s", "Come va?")]))]).await;
    let damaged = "393330000007";
    assert_eq!(post_ciao(&reqwest::Client::new(), &serve.base, damaged).await.unwrap(), 200);
    let next_queued = || (queued(&data, "steps[1]") == [damaged]).then_some(());
    eventually(Duration::from_secs(10), "the first send stored and the next step queued", next_queued).await;
    serve.crash();

    // While it is down: the run's document is damaged, and a step row that is no step is queued first.
    let db = rusqlite::Connection::open(&data).unwrap();
    db.execute("UPDATE runs SET doc = '{\"id\": ' WHERE contact = ?1", [damaged]).unwrap();
    db.execute("INSERT INTO steps (due, message) VALUES (0, 'not a step')", []).unwrap();
    drop(db);

    let serve = start_serve(&data, &graph);
    let reasons = eventually(Duration::from_secs(10), "two dead letters", || {
        let dead = dead_letters(&data);
        (dead.len() == 2).then_some(dead)
    })
    .await;
    assert_eq!(reasons[0].0, "steps");
    assert!(reasons[0].1.starts_with("unreadable queued step"), "{reasons:?}");
    assert_eq!(reasons[1].0, "steps");
    assert!(reasons[1].1.starts_with("unreadable stored item"), "the damaged run's step: {reasons:?}");
    // Still serving: another contact's run goes through, and the queues empty.
    let other = "393330000008";
    assert_eq!(post_ciao(&reqwest::Client::new(), &serve.base, other).await.unwrap(), 200);
    eventually(Duration::from_secs(10), "the other contact's second step", || arrival(&graph, other, "Come va?")).await;
    settled(&data).await;
    assert_eq!(texts_to(&graph, damaged), ["Ciao!"], "the damaged run sent nothing more");

    let (status, stderr) = serve.terminate();
    assert!(status.success(), "{stderr}");
    for said in ["a queued step failed for good (kept in dead_letters): unreadable queued step", "steps[1] of run"] {
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
    let serve = start_serve(&data, &graph);
    let (_, stderr) = serve.terminate();
    assert!(
        stderr.contains("avvio serve: 2 events or steps failed for good, kept in the table dead_letters"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_that_came_due_while_the_process_was_down_run_at_once_after_the_restart_earliest_first() {
    const CONTACTS: usize = 120;
    let graph = StandInGraph::start().await;
    let data = test_dir("due-order").join("avvio.db");
    let serve = start_serve(&data, &graph);
    configure(&serve, 1000, &[on_ciao(serde_json::json!([send_text("0s", "Ciao!"), send_text("8s", "Come va?")]))])
        .await;
    let http = reqwest::Client::new();
    for i in 0..CONTACTS {
        assert_eq!(post_ciao(&http, &serve.base, &format!("39342{i:07}")).await.unwrap(), 200);
    }
    let all_queued =
        || (queued(&data, "steps[1]").len() == CONTACTS && queues(&data).1.len() == CONTACTS).then_some(());
    eventually(Duration::from_secs(10), "every run's second step queued", all_queued).await;
    serve.crash();
    assert!(graph.sent().iter().all(|s| s.body["text"]["body"] == "Ciao!"), "no second step ran before the crash");
    let by_due = queued(&data, "steps[1]");

    // Every second step comes due while the process is down; after the restart, a slow Graph
    // API holds the first ones taken in flight, so the later ones wait for a free lane.
    let last_due = queues(&data).1.into_iter().max().unwrap();
    let due_in = Duration::from_micros((last_due - micros_since_epoch(SystemTime::now())).max(0) as u64);
    tokio::time::sleep(due_in + Duration::from_millis(500)).await;
    graph.delay_answers(Duration::from_secs(2));
    let restarted = Instant::now();
    let serve = start_serve(&data, &graph);
    let late = || graph.sent().into_iter().filter(|s| s.body["text"]["body"] == "Come va?").collect::<Vec<_>>();
    let first = eventually(Duration::from_secs(5), "a late step", || late().first().map(|s| s.at)).await;
    assert!(first - restarted < Duration::from_secs(3), "late steps run at once after the restart");
    eventually(Duration::from_secs(30), "every late step", || (late().len() >= CONTACTS).then_some(())).await;
    settled(&data).await;

    let late = late();
    assert_eq!(late.len(), CONTACTS, "each late step sent once");
    let first_wave: Vec<_> = late.iter().filter(|s| s.at - first < Duration::from_millis(1800)).collect();
    let mut taken: Vec<_> = first_wave.iter().map(|s| s.body["to"].as_str().unwrap().to_string()).collect();
    let mut earliest = by_due[..taken.len()].to_vec();
    taken.sort();
    earliest.sort();
    assert_eq!(taken, earliest, "the first {} taken are the earliest due", first_wave.len());
    drop(serve);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_avvio_file_is_refused_naming_it_and_left_as_it_was() {
    let dir = test_dir("damaged");
    let data = dir.join("avvio.db");
    avvio_database(&data).await;
    let whole = std::fs::read(&data).unwrap();
    let page_size = page_of(&data, "workspaces").len();
    let damaged = vec![
        ("header.db", overwritten(&whole, 0..16)),
        ("truncated.db", whole[..whole.len() / 2].to_vec()),
        // The first page's B-tree, after the file header: the schema, read by every open.
        ("schema.db", overwritten(&whole, 100..page_size)),
    ];
    assert_refused(&dir, damaged, &["damaged", "not an Avvio database"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_avvio_file_damaged_in_a_table_read_after_opening_is_refused_naming_it_and_left_as_it_was() {
    let dir = test_dir("damaged-later");
    let data = dir.join("avvio.db");
    avvio_database(&data).await;
    let whole = std::fs::read(&data).unwrap();
    let tables = ["workspaces", "automation_log", "events", "runs"];
    let damaged = tables.map(|table| (table, overwritten(&whole, page_of(&data, table))));
    assert_refused(&dir, damaged.to_vec(), &["damaged"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_file_is_refused_naming_it_and_left_as_it_was() {
    let dir = test_dir("foreign");
    let other = dir.join("notes.sqlite");
    let db = rusqlite::Connection::open(&other).unwrap();
    db.execute_batch(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES ('ciao');",
    )
    .unwrap();
    drop(db);
    let foreign = vec![
        ("notes.txt", b"Lista della spesa: pane, latte, uova.\n".to_vec()),
        ("other-schema.db", std::fs::read(&other).unwrap()),
    ];
    assert_refused(&dir, foreign, &["not an Avvio database"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avvio_serve_without_each_required_setting_refuses_to_start_naming_it() {
    let dir = test_dir("config");
    for missing in REQUIRED {
        let data = dir.join(format!("{missing}.db"));
        let mut command = serve_command(&data, "http://127.0.0.1:9");
        command.env_remove(missing);
        let (status, stderr) = run_to_exit(command);
        assert!(!status.success(), "started without {missing}: {stderr}");
        assert!(stderr.contains(&format!("{missing} is not set")), "the message names {missing}: {stderr}");
        assert!(!data.exists(), "no database was created without {missing}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_work_under_way_stops_cleanly_and_the_restart_loses_nothing() {
    let graph = StandInGraph::start().await;
    let data = test_dir("sigterm").join("avvio.db");
    let serve = start_serve(&data, &graph);
    configure(
        &serve,
        80,
        &[on_ciao(serde_json::json!([send_text("0s", "Benvenuto!"), send_text("2s", "Come possiamo aiutarti?")]))],
    )
    .await;

    graph.delay_answers(Duration::from_secs(1));
    let http = reqwest::Client::new();
    let phones: Vec<String> = (0..30).map(|i| format!("39341{i:07}")).collect();
    for phone in &phones {
        assert_eq!(post_ciao(&http, &serve.base, phone).await.unwrap(), 200);
    }
    graph.wait_for(1, Duration::from_secs(10)).await;
    let (status, stderr) = serve.terminate();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.lines().any(|l| l == "avvio serve: stopped"), "{stderr}");

    graph.delay_answers(Duration::ZERO);
    let serve = start_serve(&data, &graph);
    let done = || phones.iter().all(|phone| texts_to(&graph, phone).len() >= 2);
    eventually(Duration::from_secs(30), "both messages to every contact", || done().then_some(())).await;
    settled(&data).await;
    for phone in &phones {
        assert_eq!(texts_to(&graph, phone), ["Benvenuto!", "Come possiamo aiutarti?"], "{phone}");
    }
    drop(serve);
}
