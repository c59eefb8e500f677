//! The store contract: what every `Store` + `Management` adapter answers, whatever keeps its
//! items. Each check takes a fresh, empty store of its own; the stories are also told to the
//! `MemoryStore` and must get the same answers. An adapter runs them all with
//! [`store_contract_tests!`](crate::store_contract_tests).

use avvio_common::calendar::Due;
use avvio_common::catalog::CatalogError;
use avvio_common::domain::contact::Contact;
use avvio_common::domain::path::StepPath;
use avvio_common::domain::run::RunCause;
use avvio_common::domain::workspace::{Secret, Workspace};
use avvio_common::domain::{
    Automation, AutomationId, Bsuid, ContactKey, FieldKey, ListName, Phrase, Run, RunId, RunStatus, StepStatus, Tag,
    WaId, Wamid, WorkspaceId,
};
use avvio_common::engine::Liveness;
use avvio_common::memory::MemoryStore;
use avvio_common::ports::{
    ContactFilter, DueDate, KeyHash, Management, MessageCommit, MessageView, MessageWrite, RunBase, RunFilter,
    Snapshot, StepWrite, Store, StoreError, StoredRun, Versioned, WriteError,
};
use avvio_common::stats::{Days, Stats};
use avvio_common::time::{Time, parse_rfc3339};
use avvio_common::webhook::{DeliveryStatus, StatusError, StatusUpdate};
use serde_json::{Value, json};

/// Expands to one `#[tokio::test]` per check of [the contract](crate::contract), each on the
/// store `$make.await` gives: a fresh, empty store no other test shares. The calling crate
/// needs `tokio` with `macros` and `rt` among its dev-dependencies.
///
/// ```ignore
/// avvio_tests::store_contract_tests!(async { fresh_store().await });
/// ```
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@each $make;
            a_workspace_reads_back_with_its_secrets_and_a_stale_revision_is_refused,
            an_account_routes_to_every_workspace_naming_it_and_follows_a_change,
            a_template_status_update_changes_the_stored_template_only,
            the_daily_template_sync_is_claimed_once_a_day,
            a_number_belongs_to_one_workspace_and_follows_it_when_it_changes,
            an_api_key_selects_its_workspace,
            automations_keep_every_version_for_the_runs_pinned_to_them,
            one_phrase_starts_one_automation_only,
            two_automations_racing_for_one_phrase_leave_exactly_one_winner,
            a_workspace_has_one_enabled_fallback_of_each_kind,
            an_integration_id_is_unique_across_workspaces,
            list_and_date_automations_are_found_while_enabled,
            the_catalog_answers_like_the_in_memory_store,
            a_contact_is_created_once_and_updated_only_at_its_revision,
            two_writers_at_one_revision_leave_exactly_one_winner,
            a_contact_linked_to_its_bsuid_is_found_by_either_key,
            list_members_follow_the_lists_of_each_contact,
            contacts_are_filtered_by_tag_and_list_over_many_pages_in_key_order,
            deleting_a_contact_removes_its_keys_memberships_and_date_items,
            contacts_answer_like_the_in_memory_store,
            the_pipelines_reads_and_writes_answer_like_the_in_memory_store,
            a_contact_found_through_its_alias_is_written_back_under_its_home_key,
            a_run_is_created_once_and_runs_are_listed_newest_first_over_many_pages,
            due_dates_come_back_across_workspaces_earliest_first_over_many_pages,
            deleting_an_automation_clears_its_date_items,
            a_list_is_read_a_page_at_a_time_in_key_order_as_the_memory_store_reads_it,
            parked_statuses_come_back_in_order_until_dropped_or_a_day_old,
            contact_pages_are_the_listing_cut_for_every_filter_and_size,
            run_pages_are_the_listing_cut_for_every_filter_and_size,
            automation_pages_are_the_listing_cut_for_every_size,
        );
    };
    (@each $make:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let store = $make.await;
                $crate::contract::$check(&store).await;
            }
        )+
    };
}

const NUMBER: &str = "106540352242922";
const MARIO: &str = "393331234567";

fn ws(raw: &str) -> WorkspaceId {
    WorkspaceId::parse(raw).unwrap()
}

fn t(raw: &str) -> Time {
    parse_rfc3339(raw).unwrap()
}

/// A workspace document with a number, secrets and a template.
fn workspace_doc(number: &str) -> Workspace {
    serde_json::from_value(json!({
        "timezone": "Europe/Rome",
        "working_hours": { "mon": ["09:00-13:00", "14:00-18:00"] },
        "holidays": ["12-25", "easter_monday"],
        "whatsapp": { "phone_number_id": number, "access_token": "EAAG-secret" },
        "webhook_secret": "hook-secret",
        "templates": [ { "name": "welcome", "language": "it", "status": "approved", "body": "Ciao {{1}}" } ]
    }))
    .unwrap()
}

/// A `customer_message` automation sending one text.
fn phrase_automation(id: &str, phrase: &str) -> Automation {
    automation(json!({
        "id": id, "name": id, "trigger": { "type": "customer_message", "phrase": phrase },
        "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Ciao {{name}}!" } } ]
    }))
}

/// An automation with `trigger` and one tag step.
fn triggered(id: &str, trigger: Value) -> Automation {
    automation(json!({
        "id": id, "name": id, "trigger": trigger,
        "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "seen" } } ]
    }))
}

fn automation(doc: Value) -> Automation {
    avvio_common::validate::parse_automation(doc).unwrap()
}

fn id(raw: &str) -> AutomationId {
    AutomationId::parse(raw).unwrap()
}

fn phone(raw: &str) -> ContactKey {
    ContactKey::Phone(WaId::parse(raw).unwrap())
}

fn bsuid(raw: &str) -> ContactKey {
    ContactKey::Bsuid(Bsuid::parse(raw).unwrap())
}

fn list(raw: &str) -> ListName {
    ListName::parse(raw).unwrap()
}

fn phrase(raw: &str) -> Phrase {
    Phrase::parse(raw).unwrap()
}

fn disabled(mut automation: Automation) -> Automation {
    automation.enabled = false;
    automation
}

fn run(run_id: &str, automation: &str, contact: &ContactKey, started_at: Time) -> Run {
    Run {
        id: RunId::parse(run_id).unwrap(),
        automation: id(automation),
        version: 1,
        contact: contact.clone(),
        started_at,
        cause: RunCause::Manual,
        depth: 0,
        block_epoch: 0,
        status: RunStatus::Active,
        steps: Vec::new(),
        retention: avvio_common::domain::run::RUNS_RETENTION,
    }
}

fn due(date: &str, at: &str) -> Due {
    Due { date: chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(), at: t(at) }
}

// ---------------------------------------------------------------- workspaces

pub async fn a_workspace_reads_back_with_its_secrets_and_a_stale_revision_is_refused<S: Management>(store: &S) {
    let negozio = ws("negozio");
    assert!(store.workspace(&negozio).await.unwrap().is_none());

    let first = store.put_workspace(&negozio, &workspace_doc(NUMBER), None).await.unwrap();
    let stored = store.workspace_versioned(&negozio).await.unwrap().unwrap();
    assert_eq!(stored.revision, Some(first));
    let doc = stored.item;
    assert_eq!(doc.webhook_secret.as_ref().map(Secret::expose), Some("hook-secret"));
    let account = doc.whatsapp.as_ref().unwrap();
    assert_eq!(account.access_token.as_ref().map(Secret::expose), Some("EAAG-secret"));
    assert_eq!(doc.stored_view(), workspace_doc(NUMBER).stored_view());

    let second = store.put_workspace(&negozio, &workspace_doc(NUMBER), Some(first)).await.unwrap();
    assert!(second > first);
    let stale = store.put_workspace(&negozio, &workspace_doc(NUMBER), Some(first)).await;
    assert!(matches!(stale, Err(WriteError::Store(StoreError::Conflict(_)))), "{stale:?}");
    let again = store.put_workspace(&negozio, &workspace_doc(NUMBER), None).await;
    assert!(matches!(again, Err(WriteError::Store(StoreError::Conflict(_)))), "{again:?}");
}

/// `workspace_doc(number)` naming WhatsApp Business Account `waba`.
fn with_waba(number: &str, waba: Option<&str>) -> Workspace {
    let mut doc = workspace_doc(number);
    doc.whatsapp.as_mut().unwrap().waba_id = waba.map(str::to_string);
    doc
}

pub async fn an_account_routes_to_every_workspace_naming_it_and_follows_a_change<S: Management>(store: &S) {
    let (negozio, altro) = (ws("negozio"), ws("altro"));
    let first = store.put_workspace(&negozio, &with_waba(NUMBER, Some("1022")), None).await.unwrap();
    store.put_workspace(&altro, &with_waba("106540352249999", Some("1022")), None).await.unwrap();
    assert_eq!(store.workspaces_for_waba("1022").await.unwrap(), [altro.clone(), negozio.clone()]);
    assert_eq!(store.workspaces_for_waba("102").await.unwrap(), Vec::new(), "a prefix of an id is another id");

    // Rewritten with the same account: one route still; moved to another: the old one goes.
    let second = store.put_workspace(&negozio, &with_waba(NUMBER, Some("1022")), Some(first)).await.unwrap();
    store.put_workspace(&negozio, &with_waba(NUMBER, Some("1033")), Some(second)).await.unwrap();
    assert_eq!(store.workspaces_for_waba("1022").await.unwrap(), std::slice::from_ref(&altro));
    assert_eq!(store.workspaces_for_waba("1033").await.unwrap(), std::slice::from_ref(&negozio));
    assert_eq!(store.workspaces_with_waba().await.unwrap(), [altro.clone(), negozio.clone()]);
    let third = store.workspace_versioned(&negozio).await.unwrap().unwrap().revision;
    store.put_workspace(&negozio, &with_waba(NUMBER, None), third).await.unwrap();
    assert_eq!(store.workspaces_with_waba().await.unwrap(), [altro]);
}

pub async fn a_template_status_update_changes_the_stored_template_only<S: Management>(store: &S) {
    use avvio_common::domain::{Language, TemplateName, TemplateStatus};
    let negozio = ws("negozio");
    store.put_workspace(&negozio, &with_waba(NUMBER, Some("1022")), None).await.unwrap();
    let (welcome, it) = (TemplateName::parse("welcome").unwrap(), Language::parse("it").unwrap());
    assert!(store.set_template_status(&negozio, &welcome, &it, TemplateStatus::Paused).await.unwrap());
    let doc = store.workspace(&negozio).await.unwrap().unwrap();
    assert_eq!(doc.templates[0].status, TemplateStatus::Paused);
    assert_eq!(doc.whatsapp.as_ref().unwrap().access_token.as_ref().map(Secret::expose), Some("EAAG-secret"));
    let unknown = TemplateName::parse("sconosciuto").unwrap();
    assert!(!store.set_template_status(&negozio, &unknown, &it, TemplateStatus::Approved).await.unwrap());
    assert!(!store.set_template_status(&ws("nessuno"), &welcome, &it, TemplateStatus::Approved).await.unwrap());
}

pub async fn the_daily_template_sync_is_claimed_once_a_day<S: Management>(store: &S) {
    let day = |raw: &str| chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap();
    assert!(store.claim_template_sync(day("2026-12-04")).await.unwrap());
    assert!(!store.claim_template_sync(day("2026-12-04")).await.unwrap());
    assert!(!store.claim_template_sync(day("2026-12-03")).await.unwrap(), "never back");
    assert!(store.claim_template_sync(day("2026-12-05")).await.unwrap());
}

pub async fn a_number_belongs_to_one_workspace_and_follows_it_when_it_changes<S: Management>(store: &S) {
    let (negozio, altro) = (ws("negozio"), ws("altro"));
    store.put_workspace(&negozio, &workspace_doc(NUMBER), None).await.unwrap();
    assert_eq!(store.workspace_for_number(NUMBER).await.unwrap(), Some(negozio.clone()));

    let taken = store.put_workspace(&altro, &workspace_doc(NUMBER), None).await;
    assert_eq!(taken.unwrap_err(), WriteError::NumberTaken(NUMBER.into()));
    assert!(store.workspace(&altro).await.unwrap().is_none(), "a refused write changes nothing");

    let revision = store.workspace_versioned(&negozio).await.unwrap().unwrap().revision;
    store.put_workspace(&negozio, &workspace_doc("200000000000001"), revision).await.unwrap();
    assert_eq!(store.workspace_for_number("200000000000001").await.unwrap(), Some(negozio.clone()));
    assert_eq!(store.workspace_for_number(NUMBER).await.unwrap(), None);
    store.put_workspace(&altro, &workspace_doc(NUMBER), None).await.unwrap();
    assert_eq!(store.workspace_for_number(NUMBER).await.unwrap(), Some(altro));
}

pub async fn an_api_key_selects_its_workspace<S: Management>(store: &S) {
    let key = KeyHash::of("avvio_secret_key");
    assert_eq!(store.workspace_for_key(&key).await.unwrap(), None);
    store.put_api_key(&key, &ws("negozio")).await.unwrap();
    assert_eq!(store.workspace_for_key(&key).await.unwrap(), Some(ws("negozio")));
    assert_eq!(store.workspace_for_key(&KeyHash::of("another")).await.unwrap(), None);
}

// ---------------------------------------------------------------- automations

pub async fn automations_keep_every_version_for_the_runs_pinned_to_them<S: Management>(store: &S) {
    let negozio = ws("negozio");
    let info = id("info");

    let v1 = store.create_automation(&negozio, phrase_automation("info", "Vorrei informazioni")).await.unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(
        store.liveness(&negozio, &info).await.unwrap(),
        Some(Liveness { enabled: true, last_disabled_version: 0 })
    );

    let mut changed = phrase_automation("info", "Vorrei informazioni");
    changed.name = "seconda".into();
    let v2 = store.update_automation(&negozio, changed).await.unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(store.automation(&negozio, &info).await.unwrap().unwrap().name, "seconda");
    assert_eq!(store.automation_version(&negozio, &info, 1).await.unwrap().unwrap(), v1);
    assert_eq!(store.automation_version(&negozio, &info, 2).await.unwrap().unwrap(), v2);
    assert_eq!(store.automation_version(&negozio, &info, 3).await.unwrap(), None);

    let v3 =
        store.update_automation(&negozio, disabled(phrase_automation("info", "Vorrei informazioni"))).await.unwrap();
    assert_eq!(
        store.liveness(&negozio, &info).await.unwrap(),
        Some(Liveness { enabled: false, last_disabled_version: 3 })
    );
    // A disabled automation keeps its phrase.
    assert_eq!(store.automation_by_phrase(&negozio, &phrase("vorrei  INFORMAZIONI")).await.unwrap().unwrap(), v3);

    store.delete_automation(&negozio, &info).await.unwrap();
    assert_eq!(store.automation(&negozio, &info).await.unwrap(), None);
    assert_eq!(store.liveness(&negozio, &info).await.unwrap(), None);
    assert_eq!(store.automations(&negozio).await.unwrap(), vec![]);
    assert_eq!(store.automation_by_phrase(&negozio, &phrase("Vorrei informazioni")).await.unwrap(), None);
    assert_eq!(
        store.automation_version(&negozio, &info, 2).await.unwrap().unwrap(),
        v2,
        "versions outlive the automation"
    );
    let gone = store.delete_automation(&negozio, &info).await;
    assert_eq!(gone.unwrap_err(), WriteError::Catalog(CatalogError::NotFound(info.clone())));
    let gone = store.update_automation(&negozio, phrase_automation("info", "x")).await;
    assert_eq!(gone.unwrap_err(), WriteError::Catalog(CatalogError::NotFound(info.clone())));

    let v4 = store.create_automation(&negozio, phrase_automation("info", "Vorrei informazioni")).await.unwrap();
    assert_eq!(v4.version, 4, "a re-created automation continues its versions");
    assert_eq!(
        store.liveness(&negozio, &info).await.unwrap(),
        Some(Liveness { enabled: true, last_disabled_version: 4 })
    );
    let duplicate = store.create_automation(&negozio, phrase_automation("info", "altro")).await;
    assert_eq!(duplicate.unwrap_err(), WriteError::Catalog(CatalogError::DuplicateId(info.clone())));
    assert_eq!(store.automations(&negozio).await.unwrap(), vec![v4.clone()]);
    assert_eq!(store.automation(&ws("altro"), &info).await.unwrap(), None, "automations belong to their workspace");
    let versions: Vec<u32> = store.versions(&negozio, &info).await.unwrap().iter().map(|v| v.version).collect();
    assert_eq!(versions, vec![1, 2, 3, 4], "every version is listed, oldest first, across the deletion");
    assert_eq!(store.versions(&negozio, &id("info-2")).await.unwrap(), vec![], "no other id's versions");
}

pub async fn one_phrase_starts_one_automation_only<S: Management>(store: &S) {
    let negozio = ws("negozio");
    store.create_automation(&negozio, phrase_automation("info", "Vorrei informazioni")).await.unwrap();

    let second = store.create_automation(&negozio, phrase_automation("info-2", "  vorrei INFORMAZIONI ")).await;
    let conflict = CatalogError::PhraseConflict { phrase: phrase("Vorrei informazioni"), holder: id("info") };
    assert_eq!(second.unwrap_err(), WriteError::Catalog(conflict.clone()));
    assert_eq!(store.automation(&negozio, &id("info-2")).await.unwrap(), None);

    store.create_automation(&negozio, phrase_automation("info-2", "Prezzi")).await.unwrap();
    let taking = store.update_automation(&negozio, phrase_automation("info-2", "Vorrei informazioni")).await;
    assert_eq!(taking.unwrap_err(), WriteError::Catalog(conflict));
    assert_eq!(store.automation(&negozio, &id("info-2")).await.unwrap().unwrap().version, 1);

    // The holder moves to another phrase: the old one is free.
    store.update_automation(&negozio, phrase_automation("info", "Orari")).await.unwrap();
    store.update_automation(&negozio, phrase_automation("info-2", "Vorrei informazioni")).await.unwrap();
    assert_eq!(store.automation_by_phrase(&negozio, &phrase("prezzi")).await.unwrap(), None);
    assert_eq!(store.automation_by_phrase(&negozio, &phrase("orari")).await.unwrap().unwrap().id(), &id("info"));
    let holder = store.automation_by_phrase(&negozio, &phrase("vorrei informazioni")).await.unwrap().unwrap();
    assert_eq!(holder.id(), &id("info-2"));
    // Another workspace has phrases of its own.
    store.create_automation(&ws("altro"), phrase_automation("info-3", "Vorrei informazioni")).await.unwrap();
}

pub async fn two_automations_racing_for_one_phrase_leave_exactly_one_winner<S: Management>(store: &S) {
    let negozio = ws("negozio");
    let race = |name: &str| store.create_automation(&negozio, phrase_automation(name, "Promo"));
    let (a, b) = tokio::join!(race("promo-a"), race("promo-b"));
    let results = [a, b];

    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let winner = winners[0].id().clone();
    let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(
        loser,
        &WriteError::Catalog(CatalogError::PhraseConflict { phrase: phrase("Promo"), holder: winner.clone() })
    );
    assert_eq!(store.automation_by_phrase(&negozio, &phrase("promo")).await.unwrap().unwrap().id(), &winner);
    assert_eq!(store.automations(&negozio).await.unwrap().len(), 1);
}

pub async fn a_workspace_has_one_enabled_fallback_of_each_kind<S: Management>(store: &S) {
    let negozio = ws("negozio");
    let holiday = |id: &str| triggered(id, json!({ "type": "holiday" }));
    store.create_automation(&negozio, holiday("natale")).await.unwrap();
    store
        .create_automation(&negozio, triggered("chiuso", json!({ "type": "outside_hours", "cooldown": "1h" })))
        .await
        .unwrap();

    let second = store.create_automation(&negozio, holiday("pasqua")).await;
    let conflict = CatalogError::FallbackConflict { kind: "holiday", holder: id("natale") };
    assert_eq!(second.unwrap_err(), WriteError::Catalog(conflict.clone()));
    // A disabled one may wait; enabling it is the conflict.
    store.create_automation(&negozio, disabled(holiday("pasqua"))).await.unwrap();
    assert_eq!(store.update_automation(&negozio, holiday("pasqua")).await.unwrap_err(), WriteError::Catalog(conflict));

    let fallbacks = store.fallbacks(&negozio).await.unwrap();
    assert_eq!(fallbacks.holiday.unwrap().id(), &id("natale"));
    assert_eq!(fallbacks.outside_hours.unwrap().id(), &id("chiuso"));

    store.update_automation(&negozio, disabled(holiday("natale"))).await.unwrap();
    assert!(store.fallbacks(&negozio).await.unwrap().holiday.is_none());
    store.update_automation(&negozio, holiday("pasqua")).await.unwrap();
    assert_eq!(store.fallbacks(&negozio).await.unwrap().holiday.unwrap().id(), &id("pasqua"));
    store.delete_automation(&negozio, &id("chiuso")).await.unwrap();
    assert!(store.fallbacks(&negozio).await.unwrap().outside_hours.is_none());
}

pub async fn an_integration_id_is_unique_across_workspaces<S: Management>(store: &S) {
    let (negozio, altro) = (ws("negozio"), ws("altro"));
    let hook = || triggered("ordine", json!({ "type": "integration", "secret": "s3" }));
    let created = store.create_automation(&negozio, hook()).await.unwrap();
    assert_eq!(store.integration_automation(&id("ordine")).await.unwrap(), Some((negozio.clone(), created)));

    let taken = store.create_automation(&altro, hook()).await;
    assert_eq!(taken.unwrap_err(), WriteError::IntegrationIdTaken(id("ordine")));
    // The same id with another trigger is no hook: allowed.
    store.create_automation(&altro, phrase_automation("ordine", "ordine")).await.unwrap();
    let taken = store.update_automation(&altro, hook()).await;
    assert_eq!(taken.unwrap_err(), WriteError::IntegrationIdTaken(id("ordine")));

    // Its own workspace may update it; once it is no hook any more, the id is free.
    let updated = store.update_automation(&negozio, disabled(hook())).await.unwrap();
    assert_eq!(store.integration_automation(&id("ordine")).await.unwrap(), Some((negozio.clone(), updated)));
    store.update_automation(&negozio, phrase_automation("ordine", "ordine")).await.unwrap();
    assert_eq!(store.integration_automation(&id("ordine")).await.unwrap(), None);
    let moved = store.update_automation(&altro, hook()).await.unwrap();
    assert_eq!(store.integration_automation(&id("ordine")).await.unwrap(), Some((altro.clone(), moved)));
    store.delete_automation(&altro, &id("ordine")).await.unwrap();
    assert_eq!(store.integration_automation(&id("ordine")).await.unwrap(), None);
}

pub async fn list_and_date_automations_are_found_while_enabled<S: Management>(store: &S) {
    let negozio = ws("negozio");
    let on_list = |id: &str, name: &str| triggered(id, json!({ "type": "list", "list": name }));
    let birthday =
        |id: &str| triggered(id, json!({ "type": "date", "field": "birthday", "time": "09:00", "annual": true }));
    store.create_automation(&negozio, on_list("vip-1", "vip")).await.unwrap();
    store.create_automation(&negozio, on_list("vip-2", "vip")).await.unwrap();
    store.create_automation(&negozio, on_list("vip-x", "vip#x")).await.unwrap();
    store.create_automation(&negozio, birthday("auguri")).await.unwrap();
    store.create_automation(&negozio, disabled(birthday("auguri-2"))).await.unwrap();

    let ids = |automations: Vec<std::sync::Arc<Automation>>| {
        automations.iter().map(|a| a.id().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(ids(store.list_automations(&negozio, &list("vip")).await.unwrap()), ["vip-1", "vip-2"]);
    assert_eq!(ids(store.list_automations(&negozio, &list("vip#x")).await.unwrap()), ["vip-x"]);
    assert_eq!(ids(store.date_automations(&negozio).await.unwrap()), ["auguri"]);

    store.update_automation(&negozio, disabled(on_list("vip-1", "vip"))).await.unwrap();
    store.update_automation(&negozio, on_list("vip-2", "clienti")).await.unwrap();
    store.update_automation(&negozio, birthday("auguri-2")).await.unwrap();
    store.delete_automation(&negozio, &id("auguri")).await.unwrap();
    assert!(store.list_automations(&negozio, &list("vip")).await.unwrap().is_empty());
    assert_eq!(ids(store.list_automations(&negozio, &list("clienti")).await.unwrap()), ["vip-2"]);
    assert_eq!(ids(store.date_automations(&negozio).await.unwrap()), ["auguri-2"]);
    assert!(store.list_automations(&ws("altro"), &list("clienti")).await.unwrap().is_empty());
}

/// Checks a store's answers to a story against the memory store's, one by one.
fn assert_answers_alike(told: &[String], memory: &[String]) {
    for (i, (m, s)) in memory.iter().zip(told).enumerate() {
        assert_eq!(s, m, "answer {} differs from the memory store's", i + 1);
    }
    assert_eq!(told.len(), memory.len(), "as many answers as the memory store's");
}

/// A story of catalog writes and reads; every answer, as text.
async fn catalog_story<S: Management>(store: &S) -> Vec<String> {
    let (negozio, altro) = (ws("negozio"), ws("altro"));
    let holiday = |id: &str| triggered(id, json!({ "type": "holiday" }));
    let hook = || triggered("ordine", json!({ "type": "integration", "secret": "s3" }));
    let on_list = |id: &str| triggered(id, json!({ "type": "list", "list": "vip" }));
    let mut log = Vec::new();
    log.push(format!("{:?}", store.create_automation(&negozio, phrase_automation("info", "Info")).await));
    log.push(format!("{:?}", store.create_automation(&negozio, phrase_automation("info-2", " INFO")).await));
    log.push(format!("{:?}", store.create_automation(&negozio, holiday("natale")).await));
    log.push(format!("{:?}", store.create_automation(&negozio, holiday("pasqua")).await));
    log.push(format!("{:?}", store.create_automation(&negozio, disabled(holiday("pasqua"))).await));
    log.push(format!("{:?}", store.update_automation(&negozio, holiday("pasqua")).await));
    log.push(format!("{:?}", store.update_automation(&negozio, disabled(holiday("natale"))).await));
    log.push(format!("{:?}", store.update_automation(&negozio, holiday("pasqua")).await));
    log.push(format!("{:?}", store.create_automation(&negozio, hook()).await));
    log.push(format!("{:?}", store.create_automation(&altro, hook()).await));
    log.push(format!("{:?}", store.create_automation(&negozio, on_list("vip")).await));
    log.push(format!("{:?}", store.update_automation(&negozio, disabled(phrase_automation("info", "Info"))).await));
    log.push(format!("{:?}", store.liveness(&negozio, &id("info")).await));
    log.push(format!("{:?}", store.update_automation(&negozio, phrase_automation("info", "Info")).await));
    log.push(format!("{:?}", store.liveness(&negozio, &id("info")).await));
    log.push(format!("{:?}", store.delete_automation(&negozio, &id("info")).await));
    log.push(format!("{:?}", store.liveness(&negozio, &id("info")).await));
    log.push(format!("{:?}", store.automation_version(&negozio, &id("info"), 2).await));
    log.push(format!("{:?}", store.create_automation(&negozio, phrase_automation("info-2", "Info")).await));
    log.push(format!("{:?}", store.create_automation(&negozio, phrase_automation("info", "Altro")).await));
    log.push(format!("{:?}", store.liveness(&negozio, &id("info")).await));
    log.push(format!("{:?}", store.create_automation(&negozio, holiday("natale")).await));
    log.push(format!("{:?}", store.delete_automation(&negozio, &id("nessuna")).await));
    log.push(format!("{:?}", store.update_automation(&negozio, holiday("nessuna")).await));
    log.push(format!("{:?}", store.automations(&negozio).await));
    log.push(format!("{:?}", store.fallbacks(&negozio).await));
    log.push(format!("{:?}", store.automation_by_phrase(&negozio, &phrase("info")).await));
    log.push(format!("{:?}", store.list_automations(&negozio, &list("vip")).await));
    log.push(format!("{:?}", store.integration_automation(&id("ordine")).await));
    log
}

pub async fn the_catalog_answers_like_the_in_memory_store<S: Management>(store: &S) {
    let memory = catalog_story(&MemoryStore::new()).await;
    let told = catalog_story(store).await;
    assert_answers_alike(&told, &memory);
    // The story does meet the rules.
    for (answer, rule) in [(1, "PhraseConflict"), (3, "FallbackConflict"), (9, "IntegrationIdTaken"), (22, "NotFound")]
    {
        assert!(told[answer].contains(rule), "answer {}: {}", answer + 1, told[answer]);
    }
}

// ---------------------------------------------------------------- contacts

pub async fn a_contact_is_created_once_and_updated_only_at_its_revision<S: Management>(store: &S) {
    let negozio = ws("negozio");
    let mario = phone(MARIO);
    let mut contact = Contact::new(&mario);
    contact.name = Some("Mario".into());
    let first = store.put_contact(&negozio, &contact, None).await.unwrap();
    assert!(matches!(store.put_contact(&negozio, &contact, None).await, Err(StoreError::Conflict(_))));

    let stored = store.contact(&negozio, &mario).await.unwrap().unwrap();
    assert_eq!(stored, Versioned { item: contact.clone(), revision: Some(first) });
    contact.fields.insert(FieldKey::parse("city").unwrap(), "Milano".into());
    let second = store.put_contact(&negozio, &contact, Some(first)).await.unwrap();
    assert!(second > first);
    contact.name = Some("stale".into());
    assert!(matches!(store.put_contact(&negozio, &contact, Some(first)).await, Err(StoreError::Conflict(_))));

    let stored = store.contact(&negozio, &mario).await.unwrap().unwrap();
    assert_eq!(stored.item.name.as_deref(), Some("Mario"));
    assert_eq!(stored.item.fields.get("city").map(String::as_str), Some("Milano"));
    assert_eq!(stored.revision, Some(second));
    assert!(store.contact(&ws("altro"), &mario).await.unwrap().is_none());
    assert!(matches!(store.put_contact(&ws("altro"), &contact, Some(first)).await, Err(StoreError::Conflict(_))));
}

pub async fn two_writers_at_one_revision_leave_exactly_one_winner<S: Management>(store: &S) {
    let negozio = ws("negozio");
    let revision = store.put_contact(&negozio, &Contact::new(&phone(MARIO)), None).await.unwrap();
    let write = |name: &str| {
        let mut contact = Contact::new(&phone(MARIO));
        contact.name = Some(name.into());
        let negozio = &negozio;
        async move { store.put_contact(negozio, &contact, Some(revision)).await }
    };
    let (a, b) = tokio::join!(write("a"), write("b"));
    let results = [a, b];
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().any(|r| matches!(r, Err(StoreError::Conflict(_)))), "{results:?}");
}

pub async fn a_contact_linked_to_its_bsuid_is_found_by_either_key<S: Management>(store: &S) {
    let negozio = ws("negozio");
    let (mario, mario_id) = (phone(MARIO), bsuid("IT.1502576394655843"));
    let mut contact = Contact::new(&mario);
    let revision = store.put_contact(&negozio, &contact, None).await.unwrap();
    contact.bsuid = Some(Bsuid::parse("IT.1502576394655843").unwrap());
    let revision = store.put_contact(&negozio, &contact, Some(revision)).await.unwrap();
    for key in [&mario, &mario_id] {
        let found = store.contact(&negozio, key).await.unwrap().unwrap();
        assert_eq!(found, Versioned { item: contact.clone(), revision: Some(revision) }, "by {key}");
    }

    // Known first by BSUID only (a username user), then by phone too.
    let (anna, anna_id) = (phone("393470000001"), bsuid("IT.99"));
    let mut contact = Contact::new(&anna_id);
    let revision = store.put_contact(&negozio, &contact, None).await.unwrap();
    assert!(store.contact(&negozio, &anna).await.unwrap().is_none());
    contact.phone = Some(WaId::parse("393470000001").unwrap());
    contact.lists.insert(list("vip"));
    let revision = store.put_contact(&negozio, &contact, Some(revision)).await.unwrap();
    let by_phone = store.contact(&negozio, &anna).await.unwrap().unwrap();
    assert_eq!(by_phone, Versioned { item: contact.clone(), revision: Some(revision) });
    contact.name = Some("Anna".into());
    let revision = store.put_contact(&negozio, &contact, by_phone.revision).await.unwrap();
    assert_eq!(store.contact(&negozio, &anna_id).await.unwrap().unwrap().revision, Some(revision));
    assert_eq!(store.list_members(&negozio, &list("vip")).await.unwrap(), vec![contact.clone()]);

    // A new contact cannot take a key another one has.
    let clash = Contact::new(&anna);
    assert!(matches!(store.put_contact(&negozio, &clash, None).await, Err(StoreError::Conflict(_))));
    let all = store.contacts(&negozio, &ContactFilter::default()).await.unwrap();
    assert_eq!(all.len(), 2);
}

pub async fn list_members_follow_the_lists_of_each_contact<S: Management>(store: &S) {
    let negozio = ws("negozio");
    let mut revisions = Vec::new();
    let mut contacts = Vec::new();
    for (i, lists) in [vec!["vip"], vec!["vip", "clienti"], vec![]].into_iter().enumerate() {
        let mut contact = Contact::new(&phone(&format!("39333000000{i}")));
        contact.lists = lists.into_iter().map(list).collect();
        revisions.push(store.put_contact(&negozio, &contact, None).await.unwrap());
        contacts.push(contact);
    }
    let members = |name: &'static str| {
        let negozio = &negozio;
        async move {
            let found = store.list_members(negozio, &list(name)).await.unwrap();
            found.iter().map(|c| c.key().to_string()).collect::<Vec<_>>()
        }
    };
    assert_eq!(members("vip").await, ["393330000000", "393330000001"]);
    assert_eq!(members("clienti").await, ["393330000001"]);

    contacts[0].lists.clear();
    contacts[2].lists.insert(list("clienti"));
    store.put_contact(&negozio, &contacts[0], Some(revisions[0])).await.unwrap();
    store.put_contact(&negozio, &contacts[2], Some(revisions[2])).await.unwrap();
    assert_eq!(members("vip").await, ["393330000001"]);
    assert_eq!(members("clienti").await, ["393330000001", "393330000002"]);
    assert!(members("nessuna").await.is_empty());
}

pub async fn contacts_are_filtered_by_tag_and_list_over_many_pages_in_key_order<S: Management>(store: &S) {
    let negozio = ws("negozio");
    for i in (0..10).rev() {
        let mut contact = Contact::new(&phone(&format!("3933300000{i:02}")));
        if i % 2 == 0 {
            contact.tags.insert(Tag::parse("lead").unwrap());
        }
        if i % 3 == 0 {
            contact.lists.insert(list("vip"));
        }
        store.put_contact(&negozio, &contact, None).await.unwrap();
    }
    store.put_contact(&negozio, &Contact::new(&bsuid("IT.7")), None).await.unwrap();
    store.put_contact(&ws("altro"), &Contact::new(&phone("393339999999")), None).await.unwrap();

    let keys = |found: Vec<Contact>| found.iter().map(|c| c.key().to_string()).collect::<Vec<_>>();
    let all = keys(store.contacts(&negozio, &ContactFilter::default()).await.unwrap());
    assert_eq!(all.len(), 11);
    assert_eq!(all[0], "393330000000");
    assert_eq!(all[9], "393330000009");
    assert_eq!(all[10], "IT.7", "phones first, then BSUIDs, as ContactKey orders them");
    let leads = ContactFilter { tag: Some(Tag::parse("lead").unwrap()), list: None };
    assert_eq!(keys(store.contacts(&negozio, &leads).await.unwrap()).len(), 5);
    let vip_leads = ContactFilter { tag: Some(Tag::parse("lead").unwrap()), list: Some(list("vip")) };
    assert_eq!(keys(store.contacts(&negozio, &vip_leads).await.unwrap()), ["393330000000", "393330000006"]);
    let vip = ContactFilter { tag: None, list: Some(list("vip")) };
    assert_eq!(keys(store.contacts(&negozio, &vip).await.unwrap()).len(), 4);
}

pub async fn deleting_a_contact_removes_its_keys_memberships_and_date_items<S: Management>(store: &S) {
    let negozio = ws("negozio");
    store
        .create_automation(
            &negozio,
            triggered("auguri", json!({ "type": "date", "field": "birthday", "time": "09:00" })),
        )
        .await
        .unwrap();
    let (mario, mario_id) = (phone(MARIO), bsuid("IT.42"));
    let mut contact = Contact::new(&mario);
    contact.bsuid = Some(Bsuid::parse("IT.42").unwrap());
    contact.lists.insert(list("vip"));
    store.put_contact(&negozio, &contact, None).await.unwrap();
    let other = Contact::new(&phone("393470000001"));
    store.put_contact(&negozio, &other, None).await.unwrap();
    let when = due("2026-03-01", "2026-03-01T08:00:00Z");
    store.set_date_due(&negozio, &id("auguri"), &mario, Some(when)).await.unwrap();
    store.set_date_due(&negozio, &id("auguri"), &phone("393470000001"), Some(when)).await.unwrap();

    assert!(store.delete_contact(&negozio, &mario_id).await.unwrap());
    assert!(store.contact(&negozio, &mario).await.unwrap().is_none());
    assert!(store.contact(&negozio, &mario_id).await.unwrap().is_none());
    assert!(store.list_members(&negozio, &list("vip")).await.unwrap().is_empty());
    let due = store.due_dates(t("2026-03-02T00:00:00Z")).await.unwrap();
    assert_eq!(due.iter().map(|d| d.contact.to_string()).collect::<Vec<_>>(), ["393470000001"]);
    assert_eq!(store.contacts(&negozio, &ContactFilter::default()).await.unwrap(), vec![other]);
    assert!(!store.delete_contact(&negozio, &mario).await.unwrap());

    // The keys are free again: a new contact starts from scratch.
    let fresh = Contact::new(&mario_id);
    store.put_contact(&negozio, &fresh, None).await.unwrap();
    assert_eq!(store.contact(&negozio, &mario_id).await.unwrap().unwrap().item, fresh);
    assert!(store.list_members(&negozio, &list("vip")).await.unwrap().is_empty());
}

/// A story of contact writes and reads; every answer, as text.
async fn contact_story<S: Management>(store: &S) -> Vec<String> {
    let negozio = ws("negozio");
    let (anna, anna_id) = (phone("393470000001"), bsuid("IT.99"));
    let vip = ContactFilter { tag: None, list: Some(list("vip")) };
    let mut log = Vec::new();
    let mut contact = Contact::new(&anna_id);
    log.push(format!("{:?}", store.put_contact(&negozio, &contact, None).await));
    log.push(format!("{:?}", store.put_contact(&negozio, &contact, None).await));
    contact.phone = Some(WaId::parse("393470000001").unwrap());
    contact.lists.insert(list("vip"));
    log.push(format!("{:?}", store.put_contact(&negozio, &contact, Some(1)).await));
    log.push(format!("{:?}", store.put_contact(&negozio, &contact, Some(1)).await));
    log.push(format!("{:?}", store.contact(&negozio, &anna).await));
    log.push(format!("{:?}", store.contact(&negozio, &anna_id).await));
    log.push(format!("{:?}", store.put_contact(&negozio, &Contact::new(&phone(MARIO)), None).await));
    log.push(format!("{:?}", store.list_members(&negozio, &list("vip")).await));
    log.push(format!("{:?}", store.contacts(&negozio, &vip).await));
    log.push(format!("{:?}", store.contacts(&negozio, &ContactFilter::default()).await));
    log.push(format!("{:?}", store.delete_contact(&negozio, &anna).await));
    log.push(format!("{:?}", store.delete_contact(&negozio, &anna_id).await));
    log.push(format!("{:?}", store.contact(&negozio, &anna_id).await));
    log.push(format!("{:?}", store.put_contact(&negozio, &Contact::new(&anna), None).await));
    log.push(format!("{:?}", store.list_members(&negozio, &list("vip")).await));
    log.push(format!("{:?}", store.contacts(&negozio, &ContactFilter::default()).await));
    log
}

pub async fn contacts_answer_like_the_in_memory_store<S: Management>(store: &S) {
    let memory = contact_story(&MemoryStore::new()).await;
    let told = contact_story(store).await;
    assert_answers_alike(&told, &memory);
}

// ---------------------------------------------------------------- messages and runs

/// The matcher's and executor's reads and writes, answer by answer (without where each
/// store files a contact, which is the adapter's business).
async fn pipeline_story<S: Management>(store: &S) -> Vec<String> {
    let negozio = ws("negozio");
    let mut log = Vec::new();
    let mut say = |answer: String| log.push(answer);
    store.put_workspace(&negozio, &workspace_doc(NUMBER), None).await.unwrap();
    store.create_automation(&negozio, phrase_automation("info", "Vorrei informazioni")).await.unwrap();
    let holiday = triggered("ferie", json!({ "type": "holiday", "cooldown": "1d" }));
    store.create_automation(&negozio, holiday).await.unwrap();
    let (wamid, now) = (Wamid::parse("wamid.HBgLMzkzMzMxMjM0NTY3FQIAEhgg").unwrap(), t("2026-11-23T09:00:00Z"));
    let keys = [phone(MARIO), bsuid("IT.1")];
    let phrases = [phrase("vorrei informazioni"), phrase("prezzi")];
    let view = |label: &str, view: MessageView| {
        let automations = |a: &[Option<std::sync::Arc<Automation>>]| {
            a.iter().map(|a| a.as_ref().map(|a| a.id().to_string())).collect::<Vec<_>>()
        };
        format!(
            "{label}: workspace {:?} claimed {:?} contact {:?} phrases {:?} holiday {:?}",
            view.workspace.is_some(),
            view.claimed,
            view.contact.map(|c| (c.contact, c.revision)),
            automations(&view.phrases),
            view.fallbacks.holiday.map(|a| a.id().to_string()),
        )
    };

    let first = store.message_view(&negozio, &wamid, &keys, &phrases).await.unwrap();
    say(view("new sender", first));
    let mut mario = Contact::new(&keys[0]);
    mario.bsuid = Some(Bsuid::parse("IT.1").unwrap());
    let mut started = run("r-1", "info", &keys[0], now);
    started.steps.push(avvio_common::domain::run::StepRecord::new(
        StepPath::first(),
        avvio_common::domain::automation::ActionKind::SendText,
        StepStatus::Sending,
        now,
        None,
    ));
    // A first step due later than the message: a redelivery must find it at its own time.
    let first = [avvio_common::engine::StepDue {
        run: started.id.clone(),
        step: StepPath::first(),
        due: now + chrono::Duration::hours(1),
    }];
    let created = [&started];
    let write =
        MessageWrite { wamid: &wamid, before: None, contact: &mario, started: &created, updated: &[], queued: &first };
    let written = match store.commit_message(&negozio, write, now).await.unwrap() {
        MessageCommit::Written { revision, home } => Snapshot { contact: mario.clone(), revision, home },
        MessageCommit::Duplicate => panic!("the first write of a message is no duplicate"),
    };
    say(format!("written: {:?} rev {}", written.contact, written.revision));
    say(format!(
        "again: {:?}",
        store.commit_message(&negozio, write, now).await.map(|c| c == MessageCommit::Duplicate)
    ));
    let other = Wamid::parse("wamid.other").unwrap();
    let stale = MessageWrite { wamid: &other, before: None, contact: &mario, started: &[], updated: &[], queued: &[] };
    say(format!("a new contact whose key is taken: {:?}", store.commit_message(&negozio, stale, now).await));
    say(view("known sender", store.message_view(&negozio, &wamid, &keys, &phrases).await.unwrap()));
    say(view("by BSUID only", store.message_view(&negozio, &other, &keys[1..], &[]).await.unwrap()));
    say(format!("still unclaimed: {:?}", store.message_view(&negozio, &other, &keys, &[]).await.unwrap().claimed));

    let step = store.step_view(&negozio, &started.id).await.unwrap();
    say(format!(
        "step view: run {:?} automation {:?} liveness {:?} contact {:?} workspace {}",
        step.run.as_ref().map(|r| (r.run.steps.len(), r.revision)),
        step.automation.as_ref().map(|a| (a.id().to_string(), a.version)),
        step.liveness,
        step.contact.as_ref().map(|c| (&c.contact, c.revision)),
        step.workspace.is_some(),
    ));
    say(format!("unknown run: {:?}", store.step_view(&negozio, &RunId::parse("r-none").unwrap()).await.unwrap().run));
    say(format!(
        "step 0 claimed again: {:?}",
        store.claim_step(&negozio, &started, StepPath::first(), &RunBase::of(&started, 1)).await
    ));
    let mut sending = started.clone();
    sending.steps.push(avvio_common::domain::run::StepRecord { step: StepPath::top(1), ..started.steps[0].clone() });
    let created_base = RunBase::of(&started, 1);
    say(format!("step 1 claimed: {:?}", store.claim_step(&negozio, &sending, StepPath::top(1), &created_base).await));
    say(format!(
        "step 1 claimed again: {:?}",
        store.claim_step(&negozio, &sending, StepPath::top(1), &created_base).await
    ));
    let mut delivered = sending.clone();
    delivered.steps[0].delivery = Some("delivered".into());
    say(format!("a status over a stale revision: {:?}", store.put_run(&negozio, &delivered, &created_base).await));
    let claimed = RunBase::of(&sending, 2);
    say(format!("a status over the claim: {:?}", store.put_run(&negozio, &delivered, &claimed).await));

    let mut tagged = written.contact.clone();
    tagged.tags.insert(Tag::parse("lead").unwrap());
    let mut done = started.clone();
    done.status = RunStatus::Completed;
    let sent = Wamid::parse("wamid.out.1").unwrap();
    // A run the step starts (a start_automation), created with its result.
    let child = run("r-child", "info", &keys[0], now);
    let children = [&child];
    let result = StepWrite {
        run: &done,
        base: &claimed,
        contact: Some((&tagged, &written)),
        sent: Some((&sent, StepPath::first())),
        started: &children,
    };
    say(format!("a step result over a stale revision: {:?}", store.commit_step(&negozio, result, now).await));
    say(format!("the contact after it: {:?}", store.contact(&negozio, &keys[0]).await.unwrap().map(|c| c.revision)));
    let after_status = RunBase::of(&delivered, 3);
    let result = StepWrite { base: &after_status, ..result };
    let after = store.commit_step(&negozio, result, now).await.unwrap().unwrap();
    say(format!("step written: {:?} rev {}", after.contact.tags, after.revision));
    say(format!("stale step write: {:?}", store.commit_step(&negozio, result, now).await));
    say(format!("run: {:?}", store.run(&negozio, &done.id).await.unwrap().map(|r| (r.run.status, r.revision))));
    say(format!("link: {:?}", store.outbound(&negozio, &sent).await));
    say(format!("other workspace's link: {:?}", store.outbound(&ws("altro"), &sent).await));
    say(format!("started run: {:?}", store.run(&negozio, &child.id).await.unwrap().map(|r| r.revision)));
    let day = Days::last(1, now.date_naive());
    let counted = Stats::sum(&store.stats(&negozio, &id("info"), day).await.unwrap());
    let runs = [store.run(&negozio, &done.id).await.unwrap().unwrap().run, child.clone()];
    say(format!("stats: {counted:?}"));
    say(format!("stats equal a recount: {}", counted == Stats::recount(&runs)));
    let activity = store.activity(&negozio, day).await.unwrap();
    say(format!(
        "activity: {:?}",
        activity.iter().map(|(a, _)| a.to_string()).collect::<std::collections::BTreeSet<_>>()
    ));
    log
}

pub async fn the_pipelines_reads_and_writes_answer_like_the_in_memory_store<S: Management>(store: &S) {
    let memory = pipeline_story(&MemoryStore::new()).await;
    let told = pipeline_story(store).await;
    assert_answers_alike(&told, &memory);
    assert!(memory[0].contains("claimed None contact None phrases [Some(\"info\"), None] holiday Some(\"ferie\")"));
    assert!(memory[2].ends_with("Ok(true)"), "a message is committed once: {}", memory[2]);
    assert!(memory[3].contains("Err(Conflict"), "{}", memory[3]);
    assert!(memory[4].contains("claimed Some([StepDue") && memory[4].contains("r-1"), "{}", memory[4]);
    assert!(memory[4].contains("10:00:00"), "the first step's due time is kept: {}", memory[4]);
    assert!(memory[6].ends_with("None"), "a refused write claims nothing: {}", memory[6]);
    let claims = &memory[9..12];
    assert!(claims[0].ends_with("Ok(None)") && claims[1].ends_with("Ok(Some(2))") && claims[2].ends_with("Ok(None)"));
    assert!(memory[12].contains("Err(Conflict"), "a status over a stale revision is refused: {}", memory[12]);
    assert!(memory[13].ends_with("Ok(3)"), "{}", memory[13]);
    assert!(memory[14].contains("Err(Conflict(\"run r-1\"))"), "a result over a stale run is refused: {}", memory[14]);
    assert!(memory[15].ends_with("Some(Some(1))"), "… and writes no contact: {}", memory[15]);
    assert!(memory[17].contains("Err(Conflict"), "{}", memory[17]);
    assert!(memory[18].ends_with("Some((Completed, 4))"), "{}", memory[18]);
    assert!(memory[21].ends_with("Some(1)"), "the started run is created with the step's result: {}", memory[21]);
    assert!(memory[22].contains("started: 2, active: 1, ended: 1"), "{}", memory[22]);
    assert_eq!(memory[23], "stats equal a recount: true");
}

pub async fn a_contact_found_through_its_alias_is_written_back_under_its_home_key<S: Management>(store: &S) {
    let negozio = ws("negozio");
    let now = t("2026-11-23T09:00:00Z");
    // Created by BSUID (its home), then its phone is learned.
    let mut anna = Contact::new(&bsuid("IT.7"));
    store.put_contact(&negozio, &anna, None).await.unwrap();
    anna.phone = Some(WaId::parse("393470000001").unwrap());
    store.put_contact(&negozio, &anna, Some(1)).await.unwrap();

    let keys = [phone("393470000001"), bsuid("IT.7")];
    let wamid = Wamid::parse("wamid.anna").unwrap();
    let view = store.message_view(&negozio, &wamid, &keys, &[]).await.unwrap();
    let before = view.contact.expect("found through the phone's alias");
    assert_eq!((before.home.clone(), before.revision), (bsuid("IT.7"), 2));
    let mut named = before.contact.clone();
    named.name = Some("Anna".into());
    let write =
        MessageWrite { wamid: &wamid, before: Some(&before), contact: &named, started: &[], updated: &[], queued: &[] };
    let written = store.commit_message(&negozio, write, now).await.unwrap();
    assert_eq!(written, MessageCommit::Written { revision: 3, home: bsuid("IT.7") });
    let stored = store.contact(&negozio, &keys[0]).await.unwrap().unwrap();
    assert_eq!((stored.item.name.as_deref(), stored.revision), (Some("Anna"), Some(3)));
    assert_eq!(store.contacts(&negozio, &ContactFilter::default()).await.unwrap().len(), 1, "no second document");
}

pub async fn a_run_is_created_once_and_runs_are_listed_newest_first_over_many_pages<S: Management>(store: &S) {
    let negozio = ws("negozio");
    let (mario, anna) = (phone(MARIO), phone("393470000001"));
    let first = run("run-a", "info", &mario, t("2026-11-23T09:00:00Z"));
    assert!(store.create_run(&negozio, &first).await.unwrap());
    assert!(!store.create_run(&negozio, &first).await.unwrap());
    for i in 0..9 {
        let (contact, automation) = if i % 2 == 0 { (&anna, "promo") } else { (&mario, "info") };
        let at = t("2026-11-23T10:00:00Z") + chrono::Duration::minutes(i / 3);
        assert!(store.create_run(&negozio, &run(&format!("run-{i}"), automation, contact, at)).await.unwrap());
    }

    let mut updated = first.clone();
    updated.status = RunStatus::Completed;
    assert_eq!(store.put_run(&negozio, &updated, &RunBase::of(&first, 1)).await.unwrap(), 2);
    assert_eq!(store.run(&negozio, &first.id).await.unwrap(), Some(StoredRun { run: updated.clone(), revision: 2 }));
    let stale = store.put_run(&negozio, &first, &RunBase::of(&first, 1)).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "a write over a stale revision is refused: {stale:?}");
    assert_eq!(store.run(&negozio, &first.id).await.unwrap().map(|r| r.run), Some(updated));
    assert_eq!(store.run(&ws("altro"), &first.id).await.unwrap(), None);

    let ids = |runs: Vec<Run>| runs.iter().map(|r| r.id.to_string()).collect::<Vec<_>>();
    let all = ids(store.runs(&negozio, &RunFilter::default()).await.unwrap());
    assert_eq!(all, ["run-8", "run-7", "run-6", "run-5", "run-4", "run-3", "run-2", "run-1", "run-0", "run-a"]);
    let marios = RunFilter { contact: Some(mario.clone()), automation: None };
    assert_eq!(ids(store.runs(&negozio, &marios).await.unwrap()), ["run-7", "run-5", "run-3", "run-1", "run-a"]);
    let promos = RunFilter { contact: Some(anna), automation: Some(id("promo")) };
    assert_eq!(ids(store.runs(&negozio, &promos).await.unwrap()), ["run-8", "run-6", "run-4", "run-2", "run-0"]);
}

// ---------------------------------------------------------------- date index

pub async fn due_dates_come_back_across_workspaces_earliest_first_over_many_pages<S: Management>(store: &S) {
    let now = t("2026-03-10T12:00:00Z");
    let mut expected = Vec::new();
    // Due over three UTC days, written in no particular order, in two workspaces.
    for i in 0..12u32 {
        let workspace = ws(if i % 2 == 0 { "negozio" } else { "altro" });
        let contact = phone(&format!("3933300000{i:02}"));
        let at = t("2026-03-08T10:00:00Z") + chrono::Duration::hours(i64::from((i * 7) % 12) * 5);
        let when = Due { date: at.date_naive(), at };
        store.set_date_due(&workspace, &id("auguri"), &contact, Some(when)).await.unwrap();
        if at <= now {
            expected.push(DueDate { workspace, automation: id("auguri"), contact, due: when });
        }
    }
    // Not due yet: later today, tomorrow; and one set then cleared.
    store
        .set_date_due(&ws("negozio"), &id("auguri"), &phone(MARIO), Some(due("2026-03-10", "2026-03-10T12:00:01Z")))
        .await
        .unwrap();
    store
        .set_date_due(&ws("negozio"), &id("auguri"), &bsuid("IT.5"), Some(due("2026-03-11", "2026-03-11T00:00:00Z")))
        .await
        .unwrap();
    store
        .set_date_due(&ws("altro"), &id("promo"), &bsuid("IT.6"), Some(due("2026-03-09", "2026-03-09T09:00:00Z")))
        .await
        .unwrap();
    store.set_date_due(&ws("altro"), &id("promo"), &bsuid("IT.6"), None).await.unwrap();
    expected.sort_by_key(|d| d.due.at);

    let found = store.due_dates(now).await.unwrap();
    assert!(expected.len() > 4, "more due than a small page holds");
    assert_eq!(found, expected);

    // Moving an item's due instant moves it in the index too.
    let moved = &expected[0];
    let later = due("2026-03-12", "2026-03-12T09:00:00Z");
    store.set_date_due(&moved.workspace, &moved.automation, &moved.contact, Some(later)).await.unwrap();
    assert_eq!(store.due_dates(now).await.unwrap(), expected[1..]);
}

pub async fn deleting_an_automation_clears_its_date_items<S: Management>(store: &S) {
    let negozio = ws("negozio");
    let birthday = |id: &str| triggered(id, json!({ "type": "date", "field": "birthday", "time": "09:00" }));
    store.create_automation(&negozio, birthday("auguri")).await.unwrap();
    store.create_automation(&negozio, birthday("promo")).await.unwrap();
    let when = due("2026-03-01", "2026-03-01T08:00:00Z");
    for i in 0..5 {
        let contact = phone(&format!("39333000000{i}"));
        store.set_date_due(&negozio, &id("auguri"), &contact, Some(when)).await.unwrap();
        store.set_date_due(&negozio, &id("promo"), &contact, Some(when)).await.unwrap();
    }
    store.delete_automation(&negozio, &id("auguri")).await.unwrap();
    let left = store.due_dates(t("2026-03-02T00:00:00Z")).await.unwrap();
    assert_eq!(left.len(), 5);
    assert!(left.iter().all(|d| d.automation == id("promo")), "{left:?}");
}

pub async fn a_list_is_read_a_page_at_a_time_in_key_order_as_the_memory_store_reads_it<S: Management>(store: &S) {
    let memory = MemoryStore::new();
    let negozio = ws("negozio");
    memory.load_workspace(&negozio, workspace_doc("106540352242922"));
    for i in [5, 1, 4, 2, 3] {
        let mut contact = Contact::new(&phone(&format!("39347000000{i}")));
        contact.lists.insert(list("vip"));
        store.put_contact(&negozio, &contact, None).await.unwrap();
        memory.put_contact(&negozio, &contact, None).await.unwrap();
    }
    let mut other = Contact::new(&phone("393470000009"));
    other.lists.insert(list("altri"));
    store.put_contact(&negozio, &other, None).await.unwrap();
    for (name, pages) in [("store", read_pages(store, &negozio).await), ("memory", read_pages(&memory, &negozio).await)]
    {
        assert_eq!(
            pages,
            [vec!["393470000001", "393470000002"], vec!["393470000003", "393470000004"], vec!["393470000005"]],
            "{name}"
        );
    }
}

/// The `vip` list's members, two per page, page by page.
async fn read_pages(store: &impl Store, negozio: &WorkspaceId) -> Vec<Vec<String>> {
    let (mut pages, mut after) = (Vec::new(), None);
    loop {
        let (members, next) = store.list_members_page(negozio, &list("vip"), after.as_ref(), 2).await.unwrap();
        pages.push(members.iter().map(|c| c.key().to_string()).collect());
        match next {
            Some(key) => after = Some(key),
            None => return pages,
        }
    }
}

// ---------------------------------------------------------------- parked statuses

fn status(wamid: &Wamid, status: DeliveryStatus, at: &str) -> StatusUpdate {
    let errors = match status {
        DeliveryStatus::Failed => vec![StatusError { code: 131047, title: "Re-engagement message".into() }],
        _ => Vec::new(),
    };
    StatusUpdate {
        phone_number_id: NUMBER.into(),
        wamid: wamid.clone(),
        status,
        timestamp: t(at),
        recipient_phone: Some(WaId::parse(MARIO).unwrap()),
        recipient_bsuid: None,
        errors,
    }
}

pub async fn parked_statuses_come_back_in_order_until_dropped_or_a_day_old<S: Management>(store: &S) {
    let negozio = ws("negozio");
    let (first, second) = (Wamid::parse("wamid.parked.1").unwrap(), Wamid::parse("wamid.parked.2").unwrap());
    let now = t("2026-11-23T10:00:00Z");
    assert_eq!(store.parked_statuses(&negozio, &first, now).await.unwrap(), []);

    let sent = status(&first, DeliveryStatus::Sent, "2026-11-23T10:00:00Z");
    let delivered = status(&first, DeliveryStatus::Delivered, "2026-11-23T10:00:01Z");
    let failed = status(&second, DeliveryStatus::Failed, "2026-11-23T10:00:02Z");
    store.park_status(&negozio, &sent, now).await.unwrap();
    store.park_status(&negozio, &delivered, now).await.unwrap();
    store.park_status(&negozio, &failed, now + chrono::Duration::hours(2)).await.unwrap();

    let later = now + chrono::Duration::hours(3);
    assert_eq!(store.parked_statuses(&negozio, &first, later).await.unwrap(), [sent.clone(), delivered.clone()]);
    assert_eq!(
        store.parked_statuses(&negozio, &second, later).await.unwrap(),
        std::slice::from_ref(&failed),
        "errors kept"
    );
    assert_eq!(store.parked_statuses(&ws("altro"), &first, later).await.unwrap(), [], "per workspace");

    store.drop_parked(&negozio, &first).await.unwrap();
    assert_eq!(store.parked_statuses(&negozio, &first, later).await.unwrap(), []);
    assert_eq!(
        store.parked_statuses(&negozio, &second, later).await.unwrap(),
        std::slice::from_ref(&failed),
        "the others stay"
    );
    store.drop_parked(&negozio, &first).await.unwrap(); // dropping twice is no error

    // A day after it was parked a status belongs to a message Avvio never recorded sending.
    let expired = now + chrono::Duration::hours(2) + avvio_common::ports::PARKED_FOR + chrono::Duration::seconds(1);
    assert_eq!(store.parked_statuses(&negozio, &second, expired).await.unwrap(), []);
}

// ---------------------------------------------------------------- paged listings

/// Every page of every contact listing, a page of 1, 2, 3 and 1000 at a time, is the listing
/// cut after the page before (as `Page::first` cuts it), and the pages together are the listing.
pub async fn contact_pages_are_the_listing_cut_for_every_filter_and_size<S: Management>(store: &S) {
    use avvio_common::ports::Page;
    let negozio = ws("negozio");
    let (lead, vip, clienti) = (Tag::parse("lead").unwrap(), list("vip"), list("clienti"));
    for i in [7, 2, 9, 0, 4, 5, 1, 8, 3, 6] {
        let mut contact = Contact::new(&phone(&format!("3933300000{i:02}")));
        if i % 2 == 0 {
            contact.tags.insert(lead.clone());
        }
        if i % 3 == 0 {
            contact.lists.insert(vip.clone());
        }
        if i >= 5 {
            contact.lists.insert(clienti.clone());
        }
        store.put_contact(&negozio, &contact, None).await.unwrap();
    }
    // Known by its BSUID only.
    let mut only_bsuid = Contact::new(&bsuid("IT.7"));
    only_bsuid.lists.insert(vip.clone());
    only_bsuid.tags.insert(lead.clone());
    store.put_contact(&negozio, &only_bsuid, None).await.unwrap();
    // Created by its BSUID, its phone learned later: listed by the phone from then on.
    let mut linked = Contact::new(&bsuid("IT.3"));
    linked.lists.insert(vip.clone());
    let revision = store.put_contact(&negozio, &linked, None).await.unwrap();
    linked.phone = Some(WaId::parse("393330000055").unwrap());
    linked.tags.insert(lead.clone());
    let revision = store.put_contact(&negozio, &linked, Some(revision)).await.unwrap();
    linked.lists.insert(clienti.clone());
    store.put_contact(&negozio, &linked, Some(revision)).await.unwrap();
    // Created by its phone, its BSUID learned later, out of the list it was in.
    let mut left = Contact::new(&phone("393330000033"));
    left.lists.insert(vip.clone());
    let revision = store.put_contact(&negozio, &left, None).await.unwrap();
    left.lists.remove(&vip);
    left.bsuid = Some(Bsuid::parse("IT.33").unwrap());
    store.put_contact(&negozio, &left, Some(revision)).await.unwrap();
    // Deleted; and another workspace's.
    let mut gone = Contact::new(&phone("393330000044"));
    gone.lists.insert(vip.clone());
    gone.tags.insert(lead.clone());
    store.put_contact(&negozio, &gone, None).await.unwrap();
    assert!(store.delete_contact(&negozio, &phone("393330000044")).await.unwrap());
    let mut elsewhere = Contact::new(&phone("393330000011"));
    elsewhere.lists.insert(vip.clone());
    store.put_contact(&ws("altro"), &elsewhere, None).await.unwrap();

    let keys = |found: &[Contact]| found.iter().map(|c| c.key().to_string()).collect::<Vec<_>>();
    let everyone = store.contacts(&negozio, &ContactFilter::default()).await.unwrap();
    let phones = (0..10).map(|i| format!("3933300000{i:02}"));
    let expected: Vec<String> = phones.chain(["393330000033".into(), "393330000055".into(), "IT.7".into()]).collect();
    assert_eq!(keys(&everyone), expected, "the listing these pages cut");
    let vip_members = store.contacts(&negozio, &ContactFilter { tag: None, list: Some(vip.clone()) }).await.unwrap();
    assert_eq!(
        keys(&vip_members),
        ["393330000000", "393330000003", "393330000006", "393330000009", "393330000055", "IT.7"]
    );

    let filters = [
        ContactFilter::default(),
        ContactFilter { tag: Some(lead.clone()), list: None },
        ContactFilter { tag: None, list: Some(vip.clone()) },
        ContactFilter { tag: Some(lead.clone()), list: Some(vip.clone()) },
        ContactFilter { tag: None, list: Some(clienti.clone()) },
        ContactFilter { tag: Some(lead.clone()), list: Some(clienti.clone()) },
        ContactFilter { tag: None, list: Some(list("nessuna")) },
        ContactFilter { tag: Some(Tag::parse("nessuno").unwrap()), list: None },
    ];
    for filter in &filters {
        let full = store.contacts(&negozio, filter).await.unwrap();
        for size in [1, 2, 3, 1000] {
            let (mut after, mut walked) = (None::<ContactKey>, Vec::new());
            loop {
                let page = store.contacts_page(&negozio, filter, after.as_ref(), size).await.unwrap();
                let rest = full.iter().filter(|c| after.as_ref().is_none_or(|a| c.key() > *a)).cloned();
                assert_eq!(page, Page::first(rest, size, Contact::key), "{filter:?}, {size} a page, after {after:?}");
                walked.extend(page.items);
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
                assert!(walked.len() <= full.len(), "{filter:?}: the pages go on past the listing");
            }
            assert_eq!(keys(&walked), keys(&full), "{filter:?}, {size} a page");
        }
        let empty = Page { items: Vec::new(), next: None };
        if let Some(last) = full.last() {
            let past = store.contacts_page(&negozio, filter, Some(&last.key()), 3).await.unwrap();
            assert_eq!(past, empty, "{filter:?}: after the last contact");
        }
        let past = store.contacts_page(&negozio, filter, Some(&bsuid("ZZ.9")), 3).await.unwrap();
        assert_eq!(past, empty, "{filter:?}: after every key");
    }
    let page = store.contacts_page(&ws("nessuno"), &ContactFilter::default(), None, 3).await.unwrap();
    assert_eq!(page, Page { items: Vec::new(), next: None }, "an unknown workspace");
}

/// Every page of every run listing, a page of 1, 2, 3 and 1000 at a time, is the listing cut
/// after the page before, runs started at one instant included, and the pages together are it.
pub async fn run_pages_are_the_listing_cut_for_every_filter_and_size<S: Management>(store: &S) {
    use avvio_common::ports::{Page, RunPosition};
    let negozio = ws("negozio");
    store.create_automation(&negozio, phrase_automation("info", "Info")).await.unwrap();
    store.create_automation(&negozio, phrase_automation("promo", "Promo")).await.unwrap();
    store.create_automation(&negozio, phrase_automation("vecchia", "Vecchia")).await.unwrap();
    let contacts = [phone(MARIO), phone("393470000001"), bsuid("IT.5")];
    let automations = ["info", "promo", "vecchia"];
    let at = t("2026-11-23T10:00:00Z");
    let mut created = Vec::new();
    for i in 0..14usize {
        // Four runs start at each instant, their ids in no order of creation.
        let started = at + chrono::Duration::minutes((i / 4) as i64);
        let id = format!("run-{:02}", (i * 5) % 14);
        let r = run(&id, automations[(i / 3) % 3], &contacts[i % 3], started);
        assert!(store.create_run(&negozio, &r).await.unwrap());
        created.push(r);
    }
    store.create_run(&ws("altro"), &run("run-altro", "info", &contacts[0], at)).await.unwrap();
    // Rewritten runs stay where they were.
    for r in created.iter().step_by(4) {
        let mut done = r.clone();
        done.status = RunStatus::Completed;
        store.put_run(&negozio, &done, &RunBase::of(r, StoredRun::CREATED)).await.unwrap();
    }
    // A deleted automation's and a deleted contact's runs are still listed.
    store.delete_automation(&negozio, &id("vecchia")).await.unwrap();
    store.put_contact(&negozio, &Contact::new(&contacts[1]), None).await.unwrap();
    assert!(store.delete_contact(&negozio, &contacts[1]).await.unwrap());

    let everything = store.runs(&negozio, &RunFilter::default()).await.unwrap();
    assert_eq!(everything.len(), 14);
    assert_eq!(everything.iter().filter(|r| r.status == RunStatus::Completed).count(), 4);
    let mut filters = vec![RunFilter::default()];
    for contact in contacts.iter().cloned().map(Some).chain([Some(phone("393339999999")), None]) {
        for automation in automations.iter().map(|a| Some(id(a))).chain([Some(id("nessuna")), None]) {
            filters.push(RunFilter { contact: contact.clone(), automation });
        }
    }
    for filter in &filters {
        let full = store.runs(&negozio, filter).await.unwrap();
        for size in [1, 2, 3, 1000] {
            let (mut after, mut walked) = (None::<RunPosition>, Vec::new());
            loop {
                let page = store.runs_page(&negozio, filter, after.as_ref(), size).await.unwrap();
                let rest = full.iter().filter(|r| after.as_ref().is_none_or(|a| a.precedes(r))).cloned();
                assert_eq!(
                    page,
                    Page::first(rest, size, RunPosition::of),
                    "{filter:?}, {size} a page, after {after:?}"
                );
                walked.extend(page.items);
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
                assert!(walked.len() <= full.len(), "{filter:?}: the pages go on past the listing");
            }
            assert_eq!(walked, full, "{filter:?}, {size} a page");
        }
        let empty = Page { items: Vec::new(), next: None };
        if let Some(last) = full.last() {
            let past = store.runs_page(&negozio, filter, Some(&RunPosition::of(last)), 3).await.unwrap();
            assert_eq!(past, empty, "{filter:?}: after the oldest run");
        }
        let before_all = RunPosition { started_at: t("2000-01-01T00:00:00Z"), id: RunId::parse("run-00").unwrap() };
        assert_eq!(store.runs_page(&negozio, filter, Some(&before_all), 3).await.unwrap(), empty, "{filter:?}");
    }
}

/// Every page of the automation listing, a page of 1, 2, 3 and 1000 at a time, is the listing
/// cut after the page before (deleted automations left out), and the pages together are it.
pub async fn automation_pages_are_the_listing_cut_for_every_size<S: Management>(store: &S) {
    use avvio_common::ports::Page;
    let negozio = ws("negozio");
    let words = ["uno", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove"];
    for (name, word) in
        ["menu", "auguri", "zeta", "info-1.1", "benvenuto", "promo", "b", "a.b", "a-b"].iter().zip(words)
    {
        store.create_automation(&negozio, phrase_automation(name, word)).await.unwrap();
    }
    store.update_automation(&negozio, disabled(phrase_automation("zeta", "tre"))).await.unwrap();
    store.delete_automation(&negozio, &id("promo")).await.unwrap();
    store.delete_automation(&negozio, &id("b")).await.unwrap();
    store.delete_automation(&negozio, &id("auguri")).await.unwrap();
    store.create_automation(&negozio, phrase_automation("auguri", "due")).await.unwrap();
    store.create_automation(&ws("altro"), phrase_automation("altro", "uno")).await.unwrap();

    let full = store.automations(&negozio).await.unwrap();
    let ids = |found: &[std::sync::Arc<Automation>]| found.iter().map(|a| a.id().to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&full), ["a-b", "a.b", "auguri", "benvenuto", "info-1.1", "menu", "zeta"]);
    for size in [1, 2, 3, 1000] {
        let (mut after, mut walked) = (None::<AutomationId>, Vec::new());
        loop {
            let page = store.automations_page(&negozio, after.as_ref(), size).await.unwrap();
            let rest = full.iter().filter(|a| after.as_ref().is_none_or(|after| a.id() > after)).cloned();
            assert_eq!(page, Page::first(rest, size, |a| a.id().clone()), "{size} a page, after {after:?}");
            walked.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
            assert!(walked.len() <= full.len(), "the pages go on past the listing");
        }
        assert_eq!(ids(&walked), ids(&full), "{size} a page");
    }
    let empty = Page { items: Vec::new(), next: None };
    assert_eq!(store.automations_page(&negozio, Some(&id("zeta")), 3).await.unwrap(), empty, "after the last");
    assert_eq!(store.automations_page(&negozio, Some(&id("zzz")), 3).await.unwrap(), empty, "after every id");
    assert_eq!(store.automations_page(&ws("nessuno"), None, 3).await.unwrap(), empty, "an unknown workspace");
}
