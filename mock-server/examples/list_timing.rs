//! In-process timing of managed-key list queries, without HTTP: how long filtering, sorting and paging
//! take over a fixture (by default the benchmarks' 20,000-key one, written by `cargo xtask bench`).
//! A profiling aid for BENCHMARKS.md's list figures, e.g. under `perf record` or
//! `valgrind --tool=callgrind --toggle-collect='*list_managed_keys*'`.
//!
//! `cargo run --release -p uko-mock --example list_timing [FIXTURE]`

use std::time::{Duration, Instant};

use uko_mock::domain::query::{KeyListScope, ListCache};
use uko_mock::fixture::Fixture;
use uko_mock::uko::query::{key_query, Params};

const RUNS: usize = 40;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "target/bench/fixture-20k.json".to_owned());
    let text = std::fs::read_to_string(&path).map_err(|error| format!("cannot read {path}: {error}"))?;
    let mut instance = Fixture::load_json(&text, "default")?;
    println!(
        "{} managed keys from {path}; median and slowest of {RUNS} runs, nothing remembered",
        instance.managed_keys.len()
    );
    let filters = [("state", "active,deactivated"), ("algorithm", "aes")];
    let queries: [(&str, Vec<(&str, &str)>); 7] = [
        ("scan, label filter, no match", vec![("label", "zzz")]),
        ("scan, state filter, no match", vec![("state", "destroyed")]),
        ("default sort, first key", vec![("limit", "1")]),
        ("sort=label, offset 5000", vec![("sort", "label"), ("limit", "100"), ("offset", "5000")]),
        (
            "filter, sort=label,-created_at, offset 0",
            [&filters[..], &[("sort", "label,-created_at"), ("limit", "100")]].concat(),
        ),
        (
            "filter, sort=label,-created_at, offset 9900",
            [&filters[..], &[("sort", "label,-created_at"), ("limit", "100"), ("offset", "9900")]].concat(),
        ),
        (
            "filter, sort=-created_at,label, offset 9900",
            [&filters[..], &[("sort", "-created_at,label"), ("limit", "100"), ("offset", "9900")]].concat(),
        ),
    ];
    for (name, query) in queries {
        let params = Params::new(query.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect());
        // Parsed once, as a request is: the timing is the list's own work.
        let query = key_query(&params, KeyListScope::All)?;
        let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            // Forget the order remembered for paging, so every run does the whole work.
            instance.list_cache = ListCache::default();
            let started = Instant::now();
            std::hint::black_box(instance.list_managed_keys(&query, KeyListScope::All)?);
            times.push(started.elapsed());
        }
        times.sort();
        println!("{name:<45} median {:>10.3?}  slowest {:>10.3?}", times[RUNS / 2], times[RUNS - 1]);
    }
    Ok(())
}
