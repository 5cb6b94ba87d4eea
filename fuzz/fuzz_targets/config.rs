//! The config loader: any text is a config or a list of errors, each
//! naming the file and a line inside it.
#![no_main]

use deploy_session::protocol::Config;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count().max(1);
    if let Err(errors) = Config::parse(Path::new("deploy-session.yaml"), text) {
        assert!(!errors.0.is_empty());
        for e in &errors.0 {
            if let Some(l) = e.line {
                assert!(l >= 1 && l <= lines + 1, "line {l} of {lines}");
            }
        }
    }
});
