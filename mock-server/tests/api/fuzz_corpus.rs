//! The cargo-fuzz harness of `fuzz/` (request parsing), run on stable in every `cargo test`: the committed
//! corpus of `fuzz/corpus/parse_request`, then seeded random and mutated inputs (`FUZZ_CORPUS_CASES`,
//! default 2,000).

#[path = "../../../fuzz/fuzz_targets/harness.rs"]
mod harness;

use std::path::PathBuf;

#[test]
fn the_request_parsing_harness_survives_its_corpus_and_random_inputs() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/parse_request");
    let mut seeds = Vec::new();
    for entry in std::fs::read_dir(&corpus).expect("fuzz/corpus/parse_request exists") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        harness::parse_request(&bytes);
        seeds.push(bytes);
    }
    assert!(seeds.len() >= 10, "the corpus has {} inputs", seeds.len());

    // Mutations of the corpus (byte flips, truncations, splices) and plain random bytes, from a fixed seed.
    let cases = std::env::var("FUZZ_CORPUS_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000usize);
    let mut state = 0x6675_7a7a_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for _ in 0..cases {
        let mut input = seeds[(next() as usize) % seeds.len()].clone();
        match next() % 4 {
            0 if !input.is_empty() => {
                let at = (next() as usize) % input.len();
                input[at] ^= 1 << (next() % 8);
            }
            1 => input.truncate((next() as usize) % (input.len() + 1)),
            2 => {
                let other = &seeds[(next() as usize) % seeds.len()];
                let at = (next() as usize) % (other.len() + 1);
                input.extend_from_slice(&other[at..]);
            }
            _ => input = (0..(next() % 64)).map(|_| next() as u8).collect(),
        }
        harness::parse_request(&input);
    }
}
