//! The clock stage: fires the `date` triggers that came due, deletes the runs past their
//! retention, and once a day syncs the workspaces' templates from Meta. `run_once(now)` does
//! one pass, so tests and the simulator drive it without sleeping.

use super::{Deps, Report, StageError};
use crate::engine;
use crate::ports::{Management, StepQueue, Store, TemplateSource, Versioned, WebhookPoster, WhatsAppSender};
use crate::time::Time;
use std::collections::HashMap;
use std::sync::Arc;

impl<S: Store, Q: StepQueue, W: WhatsAppSender, H: WebhookPoster> Deps<S, Q, W, H> {
    /// Fires every date trigger due at or before `now` and indexes each one's next occurrence.
    /// Many contacts come due for one automation at once (every birthday of a day): each
    /// workspace and automation is read once per pass, so the reads grow with the contacts due.
    pub async fn run_clock_once(&self, now: Time) -> Result<Report, StageError> {
        let mut workspaces = HashMap::new();
        let mut automations = HashMap::new();
        for due in self.store.due_dates(now).await? {
            let ws = &due.workspace;
            let workspace = match workspaces.get(ws) {
                Some(workspace) => Arc::clone(workspace),
                None => {
                    let workspace = self.workspace(ws).await?;
                    workspaces.insert(ws.clone(), Arc::clone(&workspace));
                    workspace
                }
            };
            let key = (ws.clone(), due.automation.clone());
            let automation = match automations.get(&key) {
                Some(automation) => Option::clone(automation),
                None => {
                    let automation = self.store.automation(ws, &due.automation).await?;
                    automations.insert(key, automation.clone());
                    automation
                }
            };
            let stored = self.store.contact(ws, &due.contact).await?;
            let (Some(automation), Some(Versioned { item: mut contact, revision })) = (automation, stored) else {
                self.store.set_date_due(ws, &due.automation, &due.contact, None).await?;
                continue;
            };
            let start = engine::fire_date(&automation, &mut contact, &workspace, due.due, now);
            if start.is_some() {
                self.store.put_contact(ws, &contact, revision).await?;
            }
            let next =
                due.due.date.succ_opt().and_then(|from| engine::next_date_due(&automation, &contact, &workspace, from));
            self.store.set_date_due(ws, automation.id(), &due.contact, next).await?;
            if let Some(start) = start {
                self.begin_run(ws, start, now).await?;
            }
        }
        // Runs past their workspace's `runs_retention` (the stores without a TTL of their own).
        self.store.forget_expired_runs(now).await?;
        Ok(Report::default())
    }
}

/// What the daily template sync did for one workspace.
#[derive(Debug)]
pub struct TemplateSyncOutcome {
    pub workspace: crate::domain::ids::WorkspaceId,
    pub result: Result<crate::manage::TemplateSync, crate::manage::ManageError>,
}

/// Syncs the templates of every workspace with a `whatsapp.waba_id` from Meta
/// ([`crate::manage::sync_templates`]), once per UTC day: the first pass of a day claims it
/// ([`Management::claim_template_sync`]: on every other pass, one cheap read and nothing
/// else). A workspace whose sync fails is reported and tried again the next day; it never
/// stops the others. `Err` only when the claim or the listing could not be read (the next
/// pass tries again).
pub async fn sync_templates_daily<S: Management, T: TemplateSource>(
    store: &S,
    source: &T,
    default_access_token: Option<&str>,
    now: Time,
) -> Result<Vec<TemplateSyncOutcome>, crate::ports::StoreError> {
    if !store.claim_template_sync(now.date_naive()).await? {
        return Ok(Vec::new());
    }
    let mut outcomes = Vec::new();
    for workspace in store.workspaces_with_waba().await? {
        let result = crate::manage::sync_templates(store, source, &workspace, default_access_token).await;
        outcomes.push(TemplateSyncOutcome { workspace, result });
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::WorkspaceId;
    use crate::memory::MemoryStore;
    use crate::ports::{SyncError, TemplateAccount, TemplatePage};
    use serde_json::json;
    use std::sync::Mutex;

    /// Meta's list in memory: one page, counting the reads.
    #[derive(Default)]
    struct OnePage {
        reads: Mutex<Vec<String>>,
        fail: bool,
    }

    impl TemplateSource for OnePage {
        async fn page(&self, account: &TemplateAccount, _next: Option<&str>) -> Result<TemplatePage, SyncError> {
            self.reads.lock().unwrap().push(account.waba_id.clone());
            if self.fail {
                return Err(SyncError::Meta { code: "190".into(), message: "expired token".into() });
            }
            let welcome = json!({ "name": "welcome", "language": "it", "status": "APPROVED", "category": "UTILITY",
                                  "components": [ { "type": "BODY", "text": "Ciao {{1}}!" } ] });
            Ok(TemplatePage { templates: vec![welcome], next: None })
        }
    }

    async fn store_with(workspaces: &[(&str, Option<&str>)]) -> MemoryStore {
        let store = MemoryStore::new();
        for (i, (ws, waba)) in workspaces.iter().enumerate() {
            let mut whatsapp = json!({ "phone_number_id": format!("10654035224292{i}"), "access_token": "EAAG" });
            if let Some(waba) = waba {
                whatsapp["waba_id"] = json!(waba);
            }
            let doc = serde_json::from_value(json!({ "timezone": "Europe/Rome", "whatsapp": whatsapp })).unwrap();
            store.load_workspace(&WorkspaceId::parse(*ws).unwrap(), doc);
        }
        store
    }

    fn at(rfc3339: &str) -> Time {
        crate::time::parse_rfc3339(rfc3339).unwrap()
    }

    #[tokio::test]
    async fn the_clock_syncs_each_workspace_with_an_account_once_a_day() {
        let store = store_with(&[("a", Some("1022")), ("b", None), ("c", Some("1033"))]).await;
        let meta = OnePage::default();
        let first = sync_templates_daily(&store, &meta, None, at("2026-12-04T00:00:30Z")).await.unwrap();
        let synced: Vec<_> =
            first.iter().map(|o| (o.workspace.to_string(), o.result.as_ref().unwrap().counts.added)).collect();
        assert_eq!(synced, [("a".to_string(), 1), ("c".to_string(), 1)]);
        let ws = WorkspaceId::parse("a").unwrap();
        assert_eq!(store.workspace(&ws).await.unwrap().unwrap().templates[0].name.as_str(), "welcome");
        // Every other pass of the day reads nothing from Meta.
        for minute in ["2026-12-04T00:01:30Z", "2026-12-04T23:59:30Z"] {
            assert!(sync_templates_daily(&store, &meta, None, at(minute)).await.unwrap().is_empty());
        }
        assert_eq!(meta.reads.lock().unwrap().len(), 2);
        let next_day = sync_templates_daily(&store, &meta, None, at("2026-12-05T00:00:30Z")).await.unwrap();
        assert_eq!(next_day.len(), 2);
        assert_eq!(next_day[0].result.as_ref().unwrap().counts, Default::default(), "nothing changed at Meta");
    }

    #[tokio::test]
    async fn a_failed_sync_is_reported_and_does_not_stop_the_others() {
        let store = store_with(&[("a", Some("1022")), ("c", Some("1033"))]).await;
        let meta = OnePage { fail: true, ..OnePage::default() };
        let outcomes = sync_templates_daily(&store, &meta, None, at("2026-12-04T00:00:30Z")).await.unwrap();
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes.iter().all(|o| matches!(&o.result, Err(crate::manage::ManageError::Meta(SyncError::Meta { code, .. })) if code == "190")));
    }
}
