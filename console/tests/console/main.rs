//! The console through its router (`tower::ServiceExt::oneshot`), over the in-memory store.

mod assets;
mod automations;
mod contacts;
mod editor;
mod pages;
mod runs;
mod security;
mod sign_in;
mod support;
mod templates;
mod versions;
mod workspace;
