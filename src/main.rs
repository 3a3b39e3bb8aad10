#![deny(unsafe_code)]

use clap::Parser;

fn main() {
    let cli = vnet::cli::Cli::parse();
    let code = vnet::cli::run(cli);
    vnet::kernel::fault::report();
    std::process::exit(vnet::cli::out::finish(code));
}
