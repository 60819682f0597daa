//! The `rigor` command line. Everything it does is in `cli`: one file per subcommand, over
//! the library; this is only the entry point.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
