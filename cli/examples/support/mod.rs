//! What the load generators share: starting `avvio`, signed webhooks, arguments, percentiles.
// Each generator uses a part of it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The phone number ID of `examples/workspace.json` (and of `avvio dev`'s default workspace).
pub const NUMBER: &str = "106540352242922";

/// A running `avvio` process, killed when dropped.
pub struct Avvio(Child);

impl Avvio {
    /// The process id (to read its memory).
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Avvio {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `avvio` binary to measure: `AVVIO_BIN`, else the one built beside this example.
pub fn avvio_binary() -> String {
    std::env::var("AVVIO_BIN").unwrap_or_else(|_| {
        let exe = std::env::current_exe().unwrap();
        exe.parent().and_then(|examples| examples.parent()).unwrap().join("avvio").display().to_string()
    })
}

/// Starts `avvio dev --port 0 ARGS…` sending to `graph_base` with `app_secret`; the process and
/// the base URL it listens on.
pub fn start_dev<S: AsRef<OsStr>>(graph_base: &str, app_secret: &str, args: &[S]) -> (Avvio, String) {
    let mut command = Command::new(avvio_binary());
    command.args(["dev", "--port", "0"]).args(args);
    start("dev", command, graph_base, app_secret)
}

/// Starts `avvio dev` on `workspace` and the one automation `automation` (JSON text), written
/// into `scratch` as the files `--workspace` and `--automations` read.
pub fn start_dev_with(
    scratch: &std::path::Path,
    graph_base: &str,
    app_secret: &str,
    workspace: &serde_json::Value,
    automation: &str,
) -> (Avvio, String) {
    let automations = scratch.join("automations.json");
    std::fs::write(&automations, format!("[{automation}]")).unwrap();
    let workspace_file = scratch.join("workspace.json");
    std::fs::write(&workspace_file, workspace.to_string()).unwrap();
    let args =
        [OsStr::new("--automations"), automations.as_os_str(), OsStr::new("--workspace"), workspace_file.as_os_str()];
    println!("avvio dev");
    start_dev(graph_base, app_secret, &args)
}

/// Starts `avvio serve --data DATA --listen 127.0.0.1:0` sending to `graph_base`, with
/// `app_secret` and the management API key `api_key`; the process and its base URL.
pub fn start_serve(graph_base: &str, app_secret: &str, api_key: &str, data: &std::path::Path) -> (Avvio, String) {
    let mut command = Command::new(avvio_binary());
    command.args(["serve", "--listen", "127.0.0.1:0", "--data"]).arg(data);
    command.env("WHATSAPP_VERIFY_TOKEN", "load-verify-token").env("AVVIO_API_KEY", api_key);
    start("serve", command, graph_base, app_secret)
}

/// Spawns `command` (`avvio SUBCOMMAND …`) sending to `graph_base` with `app_secret`, and reads
/// its stderr up to the line saying where it listens (then drains it).
fn start(subcommand: &str, mut command: Command, graph_base: &str, app_secret: &str) -> (Avvio, String) {
    let mut child = command
        .env("WHATSAPP_API_BASE", graph_base)
        .env("WHATSAPP_ACCESS_TOKEN", "load-token")
        .env("WHATSAPP_APP_SECRET", app_secret)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start avvio {subcommand}: {e}"));
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let prefix = format!("avvio {subcommand}: listening on ");
    let base = loop {
        let line = lines.next().expect("avvio prints where it listens").unwrap();
        if let Some(address) = line.strip_prefix(&prefix) {
            break address.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Avvio(child), base)
}

/// A webhook signed with `app_secret`: one text `text` with id `wamid.load.in.{n}` from `phone`
/// named `name`; the body and its `X-Hub-Signature-256`.
pub fn text_webhook(app_secret: &str, phone: &str, name: &str, n: u64, text: &str) -> (Vec<u8>, String) {
    let ts = chrono::Utc::now().timestamp();
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"390212345678","phone_number_id":"{NUMBER}"}},"contacts":[{{"profile":{{"name":"{name}"}},"wa_id":"{phone}"}}],"messages":[{{"from":"{phone}","id":"wamid.load.in.{n}","timestamp":"{ts}","type":"text","text":{{"body":"{text}"}}}}]}}}}]}}]}}"#
    )
    .into_bytes();
    let signature = avvio_tests::graph::signature(app_secret, &body);
    (body, signature)
}

/// The number after `name` in `args`, or `default`.
pub fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
        .unwrap_or(default)
}

/// The `p` quantile (0..=1) of sorted, non-empty `sorted`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `d` in milliseconds, two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// A webhook signed with `app_secret`: Meta's delivery status `status` (`sent`, `delivered`,
/// `read`) of the message `wamid` sent to `phone`; the body and its `X-Hub-Signature-256`.
pub fn status_webhook(app_secret: &str, phone: &str, wamid: &str, status: &str) -> (Vec<u8>, String) {
    let ts = chrono::Utc::now().timestamp();
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"390212345678","phone_number_id":"{NUMBER}"}},"statuses":[{{"id":"{wamid}","status":"{status}","timestamp":"{ts}","recipient_id":"{phone}"}}]}}}}]}}]}}"#
    )
    .into_bytes();
    let signature = avvio_tests::graph::signature(app_secret, &body);
    (body, signature)
}

/// A process's resident memory from `/proc/PID/status`, in KiB: `VmRSS` (all), `RssAnon` (heap,
/// stacks) and `RssFile` (mapped files: the binary, libraries); `None` once it is gone.
pub fn resident_kib(pid: u32) -> Option<(u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("RssAnon:")?, field("RssFile:")?))
}
