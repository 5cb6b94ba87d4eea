//! The master state parser and splicer: any bytes parse or fail with a
//! located error; whatever parses can be updated and re-parsed, and the
//! update touches only its own block.
#![no_main]

use deploy_session::master_state::{MasterState, PhaseStatus, set_status};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("framework_progress.md");
    let Ok(state) = MasterState::parse(path, data) else {
        return;
    };
    if state.phase(7).is_none() {
        return;
    }
    let updated = state
        .update_phase(7, |m| set_status(m, PhaseStatus::InProgress))
        .expect("a parsed Phase 7 block can be updated");
    let bytes = updated.to_bytes();
    let again = MasterState::parse(path, &bytes).expect("an updated file parses");
    assert_eq!(again.phase(7).map(|p| p.status.word()), Some("in_progress"));
});
