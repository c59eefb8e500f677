//! Contacts: the list (search by phone or name, filter by tag or list), a contact's page (its
//! values and its runs) and its form. The form changes the contact through
//! `manage::edit_contact`, which stores it as `PUT /v1/contacts/{phone}` does; the consent
//! change's event and the list changes are queued as the API queues them.

mod texts;

use crate::Console;
use crate::error::Failure;
use crate::form::Form;
use crate::i18n::Texts;
use crate::page::{Page, query_encode, render_status};
use crate::session::Session;
use askama::Template;
use avvio_common::domain::contact::{ConsentChoice, MarketingConsent};
use avvio_common::domain::{Contact, FieldKey, ListName, Operator, Run, RunStatus, Tag};
use avvio_common::engine::ContactEdit;
use avvio_common::manage::{self, ManageError};
use avvio_common::ports::{EventQueue, Management};
use avvio_common::time::Time;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
pub use texts::ContactTexts;

type Shared<S, E> = State<Arc<Console<S, E>>>;

const NAV: &str = "contacts";
/// The most rows the list shows: past it, the page asks to search or filter.
const MAX_ROWS: usize = 200;
/// The most runs a contact's page lists (newest first).
const MAX_RUNS: usize = 50;
/// Empty rows the form offers for new fields.
const NEW_FIELD_ROWS: usize = 2;
/// The most field rows a form may send.
const MAX_FIELD_ROWS: usize = 1000;

fn now() -> Time {
    chrono::Utc::now()
}

fn when(at: Time) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A phone as people read it (`+393331234567`).
fn phone(contact: &Contact) -> Option<String> {
    contact.phone.as_ref().map(|p| format!("+{p}"))
}

/// A consent's words and its badge's modifier.
fn consent(tx: &ContactTexts, marketing: MarketingConsent) -> (&'static str, &'static str) {
    match marketing {
        MarketingConsent::Unknown => (tx.consent_unknown, "pending"),
        MarketingConsent::OptedIn => (tx.consent_opted_in, "on"),
        MarketingConsent::OptedOut => (tx.consent_opted_out, "off"),
    }
}

fn consent_value(marketing: MarketingConsent) -> &'static str {
    match marketing {
        MarketingConsent::Unknown => "unknown",
        MarketingConsent::OptedIn => "opted_in",
        MarketingConsent::OptedOut => "opted_out",
    }
}

// ---------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------

/// `GET contacts?q=&tag=&list=`: each optional; empty means any.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    list: String,
}

/// One row of the list.
struct Row {
    key: String,
    name: Option<String>,
    phone: Option<String>,
    /// The BSUID, for a contact known by it alone.
    user_id: Option<String>,
    tags: Vec<String>,
    lists: Vec<String>,
    consent: (&'static str, &'static str),
    blocked: bool,
    last_message: Option<String>,
}

impl Row {
    fn new(tx: &ContactTexts, contact: &Contact) -> Self {
        Self {
            key: contact.key().to_string(),
            name: contact.name.clone(),
            phone: phone(contact),
            user_id: if contact.phone.is_none() { contact.bsuid.as_ref().map(|b| b.to_string()) } else { None },
            tags: contact.tags.iter().map(|t| t.as_str().to_string()).collect(),
            lists: contact.lists.iter().map(|l| l.as_str().to_string()).collect(),
            consent: consent(tx, contact.marketing),
            blocked: contact.blocked,
            last_message: contact.last_inbound_at.map(when),
        }
    }
}

#[derive(Template)]
#[template(path = "contacts/list.html")]
struct ListPage<'a> {
    page: &'a Page,
    t: &'static Texts,
    tx: &'static ContactTexts,
    q: String,
    tag: String,
    list: String,
    /// Why the tag or the list filter cannot be used, by input name.
    errors: BTreeMap<&'static str, String>,
    rows: Vec<Row>,
    /// How many contacts match (the rows may be fewer).
    matching: usize,
    /// Whether the workspace has no contact at all (no search, no filter).
    filtered: bool,
}

impl ListPage<'_> {
    fn error(&self, name: &str) -> Option<&str> {
        self.errors.get(name).map(String::as_str)
    }
}

/// Whether `contact` matches the search `q`: its phone holds q's digits, or its name, username
/// or BSUID holds q (any case).
fn matches(contact: &Contact, q: &str) -> bool {
    let q = q.trim();
    if q.is_empty() {
        return true;
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let number_like = q.chars().all(|c| c.is_ascii_digit() || " +-.()".contains(c));
    if number_like && !digits.is_empty() && contact.phone.as_ref().is_some_and(|p| p.as_str().contains(&digits)) {
        return true;
    }
    let q = q.to_lowercase();
    let holds = |text: Option<&str>| text.is_some_and(|t| t.to_lowercase().contains(&q));
    holds(contact.name.as_deref())
        || holds(contact.username.as_deref())
        || holds(contact.bsuid.as_ref().map(|b| b.as_str()))
}

/// `GET contacts`: the workspace's contacts that match the search and the filters (the tag
/// and list filters are the store's, as `GET /v1/contacts?tag=&list=`), ordered by phone.
pub async fn list<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Result<Response, Failure> {
    page.nav = NAV;
    let tx = ContactTexts::of(page.lang);
    let (tag, list) = (query.tag.trim(), query.list.trim());
    let given = |raw: &'_ str| -> Option<String> { (!raw.is_empty()).then(|| raw.to_string()) };
    let (tag_filter, list_filter) = (given(tag), given(list));
    let mut errors = BTreeMap::new();
    // Only the rows shown are read whole: the store counts the rest.
    let searched = |c: &Contact| matches(c, &query.q);
    let store = &console.app.store;
    let found = manage::first_contacts(
        store,
        &session.workspace,
        tag_filter.as_deref(),
        list_filter.as_deref(),
        &searched,
        MAX_ROWS,
    )
    .await;
    let (contacts, matching) = match found {
        Ok(found) => found,
        Err(ManageError::Invalid(issue)) => {
            let (name, text) = if issue.path == "list" { ("list", tx.error_list) } else { ("tag", tx.error_tag) };
            let value = if name == "list" { list } else { tag };
            errors.insert(name, format!("{text} “{value}”."));
            (Vec::new(), 0)
        }
        Err(other) => return Err(other.into()),
    };
    let rows = contacts.iter().map(|c| Row::new(tx, c)).collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let template = ListPage {
        page: &page,
        t: page.t,
        tx,
        q: query.q.trim().to_string(),
        tag: tag.to_string(),
        list: list.to_string(),
        errors,
        rows,
        matching,
        filtered: !query.q.trim().is_empty() || !tag.is_empty() || !list.is_empty(),
    };
    Ok(render_status(status, &template))
}

// ---------------------------------------------------------------------------
// A contact's page and its form
// ---------------------------------------------------------------------------

/// The form's values, as stored or as sent back (then kept as typed, to be corrected).
struct ContactForm {
    name: String,
    /// Field rows: name and value.
    fields: Vec<(String, String)>,
    /// One per line.
    tags: String,
    lists: String,
    /// `unknown`, `opted_in` or `opted_out`.
    marketing: String,
    operator: String,
    blocked: bool,
}

impl ContactForm {
    fn of(contact: &Contact) -> Self {
        Self {
            name: contact.name.clone().unwrap_or_default(),
            fields: contact.fields.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect(),
            tags: lines(contact.tags.iter().map(Tag::as_str)),
            lists: lines(contact.lists.iter().map(ListName::as_str)),
            marketing: consent_value(contact.marketing).to_string(),
            operator: contact.operator.as_ref().map(|o| o.as_str().to_string()).unwrap_or_default(),
            blocked: contact.blocked,
        }
    }
}

fn lines<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join("\n")
}

/// A field row as the template shows it.
struct FieldRow {
    index: usize,
    key: String,
    value: String,
    key_error: Option<String>,
}

/// A run of the contact, as its page lists it.
struct RunRow {
    id: String,
    automation: String,
    version: u32,
    started: String,
    steps: usize,
    status: (&'static str, &'static str),
    reason: Option<String>,
}

impl RunRow {
    fn new(tx: &ContactTexts, run: &Run, names: &HashMap<String, String>) -> Self {
        let automation = run.automation.as_str();
        let (status, reason) = match &run.status {
            RunStatus::Active => ((tx.run_active, "active"), None),
            RunStatus::Completed => ((tx.run_completed, "done"), None),
            RunStatus::Cancelled { reason } => ((tx.run_cancelled, "ended"), Some(reason.clone())),
        };
        Self {
            id: run.id.as_str().to_string(),
            automation: names.get(automation).cloned().unwrap_or_else(|| automation.to_string()),
            version: run.version,
            started: when(run.started_at),
            steps: run.steps.len(),
            status,
            reason,
        }
    }
}

#[derive(Template)]
#[template(path = "contacts/show.html")]
struct ShowPage<'a> {
    page: &'a Page,
    t: &'static Texts,
    tx: &'static ContactTexts,
    /// The contact's key, for URLs (encode it as a path segment).
    key: String,
    title: String,
    phone: Option<String>,
    user_id: Option<String>,
    username: Option<String>,
    last_message: Option<String>,
    consent: (&'static str, &'static str),
    /// Whether the stored consent is still `unknown` (then the form offers it).
    consent_unknown: bool,
    blocked: bool,
    form: ContactForm,
    field_rows: Vec<FieldRow>,
    /// Why a value was refused, by input name; `_form` for the form as a whole.
    errors: BTreeMap<String, String>,
    /// The saved message to show, after a save.
    saved: Option<&'static str>,
    runs: Vec<RunRow>,
    more_runs: bool,
}

impl ShowPage<'_> {
    fn error(&self, name: &str) -> Option<&str> {
        self.errors.get(name).map(String::as_str)
    }
}

/// `GET contacts/{phone}?saved=`.
#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// The contact `key`, or the 404 page (an unreadable key names no contact either).
async fn stored_contact<S: Management>(store: &S, session: &Session, key: &str) -> Result<Contact, Failure> {
    match manage::contact(store, &session.workspace, key).await {
        Ok(contact) => Ok(contact),
        Err(ManageError::Invalid(_) | ManageError::NotFound(_)) => Err(Failure::not_found(format!("contact {key}"))),
        Err(other) => Err(other.into()),
    }
}

/// The contact's page, with `form` in its form and `errors` at its inputs.
async fn show_page<S: Management>(
    store: &S,
    page: &Page,
    session: &Session,
    contact: &Contact,
    form: ContactForm,
    errors: BTreeMap<String, String>,
    saved: Option<&'static str>,
) -> Result<Response, Failure> {
    let tx = ContactTexts::of(page.lang);
    let key = contact.key().to_string();
    // The contact's newest runs, through the store's contact filter (never a scan of every run).
    let (runs, total_runs) = manage::newest_runs(store, &session.workspace, Some(&key), None, MAX_RUNS).await?;
    let names: HashMap<String, String> = store
        .automations(&session.workspace)
        .await?
        .iter()
        .map(|a| (a.id().as_str().to_string(), a.name.clone()))
        .collect();
    let mut field_rows: Vec<FieldRow> = form
        .fields
        .iter()
        .enumerate()
        .map(|(index, (key, value))| FieldRow {
            index,
            key: key.clone(),
            value: value.clone(),
            key_error: errors.get(&format!("fields[{index}].key")).cloned(),
        })
        .collect();
    let next = field_rows.len();
    field_rows.extend((next..next + NEW_FIELD_ROWS).map(|index| FieldRow {
        index,
        key: String::new(),
        value: String::new(),
        key_error: None,
    }));
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let template = ShowPage {
        page,
        t: page.t,
        tx,
        title: contact.name.clone().or_else(|| phone(contact)).unwrap_or_else(|| key.clone()),
        key,
        phone: phone(contact),
        user_id: contact.bsuid.as_ref().map(|b| b.to_string()),
        username: contact.username.clone(),
        last_message: contact.last_inbound_at.map(when),
        consent: consent(tx, contact.marketing),
        consent_unknown: contact.marketing == MarketingConsent::Unknown,
        blocked: contact.blocked,
        form,
        field_rows,
        errors,
        saved,
        more_runs: total_runs > MAX_RUNS,
        runs: runs.iter().map(|run| RunRow::new(tx, run, &names)).collect(),
    };
    Ok(render_status(status, &template))
}

/// `GET contacts/{phone}`: the contact's values, its form and its runs.
pub async fn show<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
    Path(key): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, Failure> {
    page.nav = NAV;
    let tx = ContactTexts::of(page.lang);
    let store = &console.app.store;
    let contact = stored_contact(store, &session, &key).await?;
    let saved = match query.saved.as_deref() {
        Some("lists") => Some(tx.saved_lists),
        Some(_) => Some(tx.saved),
        None => None,
    };
    show_page(store, &page, &session, &contact, ContactForm::of(&contact), BTreeMap::new(), saved).await
}

/// Reads the form's fields into its values; a field the form does not have is a 400.
fn read_form(pairs: Vec<(String, String)>) -> Result<ContactForm, Failure> {
    let mut form = ContactForm {
        name: String::new(),
        fields: Vec::new(),
        tags: String::new(),
        lists: String::new(),
        marketing: String::new(),
        operator: String::new(),
        blocked: false,
    };
    let mut rows: BTreeMap<usize, (String, String)> = BTreeMap::new();
    for (name, value) in pairs {
        match name.as_str() {
            "name" => form.name = value,
            "tags" => form.tags = value,
            "lists" => form.lists = value,
            "marketing" => form.marketing = value,
            "operator" => form.operator = value,
            "blocked" => form.blocked = matches!(value.as_str(), "on" | "true"),
            other => {
                let row = other
                    .strip_prefix("fields[")
                    .and_then(|rest| rest.split_once("]."))
                    .and_then(|(index, part)| Some((index.parse::<usize>().ok()?, part)))
                    .filter(|(index, _)| *index < MAX_FIELD_ROWS);
                match row {
                    Some((index, "key")) => rows.entry(index).or_default().0 = value,
                    Some((index, "value")) => rows.entry(index).or_default().1 = value,
                    _ => return Err(Failure::malformed(format!("the form has no field `{other}`"))),
                }
            }
        }
    }
    form.fields = rows.into_values().filter(|(k, v)| !(k.trim().is_empty() && v.trim().is_empty())).collect();
    Ok(form)
}

/// Checks the form's values against the stored contact: the edit, or the reasons by input name.
fn check(tx: &ContactTexts, form: &ContactForm, stored: &Contact) -> Result<ContactEdit, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let mut fields = BTreeMap::new();
    for (index, (key, value)) in form.fields.iter().enumerate() {
        let (key, value) = (key.trim(), value.trim());
        let at = format!("fields[{index}].key");
        if key.is_empty() {
            errors.insert(at, tx.error_field_name_missing.to_string());
            continue;
        }
        match FieldKey::parse(key) {
            Err(_) => {
                errors.insert(at, tx.error_field_name.to_string());
            }
            Ok(key) if fields.contains_key(&key) => {
                errors.insert(at, tx.error_field_twice.to_string());
            }
            // An emptied value removes its field (but still counts for duplicates).
            Ok(key) => {
                fields.insert(key, value.to_string());
            }
        }
    }
    fields.retain(|_, value: &mut String| !value.is_empty());
    let tags = set(&form.tags, |raw| Tag::parse(raw).ok(), tx.error_tag, "tags", &mut errors);
    let lists = set(&form.lists, |raw| ListName::parse(raw).ok(), tx.error_list, "lists", &mut errors);
    let operator = match form.operator.trim() {
        "" => None,
        raw => Operator::parse(raw).map_err(|_| errors.insert("operator".into(), tx.error_operator.into())).ok(),
    };
    let marketing = match (form.marketing.as_str(), stored.marketing) {
        ("unknown" | "", MarketingConsent::Unknown) | ("", _) => None,
        ("unknown", _) => {
            errors.insert("marketing".into(), tx.error_consent_reset.into());
            None
        }
        ("opted_in", _) => Some(ConsentChoice::OptedIn),
        ("opted_out", _) => Some(ConsentChoice::OptedOut),
        _ => {
            errors.insert("marketing".into(), tx.error_consent.into());
            None
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let name = Some(form.name.trim().to_string()).filter(|n| !n.is_empty());
    Ok(ContactEdit { name, fields, tags, lists, operator, marketing, blocked: form.blocked })
}

/// The set of the non-blank lines of `raw`, each read by `parse`; the lines it refuses are
/// named in one error at `input`.
fn set<T: Ord>(
    raw: &str,
    parse: impl Fn(&str) -> Option<T>,
    reason: &str,
    input: &str,
    errors: &mut BTreeMap<String, String>,
) -> BTreeSet<T> {
    let mut items = BTreeSet::new();
    let mut refused = Vec::new();
    for line in raw.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match parse(line) {
            Some(item) => {
                items.insert(item);
            }
            None => refused.push(format!("“{}”", line.chars().take(120).collect::<String>())),
        }
    }
    if !refused.is_empty() {
        errors.insert(input.to_string(), format!("{reason} {}.", refused.join(", ")));
    }
    items
}

/// `POST contacts/{phone}`: stores the form through `manage::edit_contact`, queues the consent
/// change (put back when it cannot be queued, as `PUT /v1/contacts` does) and the list changes
/// (as `/v1/lists` does), then goes back to the contact's page. Values it refuses are shown at
/// their inputs (422) and nothing is stored.
pub async fn edit<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
    Path(key): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, Failure> {
    page.nav = NAV;
    let tx = ContactTexts::of(page.lang);
    let app = &console.app;
    let stored = stored_contact(&app.store, &session, &key).await?;
    let form = read_form(pairs)?;
    let edit = match check(tx, &form, &stored) {
        Ok(edit) => edit,
        Err(errors) => return show_page(&app.store, &page, &session, &stored, form, errors, None).await,
    };
    let edited = match manage::edit_contact(&app.store, &session.workspace, &key, edit, now()).await {
        Ok(edited) => edited,
        Err(ManageError::Invalid(issue) | ManageError::Conflict(issue)) => {
            let at = if form_has(&issue.path) { issue.path } else { "_form".into() };
            let errors = BTreeMap::from([(at, issue.message)]);
            return show_page(&app.store, &page, &session, &stored, form, errors, None).await;
        }
        Err(other) => return Err(other.into()),
    };
    manage::queue_consent_change(&app.store, &app.events, &session.workspace, &edited.put)
        .await
        .map_err(|e| Failure::unavailable(e.0))?;
    for change in &edited.list_changes {
        app.events.enqueue(change.clone()).await.map_err(|e| Failure::unavailable(e.0))?;
    }
    let saved = if edited.list_changes.is_empty() { "1" } else { "lists" };
    let key = edited.put.contact.key().to_string();
    Ok(page.redirect(&format!("contacts/{}?saved={saved}", query_encode(&key))))
}

/// Whether the form has an input named `path` (where a refusal of `manage` is shown).
fn form_has(path: &str) -> bool {
    matches!(path, "name" | "tags" | "lists" | "marketing" | "operator" | "blocked")
}

#[cfg(test)]
mod tests {
    use super::*;
    use avvio_common::domain::WaId;

    fn contact() -> Contact {
        let mut contact = Contact::new(&avvio_common::domain::ContactKey::Phone(WaId::parse("393331234567").unwrap()));
        contact.name = Some("Maria Rossi".into());
        contact.username = Some("maria.r".into());
        contact
    }

    #[test]
    fn a_search_finds_a_contact_by_part_of_its_number_or_its_name() {
        let maria = contact();
        for q in ["", "333 123", "+39 333", "maria", "ROSSI", "maria.r"] {
            assert!(matches(&maria, q), "{q}");
        }
        for q in ["444", "luca", "39 9"] {
            assert!(!matches(&maria, q), "{q}");
        }
    }

    #[test]
    fn blank_field_rows_are_dropped_and_rows_keep_their_order() {
        let pairs = [
            ("fields[1].key", "city"),
            ("fields[1].value", "Milano"),
            ("fields[0].key", "order"),
            ("fields[0].value", "12"),
            ("fields[2].key", ""),
            ("fields[2].value", " "),
            ("blocked", "on"),
        ];
        let form = read_form(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap();
        assert_eq!(form.fields, [("order".into(), "12".into()), ("city".into(), "Milano".into())]);
        assert!(form.blocked);
        assert!(read_form(vec![("fields[x].key".into(), "a".into())]).is_err());
        assert!(read_form(vec![("engine".into(), "a".into())]).is_err());
    }

    #[test]
    fn an_emptied_value_removes_its_field_and_a_known_consent_cannot_be_reset() {
        let tx = ContactTexts::of(crate::i18n::Lang::En);
        let mut stored = contact();
        stored.marketing = MarketingConsent::OptedIn;
        let mut form = ContactForm::of(&stored);
        form.fields = vec![("city".into(), "Milano".into()), ("order".into(), "".into())];
        let edit = check(tx, &form, &stored).unwrap();
        assert_eq!(edit.fields.len(), 1);
        assert_eq!(edit.marketing, Some(ConsentChoice::OptedIn));
        form.marketing = "unknown".into();
        assert!(check(tx, &form, &stored).unwrap_err().contains_key("marketing"));
    }
}
