//! The config loader: any text is a config or a list of errors, each
//! naming the file and a line inside it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(broken) = deploy_session::api::config_errors_are_located(text) {
        panic!("{broken}");
    }
});
