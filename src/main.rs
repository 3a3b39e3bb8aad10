use clap::Parser;

fn main() {
    let cli = vnet::cli::Cli::parse();
    std::process::exit(vnet::cli::run(cli));
}
