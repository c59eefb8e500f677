//! Avvio's core: the domain, the pure automation engine, the ports it runs on
//! and their in-memory adapters, the pipeline stages, and the simulator.
//!
//! Data flows one way: an inbound event → `stages::matcher` (runs started) →
//! the step queue → `stages::executor` (one step → effects → the next step).
//! Every rule of the spec lives in [`engine`]; it performs no I/O.

pub mod calendar;
pub mod catalog;
/// Automations drawn as Mermaid flowcharts (`GET /v1/automations/{id}/diagram`).
pub mod diagram;
pub mod domain;
pub mod engine;
pub(crate) mod fast;
pub mod graph;
pub mod manage;
pub mod memory;
/// Meta's template list read into the workspace's templates (`POST /v1/templates/sync`).
pub mod meta_templates;
/// Sends, failures, throttles and timings as CloudWatch embedded-metric-format lines.
pub mod metrics;
pub mod outbound;
pub mod pacing;
pub mod ports;
pub mod simulate;
pub mod stages;
pub mod stats;
pub mod time;
pub mod validate;
pub mod webhook;
