//! The `deploy-session` binary: everything is in the library.

fn main() -> std::process::ExitCode {
    deploy_session::main()
}
