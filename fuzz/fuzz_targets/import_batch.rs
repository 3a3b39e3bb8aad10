//! `vnet import` of an ip -batch file, on any text: the import either writes a lab
//! file or says why not. The file it writes is read back by the lab file
//! parser (it may not validate: `vnet import` then says what to fix), so the
//! writer's quoting is fuzzed too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vnet::import::{Source, import};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(done) = import("fuzz.batch", text, Source::Batch, None) {
        // When it does validate, it must be the lab that was imported:
        // a name the writer quoted wrongly would come back different.
        if let Ok(back) = vnet::model::parse_lab("imported.yaml", &done.yaml) {
            assert_eq!(back.name, done.lab.name, "{}", done.yaml);
            assert_eq!(back.nodes.len(), done.lab.nodes.len(), "{}", done.yaml);
        }
    }
});
