//! The numbering plan: which region a number is in, whether it is a valid number there, and of
//! which type (mobile, premium rate, ...), by Google's libphonenumber metadata, which build.rs
//! takes from the `phonenumber` crate. The lookup follows libphonenumber's `getRegionCodeForNumber`
//! and `getNumberType`: a calling code with one region is that region; for a shared one, the first
//! region (main one first) whose leading digits start the national number, or, without leading
//! digits, whose patterns take it as a number of some type. A region's patterns compile the first
//! time a number of its calling code comes.

use crate::domain::phone::PhoneNumber;
use crate::settings::{ConfigError, Env};
use regex::Regex;
use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

/// A number's type in the plan (libphonenumber's `PhoneNumberType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberType {
    PremiumRate,
    TollFree,
    SharedCost,
    Voip,
    PersonalNumber,
    Pager,
    Uan,
    Voicemail,
    FixedLine,
    Mobile,
    /// Where the plan cannot tell fixed lines from mobiles (the US, Canada, ...).
    FixedLineOrMobile,
}

impl NumberType {
    /// The types `BLOCKED_NUMBER_TYPES` may name, by their names there.
    pub const NAMED: [(&'static str, NumberType); 9] = [
        ("premium-rate", Self::PremiumRate),
        ("shared-cost", Self::SharedCost),
        ("toll-free", Self::TollFree),
        ("voip", Self::Voip),
        ("personal-number", Self::PersonalNumber),
        ("pager", Self::Pager),
        ("uan", Self::Uan),
        ("voicemail", Self::Voicemail),
        ("fixed-line", Self::FixedLine),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mobile => "mobile",
            Self::FixedLineOrMobile => "fixed-line-or-mobile",
            named => Self::NAMED
                .iter()
                .find(|(_, t)| *t == named)
                .map_or("unknown", |(name, _)| name),
        }
    }
}

impl fmt::Display for NumberType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pattern and the national number lengths it takes (empty: any).
struct Desc {
    pattern: &'static str,
    lengths: &'static [u16],
}

/// One region's numbering plan.
struct Plan {
    code: u16,
    /// ISO 3166 alpha-2, or `001` for numbers of no country (+800, +881, ...).
    region: &'static str,
    /// The trunk prefix dialled before a national number inside the country (`0` in France).
    national_prefix: Option<&'static str>,
    leading_digits: Option<&'static str>,
    general: Desc,
    /// In libphonenumber's order of precedence: the first that matches is the number's type.
    types: &'static [(NumberType, Desc)],
}

include!(concat!(env!("OUT_DIR"), "/numbering.rs"));

/// A plan's patterns, compiled on first use.
struct Compiled {
    leading_digits: Option<Regex>,
    general: Matcher,
    types: Vec<(NumberType, Matcher)>,
}

struct Matcher {
    pattern: Regex,
    lengths: &'static [u16],
    source: &'static str,
}

impl Matcher {
    fn new(desc: &Desc) -> Self {
        Self {
            pattern: compile(desc.pattern, true),
            lengths: desc.lengths,
            source: desc.pattern,
        }
    }

    fn takes(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16)))
            && self.pattern.is_match(national)
    }
}

fn compile(pattern: &str, anchored_end: bool) -> Regex {
    let anchored = if anchored_end {
        format!("^(?:{pattern})$")
    } else {
        format!("^(?:{pattern})")
    };
    // Checked for every plan by the tests: a pattern that does not compile matches nothing.
    Regex::new(&anchored).unwrap_or_else(|_| Regex::new("z^").expect("a valid regex"))
}

impl Plan {
    fn compiled(&self, index: usize) -> &'static Compiled {
        static COMPILED: OnceLock<Vec<OnceLock<Compiled>>> = OnceLock::new();
        let all = COMPILED.get_or_init(|| PLANS.iter().map(|_| OnceLock::new()).collect());
        all[index].get_or_init(|| Compiled {
            leading_digits: self.leading_digits.map(|p| compile(p, false)),
            general: Matcher::new(&self.general),
            types: self
                .types
                .iter()
                .map(|(t, d)| (*t, Matcher::new(d)))
                .collect(),
        })
    }

    /// `national`'s type in this plan; `None`: not a valid number here (libphonenumber's
    /// `getNumberType` answering `UNKNOWN`).
    fn number_type(&self, index: usize, national: &str) -> Option<NumberType> {
        let compiled = self.compiled(index);
        if !compiled.general.takes(national) {
            return None;
        }
        let mobile = compiled
            .types
            .iter()
            .find(|(t, _)| *t == NumberType::Mobile)
            .map(|(_, m)| m);
        for (number_type, matcher) in &compiled.types {
            if !matcher.takes(national) {
                continue;
            }
            if *number_type == NumberType::FixedLine
                && mobile.is_some_and(|m| m.source == matcher.source || m.takes(national))
            {
                return Some(NumberType::FixedLineOrMobile);
            }
            return Some(*number_type);
        }
        None
    }
}

/// The calling code of E.164 `digits` (they are prefix-free) and the index of its first plan.
fn calling_code(digits: &str) -> Option<(u16, usize)> {
    (1..=3).find_map(|len| {
        let code: u16 = digits.get(..len)?.parse().ok()?;
        CODES
            .binary_search_by_key(&code, |(c, _)| *c)
            .ok()
            .map(|_| (code, len))
    })
}

/// The length of `phone`'s calling code (1 to 3 digits), if the plan knows it.
pub fn calling_code_len(phone: &str) -> Option<usize> {
    calling_code(phone.strip_prefix('+')?).map(|(_, len)| len)
}

/// The plans of `code`, with their indexes.
fn plans_of(code: u16) -> impl Iterator<Item = (usize, &'static Plan)> {
    let start = PLANS.partition_point(|p| p.code < code);
    PLANS[start..]
        .iter()
        .take_while(move |p| p.code == code)
        .enumerate()
        .map(move |(i, p)| (start + i, p))
}

/// The regions of the calling code `phone` starts with (ISO codes, or `001`), main one first.
pub fn regions_sharing_code(phone: &PhoneNumber) -> &'static [&'static str] {
    let digits = &phone.as_str()[1..];
    calling_code(digits)
        .and_then(|(code, _)| {
            CODES
                .binary_search_by_key(&code, |(c, _)| *c)
                .ok()
                .map(|i| CODES[i].1)
        })
        .unwrap_or(&[])
}

/// Whether `region` (upper case) is a region the plan knows.
pub fn knows_region(region: &str) -> bool {
    PLANS.iter().any(|p| p.region == region)
}

/// The region `phone` belongs to by its calling code and, for a shared code, its national
/// pattern: `getRegionCodeForNumber`. A number of a one-region code is that region's, valid or
/// not; `None` for a shared code whose regions all refuse it.
pub fn region_of(phone: &PhoneNumber) -> Option<&'static str> {
    region_plan(phone).map(|(_, plan, _)| plan.region)
}

fn region_plan(phone: &PhoneNumber) -> Option<(usize, &'static Plan, &str)> {
    let digits = &phone.as_str()[1..];
    let (code, len) = calling_code(digits)?;
    let national = &digits[len..];
    let mut plans = plans_of(code);
    let (first_index, first) = plans.next()?;
    if plans.next().is_none() {
        return Some((first_index, first, national));
    }
    plans_of(code).find_map(|(index, plan)| {
        let takes = match &plan.compiled(index).leading_digits {
            Some(leading) => leading.is_match(national),
            None => plan.number_type(index, national).is_some(),
        };
        takes.then_some((index, plan, national))
    })
}

/// What the plan says of a number that is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    /// ISO 3166 alpha-2, or `001` (a number of no country).
    pub region: &'static str,
    pub number_type: NumberType,
}

/// The region and type of `phone`; `None` when the plan knows it as valid for no region
/// (libphonenumber's `isValidNumber` false).
pub fn classify(phone: &PhoneNumber) -> Option<Classified> {
    let (index, plan, national) = region_plan(phone)?;
    plan.number_type(index, national)
        .map(|number_type| Classified {
            region: plan.region,
            number_type,
        })
}

/// `phone` in its canonical form: a national trunk prefix written after the calling code
/// (`+33 0612345678` for `+33 612345678`, `+44 07400…`, `+1 1 415…`) is dropped when the number
/// without it is valid and the number with it is not. Any other number is returned as it came.
pub fn canonical(phone: PhoneNumber) -> PhoneNumber {
    if classify(&phone).is_some() {
        return phone;
    }
    let digits = &phone.as_str()[1..];
    let Some((code, len)) = calling_code(digits) else {
        return phone;
    };
    let national = &digits[len..];
    let stripped = plans_of(code).find_map(|(_, plan)| {
        let rest = national.strip_prefix(plan.national_prefix?)?;
        let candidate = PhoneNumber::parse(&format!("+{code}{rest}")).ok()?;
        classify(&candidate).is_some().then_some(candidate)
    });
    stripped.unwrap_or(phone)
}

/// The types `BLOCKED_NUMBER_TYPES` blocks when it is not set: the ones an OTP has no business
/// reaching and SMS pumping aims at (a premium-rate or shared-cost number pays its owner per
/// message), and the ones that cannot read a text (pagers, UANs, voicemail).
pub const DEFAULT_BLOCKED_TYPES: [NumberType; 5] = [
    NumberType::PremiumRate,
    NumberType::SharedCost,
    NumberType::Pager,
    NumberType::Uan,
    NumberType::Voicemail,
];

/// Which numbers may get an SMS at all: `VALID_NUMBERS_ONLY` and `BLOCKED_NUMBER_TYPES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPolicy {
    /// Refuse numbers the plan knows as valid for no region.
    pub valid_only: bool,
    pub blocked: HashSet<NumberType>,
}

impl Default for NumberPolicy {
    fn default() -> Self {
        Self {
            valid_only: true,
            blocked: DEFAULT_BLOCKED_TYPES.into_iter().collect(),
        }
    }
}

/// Why a number may get no SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberRefusal {
    /// Valid for no region of the plan.
    Invalid,
    /// Of a type in `BLOCKED_NUMBER_TYPES`.
    BlockedType(NumberType),
}

impl NumberPolicy {
    /// Lets every number through, valid or not, of any type.
    pub fn any() -> Self {
        Self {
            valid_only: false,
            blocked: HashSet::new(),
        }
    }

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        const TYPES: &str = "BLOCKED_NUMBER_TYPES";
        let valid_only = env.flag("VALID_NUMBERS_ONLY", true)?;
        let blocked = match env.optional(TYPES) {
            None => DEFAULT_BLOCKED_TYPES.into_iter().collect(),
            Some(list) if list.trim().eq_ignore_ascii_case("none") => HashSet::new(),
            // Only `none` blocks none: an empty item (`,`, `premium-rate,,pager`) is a typo, and
            // skipping it could leave the list empty and premium-rate numbers open.
            Some(list) => list
                .split(',')
                .map(|name| name.trim().to_ascii_lowercase())
                .map(|name| {
                    if name.is_empty() {
                        return Err(ConfigError::invalid(
                            TYPES,
                            format!(
                                "has an empty item in {list:?}: list types separated by commas, or none to block none"
                            ),
                        ));
                    }
                    NumberType::NAMED
                        .iter()
                        .find(|(known, _)| *known == name)
                        .map(|(_, t)| *t)
                        .ok_or_else(|| {
                            let known: Vec<&str> =
                                NumberType::NAMED.iter().map(|(n, _)| *n).collect();
                            ConfigError::invalid(
                                TYPES,
                                format!(
                                    "holds {name:?}; the types are {}, or none",
                                    known.join(", ")
                                ),
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            valid_only,
            blocked,
        })
    }

    /// Whether the plan must be asked at all.
    pub fn is_any(&self) -> bool {
        !self.valid_only && self.blocked.is_empty()
    }

    /// Whether `phone` may get an SMS.
    pub fn check(&self, phone: &PhoneNumber) -> Result<(), NumberRefusal> {
        if self.is_any() {
            return Ok(());
        }
        match classify(phone) {
            None if self.valid_only => Err(NumberRefusal::Invalid),
            None => Ok(()),
            Some(c) if self.blocked.contains(&c.number_type) => {
                Err(NumberRefusal::BlockedType(c.number_type))
            }
            Some(_) => Ok(()),
        }
    }
}

/// Compiles the patterns of the busiest calling code's main region (+1, the US), so that the
/// first passcode does not pay for them; the others compile on first use.
pub fn load_metadata() {
    if let Ok(phone) = PhoneNumber::parse("+14155550100") {
        let _ = classify(&phone);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use phonenumber::metadata::DATABASE;

    fn phone(raw: &str) -> PhoneNumber {
        PhoneNumber::parse(raw).unwrap()
    }

    fn type_of(raw: &str) -> Option<NumberType> {
        classify(&phone(raw)).map(|c| c.number_type)
    }

    #[test]
    fn every_generated_pattern_compiles() {
        for plan in PLANS {
            let patterns = plan
                .leading_digits
                .iter()
                .chain([&plan.general.pattern])
                .chain(plan.types.iter().map(|(_, d)| &d.pattern));
            for pattern in patterns {
                assert!(
                    Regex::new(&format!("^(?:{pattern})$")).is_ok(),
                    "{}: {pattern}",
                    plan.region
                );
            }
        }
        assert!(PLANS.len() > 240, "every region: {}", PLANS.len());
        assert!(CODES.windows(2).all(|w| w[0].0 < w[1].0), "sorted by code");
        assert!(PLANS.windows(2).all(|w| w[0].code <= w[1].code), "by code");
    }

    #[test]
    fn valid_numbers_and_their_types() {
        assert_eq!(type_of("+33612345678"), Some(NumberType::Mobile));
        assert_eq!(type_of("+33123456789"), Some(NumberType::FixedLine));
        assert_eq!(type_of("+4915112345678"), Some(NumberType::Mobile));
        assert_eq!(type_of("+447400123456"), Some(NumberType::Mobile));
        assert_eq!(type_of("+12015550123"), Some(NumberType::FixedLineOrMobile));
        assert_eq!(type_of("+18005550123"), Some(NumberType::TollFree));
        // Premium rate: the UK's 09, Germany's 0900.
        assert_eq!(type_of("+449012345678"), Some(NumberType::PremiumRate));
        assert_eq!(type_of("+499001234567"), Some(NumberType::PremiumRate));
        // Valid nowhere: a US exchange cannot start with 0, a UK number is too short.
        assert_eq!(type_of("+12120000000"), None);
        assert_eq!(type_of("+4412345"), None);
        // A satellite number is valid, in no country.
        let satellite = classify(&phone("+881612345678")).unwrap();
        assert_eq!(satellite.region, "001");
    }

    #[test]
    fn a_trunk_prefix_after_the_calling_code_is_dropped() {
        let canon = |raw: &str| canonical(phone(raw)).as_str().to_owned();
        assert_eq!(canon("+330612345678"), "+33612345678");
        assert_eq!(canon("+4407400123456"), "+447400123456");
        assert_eq!(canon("+114155550123"), "+14155550123");
        assert_eq!(canon("+49015112345678"), "+4915112345678");
        // Valid as written: unchanged (Italy's leading 0 is part of the number).
        assert_eq!(canon("+390612345678"), "+390612345678");
        assert_eq!(canon("+33612345678"), "+33612345678");
        // Invalid with and without: unchanged, for the validity check to refuse.
        assert_eq!(canon("+12120000000"), "+12120000000");
    }

    fn policy(vars: &[(&str, &str)]) -> Result<NumberPolicy, ConfigError> {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        NumberPolicy::from_env(&Env::new(crate::settings::Host::Lambda, &lookup))
    }

    #[test]
    fn the_number_settings_and_their_defaults() {
        assert_eq!(policy(&[]).unwrap(), NumberPolicy::default());
        let none = policy(&[
            ("BLOCKED_NUMBER_TYPES", "none"),
            ("VALID_NUMBERS_ONLY", "false"),
        ]);
        assert!(none.unwrap().is_any());
        let two = policy(&[("BLOCKED_NUMBER_TYPES", " Toll-Free, voip ")]).unwrap();
        let expected: HashSet<_> = [NumberType::TollFree, NumberType::Voip].into();
        assert_eq!(two.blocked, expected);
        assert!(two.valid_only);
        let bad = policy(&[("BLOCKED_NUMBER_TYPES", "premium,mobile")]).unwrap_err();
        assert!(bad.to_string().starts_with("BLOCKED_NUMBER_TYPES"), "{bad}");
        assert!(bad.to_string().contains("\"premium\""), "{bad}");
        assert!(policy(&[("VALID_NUMBERS_ONLY", "maybe")]).is_err());
    }

    #[test]
    fn only_none_blocks_no_type_and_an_empty_item_stops_start_up() {
        for list in [",", " , ", "premium-rate,,pager", "premium-rate,", ",none"] {
            let line = policy(&[("BLOCKED_NUMBER_TYPES", list)])
                .unwrap_err()
                .to_string();
            assert!(
                line.starts_with("BLOCKED_NUMBER_TYPES has an empty item"),
                "{list:?}: {line}"
            );
            assert!(!line.contains('\n'), "{line}");
        }
        // Blank is unset, as for every setting (CloudFormation passes empty parameters): the
        // default types stay blocked.
        assert_eq!(
            policy(&[("BLOCKED_NUMBER_TYPES", " ")]).unwrap(),
            NumberPolicy::default()
        );
        assert!(
            policy(&[("BLOCKED_NUMBER_TYPES", "NONE")])
                .unwrap()
                .blocked
                .is_empty()
        );
    }

    #[test]
    fn the_policy_refuses_what_it_names_and_nothing_else() {
        let default = NumberPolicy::default();
        assert_eq!(default.check(&phone("+447400123456")), Ok(()));
        assert_eq!(default.check(&phone("+12015550123")), Ok(()));
        assert_eq!(
            default.check(&phone("+449012345678")),
            Err(NumberRefusal::BlockedType(NumberType::PremiumRate))
        );
        assert_eq!(
            default.check(&phone("+12120000000")),
            Err(NumberRefusal::Invalid)
        );
        // Toll-free is not blocked by default; a US number that may be mobile is not a fixed line.
        assert_eq!(default.check(&phone("+18005550123")), Ok(()));
        let fixed = NumberPolicy {
            valid_only: false,
            blocked: [NumberType::FixedLine].into(),
        };
        assert_eq!(fixed.check(&phone("+12015550123")), Ok(()));
        assert_eq!(
            fixed.check(&phone("+33123456789")),
            Err(NumberRefusal::BlockedType(NumberType::FixedLine))
        );
        assert_eq!(
            fixed.check(&phone("+12120000000")),
            Ok(()),
            "valid_only off"
        );
    }

    /// For each type `BLOCKED_NUMBER_TYPES` can name, the plan's example numbers of that type, in
    /// every region that has one: blocking the type refuses them, and the default blocks exactly
    /// its five types.
    #[test]
    fn every_named_type_is_refused_in_every_region_that_has_it() {
        let default = NumberPolicy::default();
        let mut regions_per_type = std::collections::HashMap::<NumberType, usize>::new();
        for plan in PLANS {
            for (number_type, _) in plan.types {
                let Some((_, named)) = NumberType::NAMED.iter().find(|(_, t)| t == number_type)
                else {
                    continue;
                };
                let Some(example) = example_of(plan.code, plan.region, *named) else {
                    continue;
                };
                let Ok(number) = PhoneNumber::parse(&format!("+{}{example}", plan.code)) else {
                    continue;
                };
                // The example may be shadowed by a type of higher precedence, or belong to
                // another region of a shared code: only those that are of this type here.
                if classify(&number)
                    != Some(Classified {
                        region: plan.region,
                        number_type: *named,
                    })
                {
                    continue;
                }
                let only = NumberPolicy {
                    valid_only: true,
                    blocked: [*named].into(),
                };
                assert_eq!(
                    only.check(&number),
                    Err(NumberRefusal::BlockedType(*named)),
                    "{number:?} in {}",
                    plan.region
                );
                assert_eq!(
                    default.check(&number).is_err(),
                    DEFAULT_BLOCKED_TYPES.contains(named),
                    "{named} in {}",
                    plan.region
                );
                *regions_per_type.entry(*named).or_default() += 1;
            }
        }
        for (name, number_type) in NumberType::NAMED {
            let regions = regions_per_type.get(&number_type).copied().unwrap_or(0);
            assert!(regions >= 3, "{name}: examples in only {regions} regions");
        }
    }

    /// Every example number of libphonenumber's metadata that is E.164, for the descriptors `pick`
    /// chooses of each region: (E.164, parsed). The country and numbering tests share it.
    pub(crate) fn metadata_examples(
        pick: fn(
            &phonenumber::metadata::Descriptors,
        ) -> Vec<Option<&phonenumber::metadata::Descriptor>>,
    ) -> Vec<(String, PhoneNumber)> {
        let mut examples = Vec::new();
        for meta in DATABASE.iter() {
            for desc in pick(meta.descriptors()).into_iter().flatten() {
                let Some(example) = desc.example() else {
                    continue;
                };
                let e164 = format!("+{}{example}", meta.country_code());
                if let Ok(phone) = PhoneNumber::parse(&e164) {
                    examples.push((e164, phone));
                }
            }
        }
        examples
    }

    /// The metadata's example number of `number_type` in `region`.
    fn example_of(code: u16, region: &str, number_type: NumberType) -> Option<String> {
        let meta = DATABASE
            .by_code(&code)?
            .into_iter()
            .find(|m| m.id() == region)?;
        let d = meta.descriptors();
        let desc = match number_type {
            NumberType::PremiumRate => d.premium_rate(),
            NumberType::TollFree => d.toll_free(),
            NumberType::SharedCost => d.shared_cost(),
            NumberType::Voip => d.voip(),
            NumberType::PersonalNumber => d.personal_number(),
            NumberType::Pager => d.pager(),
            NumberType::Uan => d.uan(),
            NumberType::Voicemail => d.voicemail(),
            NumberType::FixedLine => d.fixed_line(),
            NumberType::Mobile => d.mobile(),
            NumberType::FixedLineOrMobile => None,
        }?;
        desc.example().map(str::to_owned)
    }

    /// Every example number in libphonenumber's metadata (each a valid number of its type, by
    /// libphonenumber's own definition) is valid here, with the type the `phonenumber` crate gives
    /// it. Where the crate calls one invalid, it is the crate's known fault: it drops a national
    /// number's leading zero (Italy, Benin, Côte d'Ivoire, ...) and refuses Russia's 8xx ranges.
    #[test]
    fn agrees_with_libphonenumber_on_every_example_number() {
        use phonenumber::Type;
        let mut checked = 0;
        let mut differ = Vec::new();
        fn every_type(
            d: &phonenumber::metadata::Descriptors,
        ) -> Vec<Option<&phonenumber::metadata::Descriptor>> {
            vec![
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ]
        }
        for (e164, ours) in metadata_examples(every_type) {
            let Ok(reference) = phonenumber::parse(None, &e164) else {
                continue;
            };
            let theirs = match reference.number_type(&DATABASE) {
                _ if !reference.is_valid() => None,
                Type::PremiumRate => Some(NumberType::PremiumRate),
                Type::TollFree => Some(NumberType::TollFree),
                Type::SharedCost => Some(NumberType::SharedCost),
                Type::Voip => Some(NumberType::Voip),
                Type::PersonalNumber => Some(NumberType::PersonalNumber),
                Type::Pager => Some(NumberType::Pager),
                Type::Uan => Some(NumberType::Uan),
                Type::Voicemail => Some(NumberType::Voicemail),
                Type::FixedLine => Some(NumberType::FixedLine),
                Type::Mobile => Some(NumberType::Mobile),
                Type::FixedLineOrMobile => Some(NumberType::FixedLineOrMobile),
                _ => None,
            };
            let ours = classify(&ours).map(|c| c.number_type);
            checked += 1;
            if ours.is_none() || (theirs.is_some() && ours != theirs) {
                differ.push(format!("{e164}: ours {ours:?}, phonenumber {theirs:?}"));
            }
        }
        assert!(checked > 1000, "{checked}");
        assert!(
            differ.is_empty(),
            "{} of {checked} differ: {differ:#?}",
            differ.len()
        );
    }
}
