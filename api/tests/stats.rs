//! Versions and stats (`/v1/automations/{id}/versions`, `/stats`): every stored version
//! readable, and the counters kept while runs go equal to a recount of the runs.

mod support;

use avvio_common::stats::Stats;
use serde_json::{Value, json};
use support::{KEY_A, KEY_B, NUMBER_A, appointment_flow, phrase_automation, promemoria, start, text_webhook};

const MARIO: &str = "393331234567";
const ANNA: &str = "393470000001";

fn reply_webhook(from: &str, wamid: &str, title: &str) -> Vec<u8> {
    text_webhook(NUMBER_A, from, wamid, title)
}

#[tokio::test]
async fn every_saved_version_is_listed_with_when_it_was_saved_and_reads_back() {
    let system = start().await;
    assert_eq!(system.post("/v1/automations", KEY_A, phrase_automation("info", "Info")).await.0, 201);
    let mut second = phrase_automation("info", "Info");
    second["name"] = json!("seconda");
    assert_eq!(system.put("/v1/automations/info", KEY_A, second).await.0, 200);

    let (status, body) = system.get("/v1/automations/info/versions", KEY_A).await;
    assert_eq!(status, 200);
    let versions = body["versions"].as_array().unwrap();
    assert_eq!(versions.iter().map(|v| v["version"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2]);
    assert!(versions.iter().all(|v| v["saved_at"].as_str().is_some_and(|t| t.ends_with('Z'))), "{body}");

    let (status, first) = system.get("/v1/automations/info/versions/1", KEY_A).await;
    assert_eq!((status, first["name"].as_str(), first["version"].as_u64()), (200, Some("info"), Some(1)));
    // Restoring is a PUT of the old document: version 3 equals version 1 but for its number.
    let (status, third) = system.put("/v1/automations/info", KEY_A, first.clone()).await;
    assert_eq!((status, third["version"].as_u64()), (200, Some(3)));
    let strip = |mut doc: Value| {
        let object = doc.as_object_mut().unwrap();
        object.remove("version");
        object.remove("saved_at");
        doc
    };
    assert_eq!(strip(third), strip(first));

    assert_eq!(system.get("/v1/automations/info/versions/9", KEY_A).await.0, 404);
    assert_eq!(system.get("/v1/automations/info/versions/x", KEY_A).await.0, 404);
    assert_eq!(system.get("/v1/automations/nessuna/versions", KEY_A).await.0, 404);
    assert_eq!(system.get("/v1/automations/info/versions", KEY_B).await.0, 404, "another workspace's");
    assert_eq!(system.call("GET", "/v1/automations/info/versions", None, None).await.0, 401);
}

#[tokio::test]
async fn stats_count_each_step_and_branch_and_equal_a_recount_of_the_runs() {
    let mut system = start().await;
    assert_eq!(system.put("/v1/templates/promemoria/it", KEY_A, promemoria()).await.0, 201);
    let trigger = json!({ "type": "customer_message", "phrase": "Appuntamento" });
    assert_eq!(system.post("/v1/automations", KEY_A, appointment_flow("conferma", trigger)).await.0, 201);

    // Mario confirms, Anna cancels, and a third contact never answers (still waiting).
    for (who, wamid) in [(MARIO, "wamid.m1"), (ANNA, "wamid.a1"), ("393480000002", "wamid.x1")] {
        assert_eq!(system.webhook(reply_webhook(who, wamid, "Appuntamento")).await, 200);
    }
    system.settle().await;
    assert_eq!(system.webhook(reply_webhook(MARIO, "wamid.m2", "Confermo")).await, 200);
    assert_eq!(system.webhook(reply_webhook(ANNA, "wamid.a2", "Annulla")).await, 200);
    system.settle().await;

    let (status, stats) = system.get("/v1/automations/conferma/stats", KEY_A).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["runs"], json!({ "started": 3, "active": 1, "ended": 2 }));
    let wait = &stats["steps"]["steps[1]"];
    assert_eq!((wait["done"].as_i64(), wait["pending"].as_i64()), (Some(2), Some(1)), "{stats}");
    assert_eq!(wait["branches"], json!({ "branches[0]": 1, "branches[1]": 1 }));
    assert_eq!(stats["steps"]["steps[0]"]["done"], 3);
    assert_eq!(stats["steps"]["steps[1].action.branches[1].steps[0]"]["done"], 1);

    let runs = system.deps.store.all_runs(&avvio_common::domain::WorkspaceId::parse("a").unwrap());
    let recount = serde_json::to_value(Stats::recount(&runs)).unwrap();
    for key in ["runs", "steps", "last_started"] {
        assert_eq!(stats[key], recount[key], "the counters equal a recount: {key}");
    }
}

#[tokio::test]
async fn stats_windows_are_whole_days_and_bad_ones_are_refused_naming_the_parameter() {
    let mut system = start().await;
    system.post("/v1/automations", KEY_A, phrase_automation("info", "Info")).await;
    assert_eq!(system.webhook(reply_webhook(MARIO, "wamid.1", "Info")).await, 200);
    system.settle().await;
    let today = chrono::Utc::now().date_naive();

    let (_, stats) = system.get(&format!("/v1/automations/info/stats?since={today}&until={today}"), KEY_A).await;
    assert_eq!((stats["since"].as_str(), stats["runs"]["started"].as_i64()), (Some(&*today.to_string()), Some(1)));
    let yesterday = today.pred_opt().unwrap();
    let (_, stats) = system.get(&format!("/v1/automations/info/stats?until={yesterday}"), KEY_A).await;
    assert_eq!(stats["runs"]["started"], 0, "runs count on the day they started: {stats}");
    assert_eq!(stats["steps"], json!({}));

    for (query, names) in [
        ("since=ieri", "since"),
        ("until=2026-13-01", "until"),
        ("since=2026-12-02&until=2026-12-01", "since"),
        ("since=2024-01-01&until=2026-01-01", "days"),
        ("days=7", "days"),
    ] {
        let (status, body) = system.get(&format!("/v1/automations/info/stats?{query}"), KEY_A).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
        assert!(body["error"]["message"].as_str().unwrap().contains(names), "{query}: {body}");
    }
    assert_eq!(system.get("/v1/automations/nessuna/stats", KEY_A).await.0, 404);
    assert_eq!(system.get("/v1/automations/info/stats", KEY_B).await.0, 404);
}
