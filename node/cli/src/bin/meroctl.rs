use clap::Parser;

fn main() {
    match calimero_cli::meroctl::main(calimero_cli::meroctl::Cli::parse()) {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::exit(1);
        }
    }
}
