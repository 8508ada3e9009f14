#![no_main]
// The property lives in bazaar::fuzzing so `cargo test` replays the corpus too.
libfuzzer_sys::fuzz_target!(|data: &[u8]| bazaar::fuzzing::sandbox_form(data));
