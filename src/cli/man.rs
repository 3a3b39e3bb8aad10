//! `vnet man DIR`: one manual page per command, written as DIR/vnet.1, DIR/vnet-up.1, …

use std::path::{Path, PathBuf};

use clap::{Args as ClapArgs, CommandFactory};

use super::{Cli, FAILED, OK};

#[derive(ClapArgs)]
pub struct Args {
    /// Directory to write the pages into (created when missing); e.g. /usr/local/share/man/man1
    pub dir: PathBuf,
}

pub(crate) fn run(a: Args) -> i32 {
    if let Err(e) = std::fs::create_dir_all(&a.dir) {
        super::error(format_args!("cannot create {}: {e}", a.dir.display()));
        return FAILED;
    }
    // `vnet help` is clap's, not a command of vnet's: no page for it. Building
    // the command gives each subcommand its display name (`vnet-up`), which is
    // the page's title and file name.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    match write_pages(&cmd, &a.dir, &mut written) {
        Ok(()) => {
            let names: Vec<String> = written
                .iter()
                .filter_map(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            crate::outln!(
                "vnet: wrote {} manual pages to {}: {}",
                names.len(),
                a.dir.display(),
                names.join(" ")
            );
            OK
        }
        Err(m) => {
            super::error(m);
            FAILED
        }
    }
}

/// The command's page, then its subcommands' pages, depth first.
fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> miette::Result<()> {
    // Every page names the program and its version as its source (clap_mangen
    // would give a subcommand's page the subcommand's bare name).
    let man = clap_mangen::Man::new(cmd.clone())
        .source(concat!("vnet ", env!("CARGO_PKG_VERSION")))
        .manual("vnet manual");
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page)
        .map_err(|e| miette::miette!("rendering {}: {e}", path.display()))?;
    std::fs::write(&path, page)
        .map_err(|e| miette::miette!("cannot write {}: {e}", path.display()))?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}
