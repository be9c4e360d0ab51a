//! The `vigia` binary: parses the command line, runs the command, reports any error.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use vigia_node::cli::Output;

fn main() -> ExitCode {
    let cli = vigia_tools::Cli::parse();
    let mut stdout = Output::new(std::io::stdout().lock());
    let result = vigia_tools::run(cli, &mut stdout).and_then(|()| Ok(stdout.flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `vigia … | head`: the reader has what it wanted.
        Err(err) if stdout.cut_short(&err) => ExitCode::SUCCESS,
        Err(err) => {
            vigia_node::cli::print_error(&err);
            ExitCode::FAILURE
        }
    }
}
