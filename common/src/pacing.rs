//! Sending within WhatsApp's limits (SPEC §2.6): the pace of one phone number, and what a send
//! Meta refused does next. Pure: time is passed in; the stores keep the pace's state.

use crate::engine::codes;
use crate::time::Time;
use chrono::Duration;

/// The interval between two sends of a number sending at most `rate` messages per second:
/// 5% wider than `1/rate`, so that the jitter between a slot and its send reaching Meta (the
/// scheduler, the network) never puts more than `rate` sends in one second where Meta counts.
pub fn interval(rate: u32) -> Duration {
    Duration::nanoseconds(1_050_000_000 / i64::from(rate.max(1)))
}

/// Generic cell rate: a number whose next free send slot is `next_free` (`None`: it never sent)
/// takes `count` slots at `now`. Returns the first slot taken and the next free one after them.
/// The slots are `interval(rate)` apart, none before `now`: no window of one second ever holds
/// more than `rate` sends, and a number idle for a while does not send a burst.
pub fn take_slots(next_free: Option<Time>, rate: u32, count: u32, now: Time) -> (Time, Time) {
    let first = next_free.map_or(now, |free| free.max(now));
    (first, first + interval(rate) * count as i32)
}

/// What a send Meta refused does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Nothing went out: try again at `at`.
    RetryAt(Time),
    /// The step fails with `code`.
    Fail(String),
    /// 131050: the contact stopped marketing messages. The step fails with
    /// `marketing_opt_out` and the contact is opted out (SPEC §2.4).
    OptOut,
}

/// Meta's per-user marketing limit: the step fails with `marketing_limit`.
pub const META_MARKETING_LIMIT: &str = "131049";
/// The user stopped marketing messages: the contact is opted out.
pub const META_MARKETING_OPT_OUT: &str = "131050";
/// The (business, consumer) pair rate: Meta asks for a 4^n-second backoff.
pub const META_PAIR_RATE: &str = "131056";

/// The longest wait between two tries of a throttled send (the pair rate's 4^n grows past it).
const MAX_BACKOFF: Duration = Duration::minutes(30);

/// How long a send waits before try `attempts + 1` after Meta refused it `attempts` times:
/// 4^(attempts−1) seconds for the pair rate (1, 4, 16, 64 s…, as Meta asks), else 2^attempts
/// seconds (2, 4, 8…), at most 30 minutes.
pub fn backoff(code: &str, attempts: u32) -> Duration {
    let n = attempts.saturating_sub(1).min(20);
    let seconds = if code == META_PAIR_RATE { 4i64.saturating_pow(n) } else { 2i64.saturating_pow(n + 1) };
    Duration::seconds(seconds).min(MAX_BACKOFF)
}

/// What follows Meta refusing a send with `code`: `retryable` as the sender classified it,
/// `attempts` the refusals so far including this one, `since` the first, `retry_for` the
/// workspace's `whatsapp.retry_for`. A retryable refusal is tried again until `retry_for` after
/// the first would be passed; then the step fails with Meta's code.
pub fn after_refusal(
    code: &str,
    retryable: bool,
    attempts: u32,
    since: Time,
    retry_for: Duration,
    now: Time,
) -> Refusal {
    match code {
        META_MARKETING_LIMIT => Refusal::Fail(codes::MARKETING_LIMIT.to_string()),
        META_MARKETING_OPT_OUT => Refusal::OptOut,
        _ if !retryable => Refusal::Fail(code.to_string()),
        _ => {
            let at = now + backoff(code, attempts);
            if at > since + retry_for { Refusal::Fail(code.to_string()) } else { Refusal::RetryAt(at) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        chrono::DateTime::from_timestamp(1_796_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn slots_are_one_interval_apart_and_never_before_now() {
        let gap = Duration::microseconds(21_000);
        let (first, next) = take_slots(None, 50, 1, at(0));
        assert_eq!((first, next), (at(0), at(0) + gap));
        let (first, next) = take_slots(Some(next), 50, 10, at(0));
        assert_eq!(first, at(0) + gap);
        assert_eq!(next, at(0) + gap * 11);
        assert!(gap * 50 > Duration::seconds(1), "50 slots never fit in one second");
        let (first, _) = take_slots(Some(next), 50, 1, at(5));
        assert_eq!(first, at(5), "an idle number starts from now, without a burst");
    }

    #[test]
    fn the_pair_rate_backs_off_by_powers_of_four_and_the_others_by_powers_of_two() {
        let pair: Vec<i64> = (1..=5).map(|n| backoff(META_PAIR_RATE, n).num_seconds()).collect();
        assert_eq!(pair, [1, 4, 16, 64, 256]);
        let other: Vec<i64> = (1..=4).map(|n| backoff("130429", n).num_seconds()).collect();
        assert_eq!(other, [2, 4, 8, 16]);
        assert_eq!(backoff(META_PAIR_RATE, 40), MAX_BACKOFF);
    }

    #[test]
    fn a_throttled_send_is_retried_until_retry_for_then_fails_with_meta_s_code() {
        let four_hours = Duration::hours(4);
        assert_eq!(after_refusal("130429", true, 1, at(0), four_hours, at(0)), Refusal::RetryAt(at(2)));
        let late = at(4 * 3600 - 1);
        assert_eq!(after_refusal("130429", true, 9, at(0), four_hours, late), Refusal::Fail("130429".into()));
    }

    #[test]
    fn marketing_refusals_fail_with_their_codes_and_the_opt_out_opts_out() {
        let now = at(0);
        let limit = after_refusal(META_MARKETING_LIMIT, false, 1, now, Duration::hours(4), now);
        assert_eq!(limit, Refusal::Fail("marketing_limit".into()));
        assert_eq!(after_refusal(META_MARKETING_OPT_OUT, false, 1, now, Duration::hours(4), now), Refusal::OptOut);
        assert_eq!(after_refusal("131047", false, 1, now, Duration::hours(4), now), Refusal::Fail("131047".into()));
    }
}
