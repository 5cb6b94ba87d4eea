//! The secret masker: a secret printed (plain and base64) into any
//! stream, fed in any chunks, never comes out.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = deploy_session::api::masking_hides_the_secret(data) {
        panic!("{broken}");
    }
});
