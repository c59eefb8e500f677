//! The console's routes, below `/console` (the nest strips the prefix).
//!
//! To add a page: write its handler in a module here (one module per area), its template under
//! `templates/` (extending `base.html`), and add its route to `private` (behind the session
//! guard: signed in, CSRF checked on every POST) or, rarely, to the public ones.

mod automations;
mod contacts;
mod editor;
mod lang;
mod runs;
mod sign_in;
mod templates;
mod versions;
mod workspace;

use crate::{Console, assets, error, guard};
use avvio_common::ports::{EventQueue, Management};
use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use std::sync::Arc;

pub(crate) fn router<S: Management + 'static, E: EventQueue + 'static>(console: Arc<Console<S, E>>) -> Router {
    let private = Router::new()
        .route("/automations", get(automations::list::<S, E>))
        .route("/automations/new", get(editor::new::<S, E>).post(editor::submit_new::<S, E>))
        .route("/automations/{id}", get(editor::edit::<S, E>).post(editor::submit_existing::<S, E>))
        .route("/automations/{id}/enabled", post(automations::set_enabled::<S, E>))
        .route("/automations/{id}/versions", get(versions::history::<S, E>))
        .route("/automations/{id}/versions/{n}", get(versions::show::<S, E>))
        .route("/automations/{id}/versions/{n}/restore", post(versions::restore::<S, E>))
        .route("/runs", get(runs::list::<S, E>))
        .route("/runs/{id}", get(runs::show::<S, E>))
        .route("/contacts", get(contacts::list::<S, E>))
        .route("/contacts/{phone}", get(contacts::show::<S, E>).post(contacts::edit::<S, E>))
        .route("/templates", get(templates::list::<S, E>))
        .route("/templates/sync", post(templates::sync::<S, E>))
        .route("/workspace", get(workspace::show::<S, E>).post(workspace::edit::<S, E>))
        .route("/sign-out", post(sign_in::sign_out))
        .route_layer(from_fn_with_state(console.clone(), guard::require_session::<S, E>));
    Router::new()
        .route("/sign-in", get(sign_in::form::<S, E>).post(sign_in::submit::<S, E>))
        .route("/lang", get(lang::switch))
        .route("/assets/{name}", get(assets::serve))
        .merge(private)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(from_fn(error::decorate))
        .with_state(console)
}
