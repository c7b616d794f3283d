use clap::Parser;

fn main() {
    // As a cargo subcommand we are run as `cargo-calimero calimero <args>`.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "calimero") {
        args.remove(1);
    }
    let cli = cargo_calimero::cli::Cli::parse_from(args);
    if let Err(error) = cargo_calimero::cli::run(cli) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
