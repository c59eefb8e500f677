//! The hash map of the in-memory store and the catalog: `foldhash`'s fast hasher,
//! seeded per process, instead of SipHash. Their keys (phrases, contact keys, wamids,
//! run ids) come from webhooks, so the seed matters; `avvio dev` listens on localhost only.

/// A `HashMap` with the fast hasher (build it with `Default::default()`).
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Writes `value` in decimal into all of `out`, zero-padded on the left (the digits that do
/// not fit are dropped: callers size `out` for their values). For ids and instants written
/// on the stack instead of through `format!`.
pub fn put_digits(out: &mut [u8], value: u64) {
    let mut rest = value;
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
}
