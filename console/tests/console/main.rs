//! The console through its router (`tower::ServiceExt::oneshot`), over the in-memory store.

mod assets;
mod automations;
mod pages;
mod security;
mod sign_in;
mod support;
