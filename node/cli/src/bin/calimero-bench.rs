use clap::Parser;

// Counts live heap bytes, so B9 can report what loading a context allocates.
#[global_allocator]
static ALLOCATOR: calimero_cli::bench::CountingAllocator = calimero_cli::bench::CountingAllocator;

fn main() -> anyhow::Result<()> {
    calimero_cli::bench::main(calimero_cli::bench::Cli::parse())
}
