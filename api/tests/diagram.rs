//! `GET /v1/automations/{id}/diagram`: a stored automation's flow as Mermaid text, for the
//! workspace the key selects only.

mod support;

use serde_json::json;
use support::{KEY_A, KEY_B, System, appointment_flow, promemoria, start};

/// Reads a diagram as a user's script does: status, content type and body as text.
async fn diagram(system: &System, id: &str, key: Option<&str>) -> (u16, String, String) {
    let mut request = system.http.get(format!("{}/v1/automations/{id}/diagram", system.base));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

async fn with_appointment_flow() -> System {
    let system = start().await;
    let (status, _) = system.put("/v1/templates/promemoria/it", KEY_A, promemoria()).await;
    assert!(status == 200 || status == 201, "{status}");
    let trigger = json!({ "type": "customer_message", "phrase": "Il mio appuntamento" });
    let (status, body) = system.post("/v1/automations", KEY_A, appointment_flow("conferma", trigger)).await;
    assert_eq!(status, 201, "{body}");
    system
}

#[tokio::test]
async fn a_stored_automation_is_drawn_as_a_mermaid_flowchart_with_its_branches() {
    let system = with_appointment_flow().await;
    let (status, content_type, chart) = diagram(&system, "conferma", Some(KEY_A)).await;
    assert_eq!(status, 200, "{chart}");
    assert_eq!(content_type, "text/vnd.mermaid; charset=utf-8");
    assert!(chart.starts_with("flowchart TD\n"), "{chart}");
    for line in [
        "    start([\"customer_message: il mio appuntamento\"])",
        "    s1 -->|\"Confermo / si\"| s1_b0_0",
        "    s1 -->|\"otherwise\"| s1_o0",
        "    s1 -->|\"no reply after 1d\"| s1_t0",
        "    s1_t0 --> done",
    ] {
        assert!(chart.lines().any(|l| l == line), "`{line}` is missing from\n{chart}");
    }
}

#[tokio::test]
async fn a_diagram_needs_a_valid_key() {
    let system = with_appointment_flow().await;
    for key in [None, Some("not-a-key")] {
        let (status, content_type, body) = diagram(&system, "conferma", key).await;
        assert_eq!(status, 401, "{key:?}: {body}");
        assert!(content_type.starts_with("application/json"), "{content_type}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"]["code"], "unauthorized");
    }
}

#[tokio::test]
async fn an_unknown_automation_or_one_of_another_workspace_is_a_404() {
    let system = with_appointment_flow().await;
    for (id, key) in [("nessuna", KEY_A), ("conferma", KEY_B)] {
        let (status, content_type, body) = diagram(&system, id, Some(key)).await;
        assert_eq!(status, 404, "{id}: {body}");
        assert!(content_type.starts_with("application/json"), "{content_type}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"]["code"], "not_found", "{body}");
    }
}
