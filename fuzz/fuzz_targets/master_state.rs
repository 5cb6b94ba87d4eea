//! The master state parser and splicer: any bytes parse or fail with a
//! located error; whatever parses can be updated and re-parsed, and the
//! update touches only its own block.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = deploy_session::api::master_state_round_trip(data) {
        panic!("{broken}");
    }
});
