//! libFuzzer entry point for [`stackwright_fuzz::assembly_file`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stackwright_fuzz::assembly_file(data));
