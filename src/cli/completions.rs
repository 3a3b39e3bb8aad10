//! `vnet completions bash|zsh|fish`: the shell's completion script on standard output.

use std::io::Write;

use clap::{Args as ClapArgs, CommandFactory, ValueEnum};
use clap_complete::Shell as Generator;

use super::{Cli, FAILED, OK};

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

pub fn run(a: Args) -> i32 {
    let generator = match a.shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
    };
    // Generated into memory first: clap_complete panics on a failed write, and
    // standard output may be a closed pipe.
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut Cli::command(), "vnet", &mut script);
    let mut out = std::io::stdout().lock();
    match out.write_all(&script).and_then(|()| out.flush()) {
        Ok(()) => OK,
        Err(e) => {
            super::error(format_args!("writing the completion script: {e}"));
            FAILED
        }
    }
}
