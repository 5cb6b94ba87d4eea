use super::*;
use proptest::prelude::*;

const REALISTIC: &str = include_str!("../../tests/fixtures/master_state/realistic.md");
const PROSE: &str = include_str!("../../tests/fixtures/master_state/prose.md");
const EXTRA: &str = include_str!("../../tests/fixtures/master_state/extra_sections.md");
const MISSING: &str = include_str!("../../tests/fixtures/master_state/missing_phases.md");

fn parse(text: &str) -> MasterState {
    MasterState::parse(Path::new("framework_progress.md"), text.as_bytes()).unwrap()
}

fn parse_err(text: &str) -> InputError {
    MasterState::parse(Path::new("framework_progress.md"), text.as_bytes()).unwrap_err()
}

/// Byte range of phase `n`'s json block body (between the fences).
fn block_range(s: &MasterState, n: i8) -> (usize, usize) {
    match &s.phase(n).unwrap().source {
        Source::Json { open, close, .. } => (s.scan.lines[*open].next, s.scan.lines[*close].start),
        other => panic!("phase {n} has no json block: {other:?}"),
    }
}

fn assert_only_block_changed(before: &MasterState, after: &MasterState, n: i8) {
    let (a0, a1) = block_range(before, n);
    let (b0, b1) = block_range(after, n);
    let (old, new) = (before.to_bytes(), after.to_bytes());
    let bom = if before.bom { 3 } else { 0 };
    assert_eq!(a0, b0, "block moved");
    assert_eq!(
        old[..a0 + bom],
        new[..b0 + bom],
        "bytes before the block changed"
    );
    assert_eq!(
        old[a1 + bom..],
        new[b1 + bom..],
        "bytes after the block changed"
    );
}

#[test]
fn reads_the_real_format() {
    let s = parse(REALISTIC);
    let numbers: Vec<i8> = s.phases().iter().map(|p| p.number).collect();
    assert_eq!(numbers, [-1, 0, 5, 6, 7, 8]);
    let p6 = s.phase(6).unwrap();
    assert_eq!(p6.name, "Testing & Quality Assurance");
    assert_eq!(p6.status, PhaseStatus::Completed);
    assert!(p6.approved());
    assert_eq!(
        p6.approval.as_ref().unwrap().by.as_deref(),
        Some("Dana Reviewer <dana@example.com>")
    );
    assert_eq!(p6.deliverables.len(), 4);
    assert!(p6.deliverables.iter().all(|d| d.done));
    let p7 = s.phase(7).unwrap();
    assert_eq!(p7.status, PhaseStatus::Ready);
    assert!(!p7.approved());
    assert_eq!(p7.dependencies, ["Phase 6 completion", "Human approval"]);
    assert_eq!(s.phase(-1).unwrap().name, "Mandatory Pre-Work Requirements");
    assert!(s.phase(3).is_none());
}

#[test]
fn unchanged_state_writes_identical_bytes() {
    let s = parse(REALISTIC);
    assert_eq!(s.to_bytes(), REALISTIC.as_bytes());
    let same = s
        .update_phase(7, |m| set_status(m, PhaseStatus::Ready))
        .unwrap();
    assert_eq!(same.to_bytes(), REALISTIC.as_bytes());
}

#[test]
fn updating_phase_7_changes_only_its_block() {
    let s = parse(REALISTIC);
    let t = s
        .update_phase(7, |m| {
            set_status(m, PhaseStatus::InProgress);
            m.insert("session".into(), "20261125T120000Z-ab12".into());
        })
        .unwrap();
    assert_only_block_changed(&s, &t, 7);
    let p7 = t.phase(7).unwrap();
    assert_eq!(p7.status, PhaseStatus::InProgress);
    let keys: Vec<&String> = p7.block.as_ref().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "status",
            "completed",
            "deliverables",
            "dependencies",
            "estimated_completion",
            "session"
        ]
    );
    let text = String::from_utf8(t.to_bytes()).unwrap();
    assert!(text.contains("  \"dependencies\": [\"Phase 6 completion\", \"Human approval\"],\n"));
    for n in [-1, 0, 5, 6, 8] {
        assert_eq!(s.phase(n).unwrap().block, t.phase(n).unwrap().block);
    }
}

#[test]
fn crlf_and_bom_are_preserved() {
    let crlf = format!("\u{FEFF}{}", REALISTIC.replace('\n', "\r\n"));
    let s = parse(&crlf);
    assert!(s.bom);
    assert_eq!(s.to_bytes(), crlf.as_bytes());
    let t = s
        .update_phase(7, |m| set_status(m, PhaseStatus::Completed))
        .unwrap();
    assert_only_block_changed(&s, &t, 7);
    let out = String::from_utf8(t.to_bytes()).unwrap();
    assert!(out.starts_with('\u{FEFF}'));
    assert_eq!(
        out.matches('\n').count(),
        out.matches("\r\n").count(),
        "a bare LF crept in"
    );
    assert_eq!(t.phase(7).unwrap().status, PhaseStatus::Completed);
}

#[test]
fn prose_status_lines_and_emoji() {
    let s = parse(PROSE);
    let st = |n| s.phase(n).unwrap().status;
    assert_eq!(st(5), PhaseStatus::Completed);
    assert_eq!(st(6), PhaseStatus::InProgress);
    assert_eq!(st(7), PhaseStatus::NotStarted);
    assert_eq!(st(8), PhaseStatus::NotStarted);
    assert_eq!(s.phase(6).unwrap().name, "Testing & Quality Assurance");
    assert!(s.phase(6).unwrap().is_prose());
}

#[test]
fn writing_a_prose_phase_inserts_a_block_and_keeps_the_prose() {
    let s = parse(PROSE);
    let t = s
        .update_phase(7, |m| set_status(m, PhaseStatus::InProgress))
        .unwrap();
    let out = String::from_utf8(t.to_bytes()).unwrap();
    let want = "## Phase 7: Deployment\n```json\n{\n  \"status\": \"in_progress\",\n  \"completed\": false\n}\n```\n**Status:** ⏳\n";
    assert!(out.contains(want), "got:\n{out}");
    assert_eq!(
        out.replacen(
            &want.replace("**Status:** ⏳\n", ""),
            "## Phase 7: Deployment\n",
            1
        ),
        PROSE
    );
    assert_eq!(t.phase(7).unwrap().status, PhaseStatus::InProgress);
    assert!(!t.phase(7).unwrap().is_prose());
}

#[test]
fn non_phase_blocks_and_code_are_ignored() {
    let s = parse(EXTRA);
    assert_eq!(s.phases().len(), 1);
    let p6 = s.phase(6).unwrap();
    assert_eq!(p6.status, PhaseStatus::Completed);
    // "Approved" by "ops" at no time: marked, but not a named approval.
    assert!(!p6.approved());
    assert!(p6.approved_unnamed());
}

#[test]
fn missing_phases_get_a_section_next_to_their_neighbours() {
    let s = parse(MISSING);
    let t = s
        .update_phase(6, |m| set_status(m, PhaseStatus::Completed))
        .unwrap();
    let out = String::from_utf8(t.to_bytes()).unwrap();
    let five = out.find("### Phase 5").unwrap();
    let six = out
        .find("### **Phase 6: Testing & Quality Assurance**")
        .unwrap();
    let eight = out.find("### Phase 8").unwrap();
    assert!(five < six && six < eight, "{out}");
    assert!(out.ends_with("### Unrelated\nTrailing notes.\n"));
    let numbers: Vec<i8> = t.phases().iter().map(|p| p.number).collect();
    assert_eq!(numbers, [5, 6, 8]);
    let u = t
        .update_phase(-1, |m| set_status(m, PhaseStatus::Ready))
        .unwrap();
    let out = String::from_utf8(u.to_bytes()).unwrap();
    assert!(out.find("Phase -1").unwrap() < out.find("### Phase 5").unwrap());
}

#[test]
fn bullets_are_updated_in_place() {
    let s = parse(REALISTIC);
    let t = s.set_bullet("Last Update", "2026-11-25").unwrap();
    let out = String::from_utf8(t.to_bytes()).unwrap();
    assert!(out.contains("- **Last Update**: 2026-11-25\n"));
    assert_eq!(out.replace("2026-11-25", "2026-10-02"), REALISTIC);
    assert!(s.set_bullet("No Such Bullet", "x").is_none());
}

#[test]
fn broken_json_names_the_line() {
    let e = parse_err(include_str!(
        "../../tests/fixtures/master_state/bad/broken_json.md"
    ));
    assert_eq!(e.line, Some(7), "{e}");
    assert!(e.message.contains("invalid JSON"), "{e}");
}

#[test]
fn duplicate_phase_blocks_are_refused() {
    let e = parse_err(include_str!(
        "../../tests/fixtures/master_state/bad/duplicate_phase.md"
    ));
    assert_eq!(e.line, Some(13));
    assert!(e.message.contains("Phase 6 is declared twice"), "{e}");
}

#[test]
fn unknown_status_words_are_reported_not_guessed() {
    let e = parse_err(include_str!(
        "../../tests/fixtures/master_state/bad/unknown_status.md"
    ));
    assert_eq!(e.line, Some(6));
    assert!(e.message.contains("\"mostly-done\""), "{e}");
    let e = parse_err(include_str!(
        "../../tests/fixtures/master_state/bad/unknown_prose_status.md"
    ));
    assert_eq!(e.line, Some(4));
    let e = parse_err(include_str!(
        "../../tests/fixtures/master_state/bad/unclosed.md"
    ));
    assert!(e.message.contains("never closed"), "{e}");
}

#[test]
fn approval_shape_is_checked() {
    let bad_time = "## Phase 6\n```json\n{\"approval\": {\"status\": \"approved\", \"at\": \"yesterday\"}}\n```\n";
    assert!(parse_err(bad_time).message.contains("RFC 3339"));
    let bad_status = "## Phase 6\n```json\n{\"approval\": {\"status\": \"maybe\"}}\n```\n";
    assert!(parse_err(bad_status).message.contains("\"maybe\""));
    let not_object = "## Phase 6\n```json\n{\"approval\": true}\n```\n";
    assert!(parse_err(not_object).message.contains("must be an object"));
}

#[test]
fn invalid_utf8_is_an_input_error() {
    let e = MasterState::parse(Path::new("f.md"), b"# ok\n\xff\xfe\n").unwrap_err();
    assert_eq!(e.line, Some(2));
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        "\\PC{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn arb_status() -> impl Strategy<Value = PhaseStatus> {
    prop_oneof![
        Just(PhaseStatus::Ready),
        Just(PhaseStatus::NotStarted),
        Just(PhaseStatus::InProgress),
        Just(PhaseStatus::Blocked),
        Just(PhaseStatus::Completed),
        Just(PhaseStatus::Failed),
    ]
}

proptest! {
    #![proptest_config(crate::testing::proptest_config(256))]
    #[test]
    fn random_updates_touch_only_their_block(
        phase in prop::sample::select(vec![-1i8, 0, 5, 6, 7, 8]),
        status in arb_status(),
        extra in prop::collection::vec(("[a-z_]{1,10}", arb_value()), 0..5),
        crlf in any::<bool>(),
    ) {
        let text = if crlf { REALISTIC.replace('\n', "\r\n") } else { REALISTIC.to_string() };
        let s = parse(&text);
        let extra2 = extra.clone();
        let t = s.update_phase(phase, move |m| {
            for (k, v) in extra2 {
                if k != "status" && k != "completed" && k != "approval" {
                    m.insert(k, v);
                }
            }
            set_status(m, status);
        }).unwrap();
        assert_only_block_changed(&s, &t, phase);
        let p = t.phase(phase).unwrap();
        prop_assert_eq!(p.status, status);
        for (k, v) in extra.iter().filter(|(k, _)| k != "status" && k != "completed" && k != "approval") {
            // The last write of a key wins, as in the edit closure.
            let last = extra.iter().rev().find(|(k2, _)| k2 == k).unwrap();
            prop_assert_eq!(p.block.as_ref().unwrap().get(k), Some(&last.1), "key {} (value {:?})", k, v);
        }
        for other in s.phases().iter().filter(|o| o.number != phase) {
            prop_assert_eq!(&other.block, &t.phase(other.number).unwrap().block);
        }
        // Re-parsing the written bytes gives the same state.
        let again = MasterState::parse(Path::new("f.md"), &t.to_bytes()).unwrap();
        prop_assert_eq!(again.phases(), t.phases());
    }
}

proptest! {
    #![proptest_config(crate::testing::proptest_config(256))]
    /// Arbitrary bytes are a master state or an input error naming the
    /// file and a line inside it — never a panic.
    #[test]
    fn arbitrary_master_states_never_panic(
        parts in prop::collection::vec(prop_oneof![
            Just("#### **Phase 6: Testing & Quality Assurance**\n".to_string()),
            Just("#### **Phase 7: AI-First Deployment Preparation**\n".to_string()),
            Just("```json\n".to_string()),
            Just("```\n".to_string()),
            Just("{\"status\": \"completed\"}\n".to_string()),
            "\\{[ -~]{0,30}\n".prop_map(String::from),
            "\\PC{0,40}\n".prop_map(String::from),
        ], 0..20),
    ) {
        let text = parts.concat();
        let lines = text.lines().count().max(1);
        if let Err(e) = MasterState::parse(Path::new("framework_progress.md"), text.as_bytes()) {
            prop_assert_eq!(e.path.as_deref(), Some(Path::new("framework_progress.md")));
            if let Some(l) = e.line {
                prop_assert!(l >= 1 && l <= lines + 1, "line {} of {}", l, lines);
            }
        }
    }
}

/// Replays a fuzzer-found input: it parses, Phase 7 set `in_progress`
/// through `set_status` updates, and the result reads back.
fn phase_7_update_reads_back(bytes: &[u8]) {
    let path = Path::new("framework_progress.md");
    let state = MasterState::parse(path, bytes).unwrap();
    let updated = state
        .update_phase(7, |m| set_status(m, PhaseStatus::InProgress))
        .expect("a parsed file can be updated");
    let again = MasterState::parse(path, &updated.to_bytes()).unwrap();
    assert_eq!(again.phase(7).unwrap().status, PhaseStatus::InProgress);
}

/// Found by the fuzzer (fuzz/fuzz_targets/master_state.rs): a prose file
/// with Phase 7 twice.
#[test]
fn fuzz_regression_duplicate_prose_phase_7() {
    phase_7_update_reads_back(include_bytes!(
        "../../tests/fixtures/master_state/fuzz/duplicate_prose_phase_7.md"
    ));
}

/// Found by the fuzzer: a ```json fence indented by a vertical tab was
/// read as a block, and rewriting it with that indent made invalid JSON.
/// Only spaces and tabs indent a fence now.
#[test]
fn fuzz_regression_vertical_tab_fence() {
    phase_7_update_reads_back(include_bytes!(
        "../../tests/fixtures/master_state/fuzz/vertical_tab_fence.md"
    ));
}
