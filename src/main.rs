fn main() -> std::process::ExitCode {
    rdbkit::cli::main()
}
