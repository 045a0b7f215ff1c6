//! libFuzzer entry point for [`stackwright_fuzz::assembler`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stackwright_fuzz::assembler(data));
