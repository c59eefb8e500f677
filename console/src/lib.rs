//! Avvio's web console (SPEC §6): server-rendered HTML under `/console/`, on the one router
//! beside the API, so `avvio dev`, `avvio serve` and the ingest Lambda all serve it.
//!
//! - Pages are askama templates (`templates/`, checked at compile time) with htmx for partial
//!   updates; every asset is embedded and served by [`assets`] under a content-hashed name.
//! - [`router`] answers everything: the API's routes, `GET /` → `console/`, and the console.
//! - A request goes through [`error::decorate`] (reads its [`page::Page`], renders failures as
//!   HTML pages, sets the security headers) and, for every page but sign-in, the language
//!   switch and the assets, through [`guard::require_session`] (a valid [`session::Session`],
//!   and the CSRF token on every POST).
//! - Handlers change things only through `avvio_common::manage`, as `/v1` does.
//!
//! `docs/console.md` says how to add a page.

pub mod assets;
pub mod describe;
pub mod editor;
pub mod error;
pub mod form;
pub mod guard;
pub mod i18n;
pub mod page;
mod pages;
pub mod runs;
pub mod session;

use avvio_api::App;
use avvio_common::ports::{EventQueue, Management};
use axum::Router;
use axum::routing::get;
use std::sync::Arc;

/// What the console's handlers share: the API's [`App`] (store, events queue, secrets) and the
/// key that signs sessions.
pub struct Console<S, E> {
    pub app: Arc<App<S, E>>,
    pub keys: session::Keys,
}

/// The whole HTTP surface: the API router, `GET /` → `console/`, and the console under `/console`.
pub fn router<S: Management + 'static, E: EventQueue + 'static>(app: Arc<App<S, E>>) -> Router {
    let console = Arc::new(Console { keys: session::Keys::new(&app.config.app_secret), app: app.clone() });
    avvio_api::router(app)
        .route("/", get(|| async { page::see_other("console/") }))
        .route("/console", get(|| async { page::see_other("console/") }))
        .route("/console/", get(|| async { page::see_other("automations") }))
        .nest("/console", pages::router(console))
}

/// The wall clock in Unix seconds (sessions take `now` as an argument; only handlers read it).
pub(crate) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}
