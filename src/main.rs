fn main() -> std::process::ExitCode {
    deploy_session::main()
}
