//! libFuzzer entry point for [`stackwright_fuzz::manifest`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stackwright_fuzz::manifest(data));
