//! The `hookd` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    hookd::cli::main()
}
