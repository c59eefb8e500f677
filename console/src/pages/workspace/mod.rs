//! Workspace: the form of the workspace document's settings (timezone, working hours,
//! holidays, consent phrases, the WhatsApp number, its account, pace and retries, and the
//! write-only secrets). It stores them
//! through `manage::put_workspace_settings`, which writes as `PUT /v1/workspace` does and keeps
//! the templates as stored. Secrets are never put in the page: it shows whether each is set, and
//! an empty input replaces it when filled.

mod texts;

use crate::Console;
use crate::error::Failure;
use crate::form::Form;
use crate::i18n::Texts;
use crate::page::{Page, render_status};
use crate::session::Session;
use askama::Template;
use avvio_common::domain::Duration;
use avvio_common::domain::phrase::Wording;
use avvio_common::domain::run::RUNS_RETENTION;
use avvio_common::domain::workspace::{
    ConsentPhrases, Day, Holiday, Secret, TimeRange, Timezone, WhatsAppAccount, WorkingHours, Workspace,
};
use avvio_common::manage::{self, ManageError};
use avvio_common::ports::{EventQueue, Management};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
pub use texts::WorkspaceTexts;

type Shared<S, E> = State<Arc<Console<S, E>>>;

const NAV: &str = "workspace";

/// The document's names of the days, in [`Day::ALL`]'s order.
const DAY_CODES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The form's values: as stored, or as sent back to be corrected. Secrets are never here.
#[derive(Debug, Default)]
struct WorkspaceForm {
    timezone: String,
    always_open: bool,
    /// Each day's ranges, comma-separated, in [`Day::ALL`]'s order.
    hours: [String; 7],
    /// One per line.
    holidays: String,
    opt_out_phrases: String,
    opt_in_phrases: String,
    phone_number_id: String,
    waba_id: String,
    max_sends_per_second: String,
    retry_for: String,
    runs_retention: String,
}

impl WorkspaceForm {
    fn of(doc: &Workspace) -> Self {
        let mut hours: [String; 7] = Default::default();
        if let Some(working) = &doc.working_hours {
            for (i, day) in Day::ALL.iter().enumerate() {
                let ranges = working.get(day).map(Vec::as_slice).unwrap_or_default();
                hours[i] = ranges.iter().map(TimeRange::to_string).collect::<Vec<_>>().join(", ");
            }
        }
        let phrases = |list: &[Wording]| list.iter().map(Wording::text).collect::<Vec<_>>().join("\n");
        Self {
            timezone: serde_json::to_value(doc.timezone)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            always_open: doc.working_hours.is_none(),
            hours,
            holidays: doc.holidays.iter().map(Holiday::to_string).collect::<Vec<_>>().join("\n"),
            opt_out_phrases: phrases(&doc.consent.opt_out_phrases),
            opt_in_phrases: phrases(&doc.consent.opt_in_phrases),
            phone_number_id: doc.whatsapp.as_ref().map(|w| w.phone_number_id.clone()).unwrap_or_default(),
            runs_retention: doc.runs_retention.to_string(),
            ..Self::account(doc.whatsapp.as_ref())
        }
    }

    /// The account's inputs: as stored, or the defaults of a new number.
    fn account(account: Option<&WhatsAppAccount>) -> Self {
        let defaults = WhatsAppAccount::new("", None);
        let account = account.unwrap_or(&defaults);
        Self {
            waba_id: account.waba_id.clone().unwrap_or_default(),
            max_sends_per_second: account.max_sends_per_second.to_string(),
            retry_for: account.retry_for.to_string(),
            ..Self::default()
        }
    }

    /// The form of a workspace with no document yet: the default consent phrases, open always.
    fn empty() -> Self {
        let consent = ConsentPhrases::default();
        let phrases = |list: &[Wording]| list.iter().map(Wording::text).collect::<Vec<_>>().join("\n");
        Self {
            always_open: true,
            opt_out_phrases: phrases(&consent.opt_out_phrases),
            opt_in_phrases: phrases(&consent.opt_in_phrases),
            runs_retention: RUNS_RETENTION.to_string(),
            ..Self::account(None)
        }
    }
}

/// A day's input.
struct DayRow {
    code: &'static str,
    label: &'static str,
    value: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "workspace/form.html")]
struct WorkspacePage<'a> {
    page: &'a Page,
    t: &'static Texts,
    tx: &'static WorkspaceTexts,
    form: WorkspaceForm,
    days: Vec<DayRow>,
    /// Whether the stored document has an access token / a webhook secret (never their values).
    access_token_set: bool,
    webhook_secret_set: bool,
    /// Whether the workspace has no document yet.
    new: bool,
    saved: bool,
    /// Why a value was refused, by input name (the document's path); `_form` for the whole form.
    errors: BTreeMap<String, String>,
}

impl WorkspacePage<'_> {
    fn error(&self, name: &str) -> Option<&str> {
        self.errors.get(name).map(String::as_str)
    }
}

/// `GET workspace?saved=`.
#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// The page over the stored document `stored`, with `form` in its inputs and `errors` at them.
fn workspace_page(
    page: &Page,
    stored: Option<&Workspace>,
    form: WorkspaceForm,
    errors: BTreeMap<String, String>,
    saved: bool,
) -> Response {
    let tx = WorkspaceTexts::of(page.lang);
    let days = Day::ALL
        .iter()
        .enumerate()
        .map(|(i, day)| {
            let code = DAY_CODES[i];
            DayRow {
                code,
                label: tx.day(*day),
                value: form.hours[i].clone(),
                error: errors.get(&format!("working_hours.{code}")).cloned(),
            }
        })
        .collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let template = WorkspacePage {
        page,
        t: page.t,
        tx,
        form,
        days,
        access_token_set: stored.and_then(|w| w.whatsapp.as_ref()).is_some_and(|w| w.access_token.is_some()),
        webhook_secret_set: stored.is_some_and(|w| w.webhook_secret.is_some()),
        new: stored.is_none(),
        saved,
        errors,
    };
    render_status(status, &template)
}

/// `GET workspace`: the settings' form.
pub async fn show<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
    Query(query): Query<ShowQuery>,
) -> Result<Response, Failure> {
    page.nav = NAV;
    let stored = console.app.store.workspace(&session.workspace).await?;
    let form = stored.as_deref().map_or_else(WorkspaceForm::empty, WorkspaceForm::of);
    Ok(workspace_page(&page, stored.as_deref(), form, BTreeMap::new(), query.saved.is_some()))
}

/// The form's fields over `form` (the account's stored settings: a form without those inputs
/// keeps them): its values, and the secrets typed (never shown again). A field the form does
/// not have is a 400.
fn read_form(
    pairs: Vec<(String, String)>,
    mut form: WorkspaceForm,
) -> Result<(WorkspaceForm, String, String), Failure> {
    let (mut access_token, mut webhook_secret) = (String::new(), String::new());
    for (name, value) in pairs {
        match name.as_str() {
            "timezone" => form.timezone = value,
            "always_open" => form.always_open = matches!(value.as_str(), "on" | "true"),
            "holidays" => form.holidays = value,
            "consent.opt_out_phrases" => form.opt_out_phrases = value,
            "consent.opt_in_phrases" => form.opt_in_phrases = value,
            "whatsapp.phone_number_id" => form.phone_number_id = value,
            "whatsapp.waba_id" => form.waba_id = value,
            "whatsapp.max_sends_per_second" => form.max_sends_per_second = value,
            "whatsapp.retry_for" => form.retry_for = value,
            "runs_retention" => form.runs_retention = value,
            "whatsapp.access_token" => access_token = value,
            "webhook_secret" => webhook_secret = value,
            other => match other.strip_prefix("working_hours.").and_then(|d| DAY_CODES.iter().position(|c| *c == d)) {
                Some(i) => form.hours[i] = value,
                None => return Err(Failure::malformed(format!("the form has no field `{other}`"))),
            },
        }
    }
    Ok((form, access_token, webhook_secret))
}

/// Reads each non-blank item of `items` with `parse`; the ones it refuses are named in one error
/// at `input`.
fn each<T>(
    items: impl Iterator<Item = String>,
    parse: impl Fn(&str) -> Option<T>,
    reason: &str,
    input: &str,
    errors: &mut BTreeMap<String, String>,
) -> Vec<T> {
    let mut read = Vec::new();
    let mut refused = Vec::new();
    for item in items.map(|i| i.trim().to_string()).filter(|i| !i.is_empty()) {
        match parse(&item) {
            Some(value) => read.push(value),
            None => refused.push(format!("“{}”", item.chars().take(120).collect::<String>())),
        }
    }
    if !refused.is_empty() {
        errors.insert(input.to_string(), format!("{reason} {}.", refused.join(", ")));
    }
    read
}

fn lines(raw: &str) -> impl Iterator<Item = String> + '_ {
    raw.lines().map(str::to_string)
}

/// Checks the form's values with the document's own parsers: the settings to store, or the
/// reasons by input name. Secrets left empty are `None` (kept as stored).
fn check(
    tx: &WorkspaceTexts,
    form: &WorkspaceForm,
    access_token: &str,
    webhook_secret: &str,
) -> Result<Workspace, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let zone = form.timezone.trim();
    let timezone = serde_json::from_value::<Timezone>(serde_json::Value::String(zone.to_string()))
        .map_err(|_| errors.insert("timezone".into(), format!("{} “{zone}”.", tx.error_timezone)))
        .ok();
    let working_hours = (!form.always_open).then(|| {
        let mut hours = WorkingHours::new();
        for (i, day) in Day::ALL.iter().enumerate() {
            let ranges = form.hours[i].split([',', ';', '\n']).map(str::to_string);
            let input = format!("working_hours.{}", DAY_CODES[i]);
            hours.insert(*day, each(ranges, |r| TimeRange::parse(r).ok(), tx.error_hours, &input, &mut errors));
        }
        hours
    });
    let holidays = each(lines(&form.holidays), |h| Holiday::parse(h).ok(), tx.error_holidays, "holidays", &mut errors);
    let phrases = |raw: &str, input: &str, errors: &mut BTreeMap<String, String>| {
        each(lines(raw), |p| Wording::parse(p).ok(), tx.error_phrases, input, errors)
    };
    let consent = ConsentPhrases {
        opt_out_phrases: phrases(&form.opt_out_phrases, "consent.opt_out_phrases", &mut errors),
        opt_in_phrases: phrases(&form.opt_in_phrases, "consent.opt_in_phrases", &mut errors),
    };
    let secret = |raw: &str| Some(raw.trim()).filter(|s| !s.is_empty()).map(Secret::new);
    let phone_number_id = form.phone_number_id.trim();
    let whatsapp = if phone_number_id.is_empty() {
        if secret(access_token).is_some() {
            errors.insert("whatsapp.access_token".into(), tx.error_token_without_number.into());
        }
        if !form.waba_id.trim().is_empty() {
            errors.insert("whatsapp.waba_id".into(), tx.error_waba_without_number.into());
        }
        None
    } else {
        let mut account = WhatsAppAccount::new(phone_number_id, secret(access_token));
        let waba_id = form.waba_id.trim();
        if !waba_id.is_empty() {
            account.waba_id = Some(waba_id.to_string());
        }
        let max = form.max_sends_per_second.trim();
        match max.parse::<u32>() {
            Ok(rate) if (1..=WhatsAppAccount::MAX_SENDS_PER_SECOND).contains(&rate) => {
                account.max_sends_per_second = rate
            }
            _ => {
                errors.insert("whatsapp.max_sends_per_second".into(), format!("{} “{max}”.", tx.error_max_sends));
            }
        }
        let retry = form.retry_for.trim();
        match Duration::parse(retry) {
            Ok(retry_for) => account.retry_for = retry_for,
            Err(_) => {
                errors.insert("whatsapp.retry_for".into(), format!("{} “{retry}”.", tx.error_retry_for));
            }
        }
        Some(account)
    };
    let kept = form.runs_retention.trim();
    let runs_retention = Duration::parse(kept).ok().filter(|d| d.as_secs() >= 86_400);
    if runs_retention.is_none() {
        errors.insert("runs_retention".into(), format!("{} “{kept}”.", tx.error_runs_retention));
    }
    match (timezone, runs_retention) {
        (Some(timezone), Some(runs_retention)) if errors.is_empty() => Ok(Workspace {
            timezone,
            working_hours,
            holidays,
            whatsapp,
            webhook_secret: secret(webhook_secret),
            templates: Vec::new(),
            consent,
            runs_retention,
        }),
        _ => Err(errors),
    }
}

/// The input a refusal of `manage` names (its path, or the path's input: `working_hours.mon[0]`
/// is shown at `working_hours.mon`), else the form as a whole.
fn input_of(path: &str) -> String {
    let inputs = [
        "timezone",
        "holidays",
        "consent.opt_out_phrases",
        "consent.opt_in_phrases",
        "whatsapp.phone_number_id",
        "whatsapp.waba_id",
        "whatsapp.max_sends_per_second",
        "whatsapp.retry_for",
        "runs_retention",
        "whatsapp.access_token",
        "webhook_secret",
    ];
    let days = DAY_CODES.map(|code| format!("working_hours.{code}"));
    let base = path.split('[').next().unwrap_or(path);
    if inputs.contains(&base) || days.iter().any(|d| d == base) { base.to_string() } else { "_form".to_string() }
}

/// `POST workspace`: checks the settings (every refused value shown at its input, 422, nothing
/// stored), then stores them through `manage::put_workspace_settings` and goes back to the form.
pub async fn edit<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, Failure> {
    page.nav = NAV;
    let tx = WorkspaceTexts::of(page.lang);
    let store = &console.app.store;
    let stored = store.workspace(&session.workspace).await?;
    // The inputs a form may leave out keep their stored values: the account's and the retention.
    let kept = WorkspaceForm {
        runs_retention: stored.as_deref().map_or(RUNS_RETENTION, |w| w.runs_retention).to_string(),
        ..WorkspaceForm::account(stored.as_deref().and_then(|w| w.whatsapp.as_ref()))
    };
    let (form, access_token, webhook_secret) = read_form(pairs, kept)?;
    let settings = match check(tx, &form, &access_token, &webhook_secret) {
        Ok(settings) => settings,
        Err(errors) => {
            let stored = store.workspace(&session.workspace).await?;
            return Ok(workspace_page(&page, stored.as_deref(), form, errors, false));
        }
    };
    match manage::put_workspace_settings(store, &session.workspace, settings, chrono::Utc::now()).await {
        Ok(_) => Ok(page.redirect("workspace?saved=1")),
        Err(ManageError::Invalid(issue) | ManageError::Conflict(issue)) => {
            let stored = store.workspace(&session.workspace).await?;
            let errors = BTreeMap::from([(input_of(&issue.path), issue.message)]);
            Ok(workspace_page(&page, stored.as_deref(), form, errors, false))
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> WorkspaceForm {
        WorkspaceForm {
            timezone: "Europe/Rome".into(),
            hours: [
                "09:00-13:00, 14:00-18:00".into(),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
            ],
            holidays: "2026-12-08\n12-25\n\neaster_monday".into(),
            opt_out_phrases: "STOP".into(),
            runs_retention: "90d".into(),
            ..WorkspaceForm::default()
        }
    }

    #[test]
    fn a_good_form_reads_as_the_settings_it_shows() {
        let tx = WorkspaceTexts::of(crate::i18n::Lang::En);
        let settings = check(tx, &form(), "", "").unwrap();
        assert_eq!(settings.holidays.len(), 3);
        assert_eq!(settings.working_hours.as_ref().unwrap()[&Day::Mon].len(), 2);
        assert!(settings.whatsapp.is_none() && settings.webhook_secret.is_none());
        let shown = WorkspaceForm::of(&settings);
        assert_eq!(shown.hours[0], "09:00-13:00, 14:00-18:00");
        assert_eq!(shown.holidays, "2026-12-08\n12-25\neaster_monday");
        assert_eq!(shown.timezone, "Europe/Rome");
    }

    #[test]
    fn every_bad_value_is_named_at_its_input() {
        let tx = WorkspaceTexts::of(crate::i18n::Lang::En);
        let mut bad = form();
        bad.timezone = "Europe/Milano".into();
        bad.hours[2] = "25:00-26:00".into();
        bad.holidays = "2026-13-01".into();
        let errors = check(tx, &bad, "token", "").unwrap_err();
        let inputs: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(inputs, ["holidays", "timezone", "whatsapp.access_token", "working_hours.wed"]);
        assert!(errors["working_hours.wed"].contains("“25:00-26:00”"));
    }

    #[test]
    fn a_refusal_of_manage_lands_on_its_input() {
        assert_eq!(input_of("working_hours.mon[0]"), "working_hours.mon");
        assert_eq!(input_of("whatsapp.phone_number_id"), "whatsapp.phone_number_id");
        assert_eq!(input_of("templates[0]"), "_form");
    }
}
