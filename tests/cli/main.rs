//! CLI behaviour, driving the real binary in temporary repos. One test
//! binary (faster to build and link than one per file).

mod harness;

mod assistant;
mod cache;
mod ci;
mod config;
mod deploy;
mod end;
mod engine;
mod environments;
mod export;
mod firsthour;
mod forgery;
mod general;
mod human;
mod humans;
mod init;
mod plan;
mod readme;
mod rules;
mod safety;
mod signing;
mod simulation;
mod status;
mod walk;

/// Every file in tests/cli must be declared above, or its tests never run.
#[test]
fn every_test_file_is_compiled_in() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(module) = name.strip_suffix(".rs")
            && module != "main"
        {
            assert!(
                main.contains(&format!("mod {module};")),
                "tests/cli/{name} is not declared in main.rs"
            );
        }
    }
}
