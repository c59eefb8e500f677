//! Avvio's durable embedded store: the ports of `avvio serve` on one SQLite file.
//!
//! - [`db`]: the file (refused when foreign or damaged), its schema migrations, the writer
//!   thread committing in groups, the readers.
//! - [`store`]: [`SqliteStore`], the `Store` and `Management` ports.
//! - [`queues`]: the durable events and steps queues the matcher and executor drain.

pub mod db;
pub mod queues;
pub mod store;

pub use db::OpenError;
pub use queues::{SqliteEventQueue, SqliteStepQueue};
pub use store::SqliteStore;
