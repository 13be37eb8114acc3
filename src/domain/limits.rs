//! The limits against SMS pumping, as decisions over the [`Counters`] port: per number
//! (`MAX_SMS_PER_NUMBER_PER_HOUR`), per prefix with a block once a prefix had its hour's share
//! (`MAX_SMS_PER_PREFIX_PER_HOUR`, `PREFIX_BLOCK_SECONDS`), and per country
//! (`MAX_SMS_PER_COUNTRY_PER_HOUR`). Which counters a send counts in, and taking back a send that
//! certainly did not go out. When it counts, and what a failing store means, is the send's
//! business (the dedupe module).
//!
//! Every counter is an atomic conditional write in the store, named by an HMAC of what it counts
//! and the hour: the store holds no number, prefix or country in clear, and cannot link one
//! number's hours together.

use crate::domain::country::Country;
use crate::domain::ports::{Counters, Fingerprint, StoreError};
use crate::domain::sms::SmsRequest;
use crate::settings::{ConfigError, Env};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Fraud Guard's block: 12 hours.
pub const DEFAULT_PREFIX_BLOCK: Duration = Duration::from_secs(43_200);

/// The digits a prefix leaves off: a block of 10,000 numbers, as carriers sell ranges.
const PREFIX_DROPS: usize = 4;

/// The national digits a prefix keeps at least: a prefix is never a whole country's plan.
const PREFIX_KEEPS: usize = 2;

/// The least time the write of a prefix's block gets, even when the counts used up their share
/// of the deadline: the send is refused either way, and the block spares the next requests a
/// count.
const MIN_BLOCK_WRITE: Duration = Duration::from_millis(50);

/// One counter for one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    /// Seconds since the epoch; the store may delete it after that.
    pub expires_at: u64,
}

impl Bucket {
    /// The bucket of `what` (`kind`: `number`, `prefix`, `country`), with HMAC key `key`, for the
    /// hour of `now_ms`. The hour is in the hash too.
    fn hourly(key: &[u8], kind: &str, tag: &str, what: &str, now_ms: u64) -> Self {
        let hour = now_ms / 3_600_000;
        let hash = Fingerprint::of(key, kind, &[what, &hour.to_string()]);
        Self {
            name: format!("{tag}#{}", hash.hex()),
            // Kept an hour past its own, for a look during an investigation.
            expires_at: hour.saturating_add(2).saturating_mul(3600),
        }
    }

    /// The bucket of `phone` for the hour of `now_ms`.
    pub fn of(key: &[u8], phone: &str, now_ms: u64) -> Self {
        Self::hourly(key, "number", "n", phone, now_ms)
    }
}

/// The prefix of an E.164 number: the number without its last four digits, wherever at least two
/// national digits remain (Iceland's seven-digit numbers, the Faroes' six: two numbers that differ
/// only in their last four digits share a prefix). Only in smaller plans (Niue's four-digit
/// numbers) does it keep two national digits, or one of a three-digit number, so that one prefix
/// is never a whole country.
pub fn prefix_of(phone: &str) -> &str {
    let digits = phone.len().saturating_sub(1);
    let code = crate::domain::numbering::calling_code_len(phone).unwrap_or(1);
    let national = digits.saturating_sub(code);
    // Whatever the plan, a prefix leaves off at least two digits: a range of 100 numbers or more.
    let keeps = match national {
        n if n >= PREFIX_DROPS + PREFIX_KEEPS => n - PREFIX_DROPS,
        n if n >= PREFIX_KEEPS + 2 => PREFIX_KEEPS,
        n => n.min(1),
    };
    &phone[..phone.len().saturating_sub(national - keeps).max(1)]
}

/// `MAX_SMS_PER_COUNTRY_PER_HOUR`: one cap for every country, or caps by country with `*` for the
/// others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountryCaps {
    pub others: Option<u64>,
    pub by_country: HashMap<Country, u64>,
}

impl CountryCaps {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        const VARIABLE: &str = "MAX_SMS_PER_COUNTRY_PER_HOUR";
        let Some(raw) = env.optional(VARIABLE) else {
            return Ok(Self::default());
        };
        let invalid = |problem: String| ConfigError::invalid(VARIABLE, problem);
        let cap = |value: &serde_json::Value, what: &str| {
            value
                .as_u64()
                .filter(|n| (1..=100_000_000).contains(n))
                .ok_or_else(|| {
                    invalid(format!("{what} must be a whole number from 1 to 100000000"))
                })
        };
        if let Ok(n) = raw.trim().parse::<u64>() {
            return Ok(Self {
                others: Some(cap(&n.into(), "the cap")?),
                by_country: HashMap::new(),
            });
        }
        let caps = crate::domain::country::object_entries(&raw)
            .map_err(|_| {
                invalid("must be a number, or JSON like {\"*\": 1000, \"LV\": 20}".into())
            })?
            .ok_or_else(|| {
                invalid("must be a number, or a JSON object of caps by country".into())
            })?;
        let (others, countries): (Vec<_>, Vec<_>) =
            caps.into_iter().partition(|(code, _)| code == "*");
        let mut parsed = Self::default();
        match others.as_slice() {
            [] => {}
            [(_, value)] => parsed.others = Some(cap(value, "\"*\"")?),
            _ => return Err(invalid("lists \"*\" twice".into())),
        }
        for (_, country, value) in crate::domain::country::keyed_by_country(VARIABLE, countries)? {
            parsed
                .by_country
                .insert(country, cap(&value, country.as_str())?);
        }
        Ok(parsed)
    }

    /// The cap of `country` (`None`: a number of no country counts under `*`).
    pub fn of(&self, country: Option<Country>) -> Option<u64> {
        country
            .and_then(|c| self.by_country.get(&c).copied())
            .or(self.others)
    }

    pub fn is_empty(&self) -> bool {
        self.others.is_none() && self.by_country.is_empty()
    }
}

/// The limits' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSettings {
    pub per_number: Option<u64>,
    pub per_prefix: Option<u64>,
    pub prefix_block: Duration,
    pub per_country: CountryCaps,
}

impl Default for LimitSettings {
    /// No limits.
    fn default() -> Self {
        Self {
            per_number: None,
            per_prefix: None,
            prefix_block: DEFAULT_PREFIX_BLOCK,
            per_country: CountryCaps::default(),
        }
    }
}

impl LimitSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let per_number = env.number("MAX_SMS_PER_NUMBER_PER_HOUR", 0..=1_000_000, 0)?;
        let per_prefix = env.number("MAX_SMS_PER_PREFIX_PER_HOUR", 0..=100_000_000, 0)?;
        let block = env.number(
            "PREFIX_BLOCK_SECONDS",
            60..=604_800,
            DEFAULT_PREFIX_BLOCK.as_secs(),
        )?;
        Ok(Self {
            per_number: (per_number > 0).then_some(per_number),
            per_prefix: (per_prefix > 0).then_some(per_prefix),
            prefix_block: Duration::from_secs(block),
            per_country: CountryCaps::from_env(env)?,
        })
    }

    /// Whether a send's country must be known.
    pub fn counts_countries(&self) -> bool {
        !self.per_country.is_empty()
    }
}

/// Why a send is refused by a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The number had `limit` SMS this hour.
    Number { limit: u64 },
    /// The number's prefix is blocked (it had its hour's share).
    Prefix,
    /// The number's country had `limit` SMS this hour.
    Country {
        country: Option<Country>,
        limit: u64,
    },
}

/// What counting a send gave: the buckets it was counted in (to give back if it certainly does not
/// go out), and a refusal if a limit was reached.
#[derive(Debug, Default)]
pub struct Counted {
    pub buckets: Vec<String>,
    pub refusal: Option<Refusal>,
}

/// A count that failed: the store's error, and the buckets that certainly hold the send. A count
/// that failed or did not answer in time may have landed all the same: it is never given back,
/// since taking back a count that did not land would take another send's (a limit may then
/// refuse one send too many in that hour, the safe side).
#[derive(Debug)]
pub struct CountFailure {
    pub error: StoreError,
    pub certain: Vec<String>,
}

/// The counters one send counts in, named before any is written.
#[derive(Debug, Clone)]
pub struct Plan {
    number: Option<(Bucket, u64)>,
    prefix: Option<(Bucket, u64)>,
    country: Option<(Bucket, u64)>,
    /// The prefix's block mark, when prefixes are limited.
    block: Option<String>,
    country_of: Option<Country>,
    now_s: u64,
}

/// The limits over one store.
pub struct Limits {
    counters: Arc<dyn Counters>,
    settings: LimitSettings,
}

impl Limits {
    pub fn new(counters: Arc<dyn Counters>, settings: LimitSettings) -> Self {
        Self { counters, settings }
    }

    /// Whether a send's country must be known (country caps).
    pub fn counts_countries(&self) -> bool {
        self.settings.counts_countries()
    }

    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.settings.per_number.is_some()
            || self.settings.per_prefix.is_some()
            || self.settings.counts_countries()
    }

    /// The counters one send of `sms` (HMAC key `key`) at `now_ms` counts in.
    pub fn plan(&self, key: &[u8], sms: &SmsRequest, now_ms: u64) -> Plan {
        let phone = sms.phone_number.as_str();
        let prefix = prefix_of(phone);
        let country_name = sms.country.map(|c| c.to_string()).unwrap_or_default();
        Plan {
            number: self
                .settings
                .per_number
                .map(|limit| (Bucket::of(key, phone, now_ms), limit)),
            prefix: self
                .settings
                .per_prefix
                .map(|limit| (Bucket::hourly(key, "prefix", "p", prefix, now_ms), limit)),
            country: self.settings.per_country.of(sms.country).map(|limit| {
                let bucket = Bucket::hourly(key, "country", "c", &country_name, now_ms);
                (bucket, limit)
            }),
            block: self
                .settings
                .per_prefix
                .map(|_| prefix_block_name(key, prefix)),
            country_of: sms.country,
            now_s: now_ms / 1000,
        }
    }

    /// Reads `plan`'s prefix block, given up at `until` (`None`: prefixes are not limited). The
    /// send reads it beside its claim, so that the prefix limit adds no round trip before the
    /// counts: the claim, the counts, the prefix's count, three in a row at most.
    pub async fn read_block(&self, plan: &Plan, until: Instant) -> BlockRead {
        let name = plan.block.as_ref()?;
        Some(within(until, self.counters.blocked_until(name)).await)
    }

    /// Counts one send against every limit of `plan`, each store call given up at `until`, with
    /// `block` what [`Limits::read_block`] read.
    ///
    /// A blocked prefix is refused before anything is counted (a flood into a blocked range must
    /// neither use up the country's cap nor extend its own block). Then the number's and the
    /// country's counts, at once. Only a send they let through is counted in its
    /// prefix: a send another limit refuses would otherwise hold a place in its range's count
    /// until it is given back, and a burst to one number could make its neighbours see the range
    /// as over and block all of it for hours, after fewer SMS than the limit.
    ///
    /// A limit that answered "over" refuses the send even when another call failed or did not
    /// answer in time (the block's read among them); only when none refused does a failure
    /// stand. Each call has its own deadline, rather than one around them all, so that a verdict
    /// already reached is never lost to a slow call after it, and a count that certainly landed
    /// is known as such.
    pub async fn count(
        &self,
        plan: &Plan,
        block: BlockRead,
        until: Instant,
    ) -> Result<Counted, CountFailure> {
        let mut tally = Tally::default();
        match block {
            Some(Ok(Some(blocked_until))) if blocked_until > plan.now_s => {
                return Ok(Counted {
                    buckets: Vec::new(),
                    refusal: Some(Refusal::Prefix),
                });
            }
            Some(Err(error)) => tally.error = Some(error),
            _ => {}
        }
        let count = |entry: &Option<(Bucket, u64)>| {
            let entry = entry.clone();
            async move {
                let (bucket, limit) = entry?;
                let counted = within(
                    until,
                    self.counters.count(&bucket.name, limit, bucket.expires_at),
                )
                .await;
                Some((bucket.name, counted))
            }
        };
        let (number, country) = tokio::join!(count(&plan.number), count(&plan.country));
        let number_over = tally.add(number);
        let country_over = tally.add(country);
        let refusal = if country_over {
            plan.country.as_ref().map(|(_, limit)| Refusal::Country {
                country: plan.country_of,
                limit: *limit,
            })
        } else if number_over {
            plan.number
                .as_ref()
                .map(|(_, limit)| Refusal::Number { limit: *limit })
        } else if tally.add(count(&plan.prefix).await) {
            // The prefix had its hour's share: every number in it waits out the block. A block
            // that cannot be written (in time) still refuses this send; the next one over writes
            // it. Nothing is sent, so the write may take a moment past `until`.
            if let Some(name) = &plan.block {
                let until_s = plan
                    .now_s
                    .saturating_add(self.settings.prefix_block.as_secs());
                let write_until = until.max(Instant::now() + MIN_BLOCK_WRITE);
                let _ = within(write_until, self.counters.block(name, until_s)).await;
            }
            Some(Refusal::Prefix)
        } else {
            None
        };
        match (refusal, tally.error) {
            // Refused: only the counts that certainly landed are given back (taking back one
            // that did not land would take another send's).
            (Some(refusal), _) => Ok(Counted {
                buckets: tally.certain,
                refusal: Some(refusal),
            }),
            (None, Some(error)) => Err(CountFailure {
                error,
                certain: tally.certain,
            }),
            (None, None) => Ok(Counted {
                buckets: tally.certain,
                refusal: None,
            }),
        }
    }

    /// The prefix block mark of `plan`, as the store holds it.
    #[cfg(test)]
    pub(crate) async fn block_until_for_tests(&self, plan: &Plan) -> Option<u64> {
        let name = plan.block.as_ref()?;
        self.counters.blocked_until(name).await.ok().flatten()
    }

    /// Takes back a send counted in `bucket` that certainly did not go out.
    pub async fn give_back(&self, bucket: &str) -> Result<(), StoreError> {
        self.counters.uncount(bucket).await
    }
}

/// What reading a prefix's block gave: until when it is blocked, if it is; `None` when prefixes
/// are not limited.
pub type BlockRead = Option<Result<Option<u64>, StoreError>>;

/// What the counts of one send came to so far: the buckets that certainly hold it, and the last
/// error of a call whose effect is unknown.
#[derive(Default)]
struct Tally {
    certain: Vec<String>,
    error: Option<StoreError>,
}

impl Tally {
    /// Adds one count's result (`None`: that limit is not set); whether it said "over".
    fn add(&mut self, result: Option<(String, Result<bool, StoreError>)>) -> bool {
        match result {
            Some((bucket, Ok(true))) => {
                self.certain.push(bucket);
                false
            }
            Some((_, Ok(false))) => true,
            Some((_, Err(error))) => {
                self.error = Some(error);
                false
            }
            None => false,
        }
    }
}

/// One store call, given up at `until`: no answer by then is a failure whose effect is unknown.
async fn within<T>(
    until: Instant,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout_at(until, call)
        .await
        .unwrap_or_else(|_| Err(StoreError("no answer in the time it was given".into())))
}

/// The name of a prefix's block: not by hour (a block outlives its hour).
fn prefix_block_name(key: &[u8], prefix: &str) -> String {
    format!(
        "b#{}",
        Fingerprint::of(key, "prefix-block", &[prefix]).hex()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Host;

    #[test]
    fn a_number_counts_in_its_own_bucket_for_the_hour() {
        let hour_ms = 3_600_000;
        let a = Bucket::of(b"k", "+14155550100", 5 * hour_ms + 1);
        assert_eq!(a, Bucket::of(b"k", "+14155550100", 6 * hour_ms - 1));
        assert_ne!(a, Bucket::of(b"k", "+14155550100", 6 * hour_ms));
        assert_ne!(a.name, Bucket::of(b"k", "+14155550101", 5 * hour_ms).name);
        assert_eq!(a.expires_at, 7 * 3600);
        assert!(!a.name.contains("4155550100"));
    }

    #[test]
    fn a_prefix_is_the_number_without_its_last_four_digits() {
        // Plans of every size where two national digits or more remain: the UK, the US, Iceland
        // (7 digits), Gambia (7), the Faroes (6). Numbers that differ in their last four digits
        // only share a prefix; one that differs before them does not.
        for (a, b, prefix) in [
            ("+447400123456", "+447400129999", "+44740012"),
            ("+14155550100", "+14155559999", "+1415555"),
            ("+3546111234", "+3546111999", "+354611"),
            ("+3546111234", "+3546112000", "+354611"),
            ("+2203012345", "+2203019999", "+220301"),
            ("+298211234", "+298219999", "+29821"),
        ] {
            assert_eq!((prefix_of(a), prefix_of(b)), (prefix, prefix), "{a} {b}");
        }
        assert_ne!(prefix_of("+3546111234"), prefix_of("+3546121234"));
        assert_eq!(prefix_of("+33612345678"), "+3361234");
        // Niue: four-digit numbers, so two national digits stay; a three-digit one keeps one.
        assert_eq!(prefix_of("+6834001"), "+68340");
        assert_eq!(prefix_of("+683401"), "+6834");
        assert_ne!(
            prefix_block_name(b"k", "+3361234"),
            prefix_block_name(b"k", "+3361235")
        );
    }

    fn caps(raw: &str) -> Result<CountryCaps, ConfigError> {
        let lookup = |name: &str| (name == "MAX_SMS_PER_COUNTRY_PER_HOUR").then(|| raw.to_owned());
        CountryCaps::from_env(&Env::new(Host::Lambda, &lookup))
    }

    #[test]
    fn country_caps_are_a_number_or_caps_by_country() {
        let lv = Country::parse("LV");
        let us = Country::parse("US");
        let all = caps("500").unwrap();
        assert_eq!((all.of(lv), all.of(None)), (Some(500), Some(500)));
        let some = caps(r#"{"*": 1000, "lv": 20}"#).unwrap();
        assert_eq!(
            (some.of(lv), some.of(us), some.of(None)),
            (Some(20), Some(1000), Some(1000))
        );
        let only = caps(r#"{"LV": 20}"#).unwrap();
        assert_eq!((only.of(lv), only.of(us)), (Some(20), None));
        for bad in [
            "0",
            "-3",
            "[1]",
            r#"{"XX": 1}"#,
            r#"{"LV": "20"}"#,
            r#"{"*": 0}"#,
            "lots",
        ] {
            let err = caps(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("MAX_SMS_PER_COUNTRY_PER_HOUR"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_country_capped_twice_stops_start_up_rather_than_the_looser_cap_winning() {
        for (bad, line) in [
            (
                r#"{"LV": 1, "lv": 1000}"#,
                r#"MAX_SMS_PER_COUNTRY_PER_HOUR lists LV twice (as "LV" and "lv")"#,
            ),
            (
                r#"{"LV": 1, "LV": 1000}"#,
                "MAX_SMS_PER_COUNTRY_PER_HOUR lists LV twice",
            ),
            (
                r#"{"*": 1, "LV": 5, "*": 1000}"#,
                r#"MAX_SMS_PER_COUNTRY_PER_HOUR lists "*" twice"#,
            ),
        ] {
            assert_eq!(caps(bad).unwrap_err().to_string(), line, "{bad}");
        }
    }
}
