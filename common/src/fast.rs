//! The hash map of the in-memory store and the catalog: `foldhash`'s fast hasher,
//! seeded per process, instead of SipHash. Their keys (phrases, contact keys, wamids,
//! run ids) come from webhooks, so the seed matters; `avvio dev` listens on localhost only.

/// A `HashMap` with the fast hasher (build it with `Default::default()`).
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
