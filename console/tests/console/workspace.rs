//! The workspace page: the settings' form. It stores through `manage` as `PUT /v1/workspace`
//! does, keeps the templates, and never renders a secret.

use crate::support::{KEY, Reply, System, start, workspace_id};
use avvio_common::domain::Workspace;
use avvio_common::ports::{Management, Store};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::sync::Arc;

const TOKEN: &str = "EAAG-very-secret-token";
const WEBHOOK_SECRET: &str = "example-webhook-secret";

async fn stored(system: &System) -> Arc<Workspace> {
    system.store.workspace(&workspace_id()).await.unwrap().unwrap()
}

/// Gives the examples' number an access token, through the API.
async fn with_token(system: &System) {
    let mut doc = serde_json::to_value(stored(system).await.public_view()).unwrap();
    doc["whatsapp"] = serde_json::json!({ "phone_number_id": "106540352242922", "access_token": TOKEN });
    let request = Request::put("/v1/workspace")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(Body::from(doc.to_string()))
        .unwrap();
    let reply: Reply = system.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

/// The form as the page shows the examples' settings, with `changes` made.
fn form<'a>(csrf: &'a str, changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("csrf", csrf),
        ("timezone", "Europe/Rome"),
        ("working_hours.mon", "09:00-13:00, 14:00-18:00"),
        ("working_hours.tue", "09:00-18:00"),
        ("working_hours.wed", "09:00-18:00"),
        ("working_hours.thu", "09:00-18:00"),
        ("working_hours.fri", "09:00-18:00"),
        ("working_hours.sat", ""),
        ("working_hours.sun", ""),
        ("holidays", "2026-12-08\n12-25\n12-26\n01-01\neaster_monday"),
        ("consent.opt_out_phrases", "STOP\nNiente promozioni"),
        ("consent.opt_in_phrases", "START"),
        ("whatsapp.phone_number_id", "106540352242922"),
        ("whatsapp.access_token", ""),
        ("webhook_secret", ""),
    ];
    for (name, value) in changes {
        match form.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value,
            None => form.push((name, value)),
        }
    }
    form
}

fn secrets(doc: &Workspace) -> (Option<String>, Option<String>) {
    let token = doc.whatsapp.as_ref().and_then(|w| w.access_token.as_ref()).map(|s| s.expose().to_string());
    (token, doc.webhook_secret.as_ref().map(|s| s.expose().to_string()))
}

#[tokio::test]
async fn the_workspace_page_shows_the_stored_settings() {
    let system = start().await;
    let reply = system.signed_in().await.get("/console/workspace").await;
    assert_eq!(reply.status, StatusCode::OK);
    let page = reply.text();
    assert!(page.contains(r#"aria-current="page">Workspace"#));
    assert!(page.contains(r#"name="timezone" type="text" value="Europe/Rome""#), "{page}");
    assert!(page.contains(r#"name="working_hours.mon" type="text" value="09:00-13:00, 14:00-18:00""#));
    assert!(page.contains(r#"name="working_hours.sat" type="text" value="" placeholder="Closed""#));
    assert!(page.contains(">2026-12-08\n12-25\n12-26\n01-01\neaster_monday</textarea>"));
    assert!(page.contains(">STOP\nNiente promozioni</textarea>") && page.contains(">START</textarea>"));
    assert!(page.contains(r#"value="106540352242922""#));
    assert!(!page.contains(
        r#"id="always_open" name="always_open" type="checkbox" value="on" aria-describedby="always_open-hint" checked"#
    ));
    for label in
        ["timezone", "hours-mon", "holidays", "opt-out", "opt-in", "phone-number-id", "access-token", "webhook-secret"]
    {
        assert!(
            page.contains(&format!(r#"<label for="{label}""#))
                || page.contains(&format!(r#"<label class="check" for="{label}""#)),
            "{label} has a label"
        );
    }
}

#[tokio::test]
async fn secrets_never_appear_in_the_workspace_page() {
    let system = start().await;
    with_token(&system).await;
    let mut browser = system.signed_in().await;
    let page = browser.get("/console/workspace").await.text();
    assert!(!page.contains(TOKEN) && !page.contains(WEBHOOK_SECRET), "{page}");
    assert!(page.contains(r#"name="whatsapp.access_token" type="password" value="""#));
    assert!(page.contains(r#"name="webhook_secret" type="password" value="""#));
    assert_eq!(page.matches(r#"<span class="badge badge--on">Set</span>"#).count(), 2, "both are set");
    // A refused form shows what was typed again, but not a secret typed with it.
    let csrf = browser.csrf().await;
    let typed = "typed-new-secret-value";
    let reply = browser
        .post("/console/workspace", &form(&csrf, &[("timezone", "Mars/Olympus"), ("webhook_secret", typed)]))
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = reply.text();
    assert!(!page.contains(typed) && !page.contains(TOKEN) && !page.contains(WEBHOOK_SECRET));
    assert!(page.contains(r#"value="Mars/Olympus""#));
}

#[tokio::test]
async fn saving_the_form_stores_the_settings_and_keeps_the_secrets_and_the_templates() {
    let system = start().await;
    with_token(&system).await;
    let before = stored(&system).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let changes = [
        ("timezone", "Europe/London"),
        ("working_hours.sat", "09:00-12:30"),
        ("holidays", "easter\n2027-01-06"),
        ("consent.opt_out_phrases", "STOP\nBasta"),
    ];
    let reply = browser.post("/console/workspace", &form(&csrf, &changes)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(reply.location(), "workspace?saved=1");
    let after = stored(&system).await;
    let view = after.public_view();
    assert_eq!(view["timezone"], "Europe/London");
    assert_eq!(view["working_hours"]["sat"], serde_json::json!(["09:00-12:30"]));
    assert_eq!(view["working_hours"]["mon"], serde_json::json!(["09:00-13:00", "14:00-18:00"]));
    assert_eq!(view["holidays"], serde_json::json!(["easter", "2027-01-06"]));
    assert_eq!(view["consent"]["opt_out_phrases"], serde_json::json!(["STOP", "Basta"]));
    assert_eq!(secrets(&after), (Some(TOKEN.into()), Some(WEBHOOK_SECRET.into())), "empty inputs keep the secrets");
    assert_eq!(after.templates, before.templates, "the templates stay as stored");
    let page = browser.get("/console/workspace?saved=1").await.text();
    assert!(page.contains(r#"role="status">Saved."#) && page.contains(r#"value="Europe/London""#));
}

#[tokio::test]
async fn a_filled_secret_replaces_the_stored_one() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let changes = [("whatsapp.access_token", "EAAG-new"), ("webhook_secret", "  new-webhook-secret ")];
    let reply = browser.post("/console/workspace", &form(&csrf, &changes)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(secrets(&*stored(&system).await), (Some("EAAG-new".into()), Some("new-webhook-secret".into())));
    let page = browser.get("/console/workspace").await.text();
    assert!(!page.contains("EAAG-new") && !page.contains("new-webhook-secret"));
}

#[tokio::test]
async fn always_open_stores_no_working_hours() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let reply = browser.post("/console/workspace", &form(&csrf, &[("always_open", "on")])).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert!(stored(&system).await.working_hours.is_none());
    let page = browser.get("/console/workspace").await.text();
    assert!(page.contains(r#"aria-describedby="always_open-hint" checked"#));
}

#[tokio::test]
async fn bad_values_are_shown_at_their_inputs_and_nothing_is_stored() {
    let system = start().await;
    let before = stored(&system).await.public_view();
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let changes = [
        ("timezone", "Europe/Milano"),
        ("working_hours.tue", "09:00-13:00, 25:00-26:00"),
        ("holidays", "12-25\n2026-13-01\nferragosto"),
    ];
    let reply = browser.post("/console/workspace", &form(&csrf, &changes)).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.is_html());
    let page = reply.text();
    assert!(page.contains("Nothing was saved. Correct the values marked below"), "{page}");
    assert!(page.contains(r#"aria-describedby="timezone-hint timezone-error""#));
    assert!(
        page.contains(
            r#"id="timezone-error">Write a timezone&#39;s IANA name, e.g. Europe/Rome. Check “Europe/Milano”."#
        )
    );
    assert!(page.contains(r#"aria-invalid="true" aria-describedby="hours-tue-error""#));
    assert!(page.contains(r#"id="hours-tue-error">"#) && page.contains("Check “25:00-26:00”."));
    assert!(page.contains(r#"aria-describedby="holidays-hint holidays-error""#));
    assert!(page.contains("Check “2026-13-01”, “ferragosto”."));
    assert!(!page.contains(r#"id="hours-mon-error""#), "only the bad inputs");
    assert!(page.contains(r#"value="09:00-13:00, 25:00-26:00""#), "what was typed stays");
    assert_eq!(stored(&system).await.public_view(), before, "nothing stored");
}

#[tokio::test]
async fn a_token_without_a_number_and_a_number_taken_are_refused_at_their_inputs() {
    let system = start().await;
    // Another workspace already sends from 555.
    let other = avvio_common::domain::WorkspaceId::parse("altro").unwrap();
    let mut doc = Workspace::clone(&*stored(&system).await);
    doc.whatsapp.as_mut().unwrap().phone_number_id = "555".into();
    system.store.put_workspace(&other, &doc, None).await.unwrap();
    let before = stored(&system).await.public_view();
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let reply = browser
        .post("/console/workspace", &form(&csrf, &[("whatsapp.phone_number_id", ""), ("whatsapp.access_token", "t")]))
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.text().contains(r#"id="access-token-error">Enter the phone number ID"#));
    let reply = browser.post("/console/workspace", &form(&csrf, &[("whatsapp.phone_number_id", "555")])).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text());
    assert!(reply.text().contains(r#"id="phone-number-id-error">"#), "{}", reply.text());
    assert_eq!(stored(&system).await.public_view(), before);
}

#[tokio::test]
async fn a_malformed_form_is_a_400_page() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let reply = browser.post("/console/workspace", &form(&csrf, &[("templates", "[]")])).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.is_html() && reply.text().contains("the form has no field `templates`"));
}

#[tokio::test]
async fn the_workspace_page_speaks_italian() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    browser.headers = vec![("accept-language".into(), "it".into())];
    let page = browser.get("/console/workspace").await.text();
    assert!(page.contains("Fuso orario") && page.contains("Orario di lavoro") && page.contains("Lunedì"));
    assert!(page.contains("Giorni festivi") && page.contains("Impostato") && page.contains("Salva"));
    let csrf = browser.csrf().await;
    let reply = browser.post("/console/workspace", &form(&csrf, &[("working_hours.mon", "9-13")])).await;
    assert!(reply.text().contains("Scrivi gli orari come HH:MM-HH:MM"));
}

#[tokio::test]
async fn the_account_s_waba_pace_and_retries_are_shown_edited_and_kept() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let page = browser.get("/console/workspace").await.text();
    assert!(
        page.contains(r#"name="whatsapp.max_sends_per_second" type="number" min="1" max="1000" step="1" value="80""#)
    );
    assert!(page.contains(r#"name="whatsapp.retry_for" type="text" value="4h""#), "{page}");
    assert!(page.contains(r#"name="whatsapp.waba_id" type="text" inputmode="numeric" value="""#));

    let csrf = browser.csrf().await;
    let changes = [
        ("whatsapp.waba_id", "102290129340398"),
        ("whatsapp.max_sends_per_second", "120"),
        ("whatsapp.retry_for", "1h30m"),
    ];
    let reply = browser.post("/console/workspace", &form(&csrf, &changes)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    let account = stored(&system).await.whatsapp.clone().unwrap();
    assert_eq!(account.waba_id.as_deref(), Some("102290129340398"));
    assert_eq!((account.max_sends_per_second, account.retry_for.to_string()), (120, "1h30m".to_string()));
    let page = browser.get("/console/workspace").await.text();
    assert!(page.contains(r#"value="102290129340398""#) && page.contains(r#"value="120""#));

    // A form without those inputs keeps them as stored.
    let reply = browser.post("/console/workspace", &form(&csrf, &[("timezone", "Europe/London")])).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    let kept = stored(&system).await.whatsapp.clone().unwrap();
    assert_eq!(kept, account);

    // Out of range and not a duration: each refused at its input, nothing stored.
    let bad = [("whatsapp.max_sends_per_second", "1001"), ("whatsapp.retry_for", "soon")];
    let reply = browser.post("/console/workspace", &form(&csrf, &bad)).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = reply.text();
    assert!(page.contains(r#"id="max-sends-error">Write a whole number from 1 to 1000. Check “1001”."#), "{page}");
    assert!(page.contains(r#"id="retry-for-error">"#));
    assert_eq!(stored(&system).await.whatsapp.clone().unwrap(), account);

    // An account needs a number of it.
    let reply = browser.post("/console/workspace", &form(&csrf, &[("whatsapp.phone_number_id", "")])).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.text().contains(r#"id="waba-id-error">Enter the phone number ID of a number of this account."#));
}

#[tokio::test]
async fn the_runs_retention_is_shown_edited_and_refused_below_a_day_at_its_input() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let page = browser.get("/console/workspace").await.text();
    assert!(page.contains(r#"name="runs_retention" type="text" value="90d""#), "{page}");

    let csrf = browser.csrf().await;
    let reply = browser.post("/console/workspace", &form(&csrf, &[("runs_retention", "30d")])).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(stored(&system).await.runs_retention.to_string(), "30d");

    for bad in ["12h", "400d", "soon"] {
        let reply = browser.post("/console/workspace", &form(&csrf, &[("runs_retention", bad)])).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let page = reply.text();
        assert!(
            page.contains(&format!(
                r#"id="runs-retention-error">Write a duration from 1d to 366d, e.g. 90d. Check “{bad}”."#
            )),
            "{page}"
        );
        assert_eq!(stored(&system).await.runs_retention.to_string(), "30d", "nothing stored");
    }
}
