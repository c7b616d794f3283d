use clap::Parser;

fn main() -> anyhow::Result<()> {
    calimero_cli::bench::main(calimero_cli::bench::Cli::parse())
}
