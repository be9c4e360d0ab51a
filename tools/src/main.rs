//! The `vigia` binary: parses the command line, runs the command, reports any error.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = vigia_tools::Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let result = vigia_tools::run(cli, &mut stdout).and_then(|()| Ok(stdout.flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            vigia_node::cli::print_error(&err);
            ExitCode::FAILURE
        }
    }
}
