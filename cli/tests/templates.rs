//! `avvio dev` syncing its workspace's templates from the stand-in Graph API
//! (`POST /v1/templates/sync`), with `WHATSAPP_ACCESS_TOKEN` as the token.

use avvio_tests::graph::StandInGraph;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const API_KEY: &str = "dev-templates-api-key";

struct Dev(Child);

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn page(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(avvio_tests::fixtures().join("meta").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn avvio_dev_syncs_the_templates_of_its_workspace_s_account() {
    let graph = StandInGraph::start()
        .await
        .with_templates(vec![page("message_templates_page1.json"), page("message_templates_page2.json")]);
    let mut workspace: serde_json::Value = serde_json::from_str(include_str!("../../examples/workspace.json")).unwrap();
    workspace["whatsapp"]["waba_id"] = serde_json::json!("102290129340398");
    let file = std::env::temp_dir().join(format!("avvio-templates-{}.json", std::process::id()));
    std::fs::write(&file, workspace.to_string()).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_avvio"))
        .args(["dev", "--port", "0", "--workspace"])
        .arg(&file)
        .env("WHATSAPP_API_BASE", &graph.base)
        .env("WHATSAPP_ACCESS_TOKEN", "dev-test-token")
        .env("WHATSAPP_APP_SECRET", "dev-test-secret")
        .env("AVVIO_API_KEY", API_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("avvio dev starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let dev = Dev(child);
    let base = loop {
        let line = lines.next().expect("avvio dev prints where it listens").unwrap();
        if let Some(address) = line.strip_prefix("avvio dev: listening on ") {
            break address.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    let answer =
        reqwest::Client::new().post(format!("{base}/v1/templates/sync")).bearer_auth(API_KEY).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let counts: serde_json::Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    // The examples' templates that Meta has as they are count for nothing; the others are counted.
    assert!(["added", "changed", "removed"].iter().all(|k| counts[k].is_u64()), "{counts}");
    assert!(counts["added"].as_u64().unwrap() >= 5, "{counts}");
    let requests = graph.template_requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.authorization == "Bearer dev-test-token"));
    let listed = reqwest::Client::new().get(format!("{base}/v1/templates")).bearer_auth(API_KEY).send().await.unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.bytes().await.unwrap()).unwrap();
    assert_eq!(listed["templates"].as_array().unwrap().len(), 7);
    drop(dev);
    let _ = std::fs::remove_file(file);
}
