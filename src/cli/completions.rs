//! `vnet completions bash|zsh|fish`: the shell's completion script on standard output.

use clap::{Args as ClapArgs, CommandFactory, ValueEnum};
use clap_complete::Shell as Generator;

use super::{Cli, OK};

#[derive(ClapArgs)]
pub struct Args {
    /// The shell to write the completion script for
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Shell {
    /// Bash: `vnet completions bash > /etc/bash_completion.d/vnet`
    Bash,
    /// Zsh: `vnet completions zsh > "${fpath[1]}/_vnet"`
    Zsh,
    /// Fish: `vnet completions fish > ~/.config/fish/completions/vnet.fish`
    Fish,
}

pub(crate) fn run(a: Args) -> i32 {
    let generator = match a.shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
    };
    // Through vnet's stdout writer: a closed pipe ends the output quietly.
    clap_complete::generate(
        generator,
        &mut Cli::command(),
        "vnet",
        &mut super::out::writer(),
    );
    OK
}
