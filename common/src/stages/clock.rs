//! The clock stage: fires the `date` triggers that came due. `run_once(now)`
//! does one pass, so tests and the simulator drive it without sleeping.

use super::{Deps, Report, StageError};
use crate::engine;
use crate::ports::{StepQueue, Store, Versioned, WebhookPoster, WhatsAppSender};
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
        Ok(Report::default())
    }
}
