//! The YAML lab file: parser and validator, on any bytes. A refusal is
//! fine; a panic, a hang or a blow-up of memory is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // vnet reads lab files as UTF-8 and refuses anything else first.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vnet::model::parse_lab("fuzz.yaml", text);
    }
});
