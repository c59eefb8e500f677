//! The management API (`/v1`). Each handler reads its path, query and body,
//! calls the rule in `avvio_common::manage` for the workspace the API key
//! selects, and answers JSON. Changes that start runs are queued for the matcher.

use crate::paging::{self, PageRequest};
use crate::{ApiError, App, Segments};
use avvio_common::domain::WorkspaceId;
use avvio_common::domain::contact::Contact;
use avvio_common::manage::{self, ManageError, fresh_token};
use avvio_common::ports::{EventQueue, KeyHash, Management, PipelineEvent};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

type Shared<S, E> = State<Arc<App<S, E>>>;
type Answer = Result<Response, ApiError>;

/// The workspace the request's API key selects (`Authorization: Bearer <key>`).
pub struct Tenant(pub WorkspaceId);

impl<S: Management, E: EventQueue> FromRequestParts<Arc<App<S, E>>> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App<S, E>>) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ApiError::unauthorized("send the API key as `Authorization: Bearer <key>`"))?;
        match app.store.workspace_for_key(&KeyHash::of(key)).await.map_err(ApiError::store)? {
            Some(ws) => Ok(Self(ws)),
            None => Err(ApiError::unauthorized("the API key is not valid")),
        }
    }
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Invalid(issue) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: issue.code,
                message: issue.message,
                path: Some(issue.path),
            },
            ManageError::Conflict(issue) => {
                Self { status: StatusCode::CONFLICT, code: issue.code, message: issue.message, path: Some(issue.path) }
            }
            ManageError::NotFound(message) => Self::new(StatusCode::NOT_FOUND, "not_found", message),
            ManageError::Store(e) => Self::store(e),
            ManageError::Meta(e) => Self::new(StatusCode::BAD_GATEWAY, e.code(), e.to_string()),
        }
    }
}

/// Reads a JSON body; an empty body reads as `{}`.
async fn json_body(body: Body) -> Result<Value, ApiError> {
    let raw = crate::read_body(body).await?;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&raw).map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|e| ApiError::bad_request(e.body_text()))
}

fn ok(value: Value) -> Answer {
    reply(StatusCode::OK, value)
}

fn reply(status: StatusCode, value: Value) -> Answer {
    Ok((status, Json(value)).into_response())
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("API documents always serialise")
}

fn no_content() -> Answer {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Queues an event for the matcher and answers 202 with its request id.
async fn accepted<S, E: EventQueue>(app: &App<S, E>, event: PipelineEvent) -> Answer {
    let request_id = event.dedupe_key();
    app.events.enqueue(event).await.map_err(|_| ApiError::unavailable())?;
    reply(StatusCode::ACCEPTED, json!({ "status": "accepted", "request_id": request_id }))
}

fn now() -> avvio_common::time::Time {
    chrono::Utc::now()
}

// --- workspace and templates ---------------------------------------------

pub async fn get_workspace<S: Management, E: EventQueue>(State(app): Shared<S, E>, Tenant(ws): Tenant) -> Answer {
    ok(manage::workspace(&app.store, &ws).await?)
}

pub async fn put_workspace<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    body: Body,
) -> Answer {
    let body = json_body(body).await?;
    ok(manage::put_workspace(&app.store, &ws, body, now()).await?)
}

pub async fn list_templates<S: Management, E: EventQueue>(State(app): Shared<S, E>, Tenant(ws): Tenant) -> Answer {
    ok(json!({ "templates": manage::templates(&app.store, &ws).await? }))
}

/// `POST /v1/templates/sync`: the workspace's templates made equal to Meta's.
pub async fn sync_templates<S: Management, E: EventQueue>(State(app): Shared<S, E>, Tenant(ws): Tenant) -> Answer {
    let meta = &app.templates;
    let synced = manage::sync_templates(&app.store, &meta.source, &ws, meta.default_access_token.as_deref()).await?;
    ok(to_json(&synced))
}

pub async fn put_template<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments((name, language)): Segments<(String, String)>,
    body: Body,
) -> Answer {
    let body = json_body(body).await?;
    let (created, template) = manage::put_template(&app.store, &ws, &name, &language, body).await?;
    reply(if created { StatusCode::CREATED } else { StatusCode::OK }, to_json(&template))
}

pub async fn delete_template<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments((name, language)): Segments<(String, String)>,
) -> Answer {
    manage::delete_template(&app.store, &ws, &name, &language).await?;
    no_content()
}

// --- automations -----------------------------------------------------------

/// `?limit=` and `?cursor=`, the whole query of `GET /v1/automations`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list_automations<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    let page = PageRequest::read(q.limit.as_deref(), q.cursor.as_deref())?;
    let automations =
        app.store.automations_page(&ws, page.after.as_ref(), page.limit).await.map_err(ApiError::store)?;
    ok(paging::answer(automations, to_json))
}

pub async fn create_automation<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    body: Body,
) -> Answer {
    let body = json_body(body).await?;
    let automation = manage::create_automation(&app.store, &ws, body, now()).await?;
    reply(StatusCode::CREATED, to_json(&automation))
}

pub async fn get_automation<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments(id): Segments<String>,
) -> Answer {
    ok(to_json(&manage::automation(&app.store, &ws, &id).await?))
}

pub async fn put_automation<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments(id): Segments<String>,
    body: Body,
) -> Answer {
    let body = json_body(body).await?;
    ok(to_json(&manage::update_automation(&app.store, &ws, &id, body, now()).await?))
}

pub async fn delete_automation<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments(id): Segments<String>,
) -> Answer {
    manage::delete_automation(&app.store, &ws, &id).await?;
    no_content()
}

/// `GET /v1/automations/{id}/versions`: each stored version's number and when it was saved.
pub async fn list_versions<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments(id): Segments<String>,
) -> Answer {
    let versions = manage::versions(&app.store, &ws, &id).await?;
    let listed: Vec<Value> = versions
        .iter()
        .map(|v| {
            let saved_at = v.saved_at.map(avvio_common::time::format_rfc3339);
            json!({ "version": v.version, "saved_at": saved_at, "enabled": v.enabled, "name": v.name })
        })
        .collect();
    ok(json!({ "versions": listed }))
}

pub async fn get_version<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments((id, version)): Segments<(String, String)>,
) -> Answer {
    ok(to_json(&manage::version(&app.store, &ws, &id, &version).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    since: Option<String>,
    until: Option<String>,
}

/// `GET /v1/automations/{id}/stats?since=&until=`: read from counters, one item per day.
pub async fn stats<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments(id): Segments<String>,
    q: Result<Query<StatsQuery>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    let days = avvio_common::stats::Days::from_query(q.since.as_deref(), q.until.as_deref(), now().date_naive())
        .map_err(ApiError::bad_request)?;
    let stats = manage::stats(&app.store, &ws, &id, days).await?;
    let mut answer = json!({ "automation": id, "since": days.since, "until": days.until });
    answer.as_object_mut().expect("an object").extend(to_json(&stats).as_object().cloned().unwrap_or_default());
    ok(answer)
}

pub async fn run_automation<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments(id): Segments<String>,
    body: Body,
) -> Answer {
    let body = json_body(body).await?;
    let event = manage::manual_run(&app.store, &ws, &id, body, fresh_token("req-")).await?;
    accepted(&app, event).await
}

/// `GET /v1/automations/{id}/diagram`: the flow as a Mermaid flowchart.
pub async fn diagram<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments(id): Segments<String>,
) -> Answer {
    let automation = manage::automation(&app.store, &ws, &id).await?;
    let chart = avvio_common::diagram::mermaid(&automation);
    Ok(([(header::CONTENT_TYPE, "text/vnd.mermaid; charset=utf-8")], chart).into_response())
}

// --- contacts and lists ------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactQuery {
    tag: Option<String>,
    list: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list_contacts<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    q: Result<Query<ContactQuery>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    let page = PageRequest::read(q.limit.as_deref(), q.cursor.as_deref())?;
    let (tag, list) = (q.tag.as_deref(), q.list.as_deref());
    let contacts = manage::contacts_page(&app.store, &ws, tag, list, page.after.as_ref(), page.limit).await?;
    ok(paging::answer(contacts, Contact::public_view))
}

pub async fn get_contact<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments(phone): Segments<String>,
) -> Answer {
    ok(manage::contact(&app.store, &ws, &phone).await?.public_view())
}

pub async fn put_contact<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments(phone): Segments<String>,
    body: Body,
) -> Answer {
    let body = json_body(body).await?;
    let put = manage::put_contact(&app.store, &ws, &phone, body, now()).await?;
    if manage::queue_consent_change(&app.store, &app.events, &ws, &put).await.is_err() {
        // The consent automations cannot start: the consent was put back, so a retry changes it again.
        return Err(ApiError::unavailable());
    }
    reply(if put.created { StatusCode::CREATED } else { StatusCode::OK }, put.contact.public_view())
}

pub async fn delete_contact<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments(phone): Segments<String>,
) -> Answer {
    manage::delete_contact(&app.store, &ws, &phone, now()).await?;
    no_content()
}

pub async fn add_to_list<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments((list, phone)): Segments<(String, String)>,
) -> Answer {
    let event = manage::list_change(&app.store, &ws, &list, &phone, true, fresh_token("req-")).await?;
    accepted(&app, event).await
}

pub async fn remove_from_list<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments((list, phone)): Segments<(String, String)>,
) -> Answer {
    let event = manage::list_change(&app.store, &ws, &list, &phone, false, fresh_token("req-")).await?;
    accepted(&app, event).await
}

// --- runs ------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunQuery {
    phone: Option<String>,
    automation: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list_runs<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    q: Result<Query<RunQuery>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    let page = PageRequest::read(q.limit.as_deref(), q.cursor.as_deref())?;
    let (phone, automation) = (q.phone.as_deref(), q.automation.as_deref());
    let runs = manage::runs_page(&app.store, &ws, phone, automation, page.after.as_ref(), page.limit).await?;
    ok(paging::answer(runs, to_json))
}

pub async fn get_run<S: Management, E: EventQueue>(
    State(app): Shared<S, E>,
    Tenant(ws): Tenant,
    Segments(id): Segments<String>,
) -> Answer {
    ok(to_json(&manage::run(&app.store, &ws, &id).await?))
}
