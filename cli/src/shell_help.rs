//! Help that lives outside `--help`: shell completion scripts and the man page, both
//! generated from the clap definitions so they never drift from the real flags.

use std::io;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::args::{Cli, CompletionShell};

/// Prints the completion script for `shell` to stdout.
pub fn completion(shell: CompletionShell) {
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut Cli::command(), "rbuild", &mut io::stdout());
}

/// Prints the man page (roff) to stdout.
pub fn man_page() -> io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(&mut io::stdout())
}
