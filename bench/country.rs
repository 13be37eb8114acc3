//! What the numbering plan costs at run time: the first lookup (it compiles the US's patterns,
//! which the gateway does during start-up), one country lookup, and the check every send makes
//! (canonical form, validity, type).
//! The numbering plan itself is generated at build time (build.rs).
//!
//!     cargo run --release --example country
//!
//! Prints figures; asserts nothing.

use mosaic_sms_gateway::domain::country::Country;
use mosaic_sms_gateway::domain::numbering::{canonical, classify, load_metadata};
use mosaic_sms_gateway::domain::sms::PhoneNumber;
use std::hint::black_box;
use std::time::Instant;

const LOOKUPS: usize = 20_000;

fn main() {
    let started = Instant::now();
    load_metadata();
    let load = started.elapsed();

    let phones: Vec<PhoneNumber> = [
        "+14155550100",
        "+14165550100",
        "+447400123456",
        "+77012345678",
        "+79123456789",
        "+4915112345678",
        "+33612345678",
        "+5511987654321",
        "+919812345678",
        "+881612345678",
    ]
    .iter()
    .map(|p| PhoneNumber::parse(p).expect("valid E.164"))
    .collect();
    let started = Instant::now();
    for i in 0..LOOKUPS {
        black_box(Country::of(black_box(&phones[i % phones.len()])));
    }
    let per_lookup = started.elapsed() / LOOKUPS as u32;
    // Every country's patterns compiled once, so the figure is a warm instance's.
    for phone in &phones {
        black_box(classify(phone));
    }
    let started = Instant::now();
    for i in 0..LOOKUPS {
        let phone = black_box(&phones[i % phones.len()]);
        black_box(classify(black_box(&canonical(phone.clone()))));
    }
    let per_check = started.elapsed() / LOOKUPS as u32;
    println!(
        "first lookup (compiles the US patterns): {:.2} ms",
        load.as_secs_f64() * 1000.0
    );
    println!(
        "country lookup, {LOOKUPS} lookups over {} numbers: {:.1} µs each",
        phones.len(),
        per_lookup.as_secs_f64() * 1e6
    );
    println!(
        "canonical form, validity and type (what every send checks), same numbers: {:.1} µs each",
        per_check.as_secs_f64() * 1e6
    );
}
