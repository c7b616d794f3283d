//! The command line: `cargo calimero new | build | abi | inspect`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::pipeline::{self, BuildOptions};
use crate::report::{MessageFormat, Reporter};

/// Create, build and inspect Calimero apps.
#[derive(Parser, Debug)]
#[command(name = "cargo calimero", bin_name = "cargo calimero", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new app from the template.
    New {
        /// The app's name (also its directory).
        name: String,
        /// The language: rust (ts is not available yet).
        #[arg(long, default_value = "rust")]
        lang: String,
        /// Where to create it (default: the current directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The Calimero SDK checkout the app depends on (default: the one this tool was built from).
        #[arg(long)]
        sdk_path: Option<PathBuf>,
    },
    /// Build an app to res/<name>.wasm with its ABI embedded, optimised and validated.
    ///
    /// A directory with a Cargo.toml is a Rust app; one with a package.json (entry src/index.ts)
    /// is a TypeScript app, compiled to QuickJS bytecode inside the engine this tool carries (no
    /// Node.js, clang or download needed).
    Build {
        /// The app's Cargo.toml or package.json (default: the one in the current directory).
        #[arg(long)]
        manifest_path: Option<PathBuf>,
        /// Output directory (default: <app>/res).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Size-tuned release build (the default).
        #[arg(long, conflicts_with = "dev")]
        release: bool,
        /// Faster build, bigger module.
        #[arg(long)]
        dev: bool,
        /// Skip wasm-opt.
        #[arg(long)]
        no_opt: bool,
        /// human: steps on stderr; json: one JSON object per line on stdout, for CI.
        #[arg(long, value_enum, default_value = "human")]
        message_format: MessageFormat,
    },
    /// Print the ABI embedded in a module.
    Abi { module: PathBuf },
    /// Show a module's exports, imports (provided by the node or not), sections and ABI.
    Inspect { module: PathBuf },
    /// Check that two modules (a Rust app and its TypeScript twin) behave and store alike.
    ///
    /// Both run the scenario's calls (after `init`) on the same context, identity, clock and
    /// random source; after every call their results, events, storage (every key and value),
    /// state roots and delta artifacts must be equal, and at the end each applies the other's
    /// deltas and must reach the same root. Exits 0 only if nothing differs; otherwise prints the
    /// first difference: the call, what differs, both values.
    Compat {
        /// The first module (e.g. res/kv_store.wasm).
        a: PathBuf,
        /// The second module (e.g. the TypeScript twin's).
        b: PathBuf,
        /// A JSON array of calls: [{"method": "set", "args": {...}, "expect": {"output": ...}}].
        #[arg(long)]
        scenario: PathBuf,
        /// Seeds the random source both modules read.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// human: a sentence; json: one JSON object on stdout, for CI.
        #[arg(long, value_enum, default_value = "human")]
        message_format: MessageFormat,
    },
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::New {
            name,
            lang,
            dir,
            sdk_path,
        } => {
            let dir = match dir {
                Some(dir) => dir,
                None => std::env::current_dir()?,
            };
            let sdk = sdk_path.unwrap_or_else(crate::new::default_sdk_path);
            let root = crate::new::create(&name, &dir, &lang, &sdk)?;
            println!("created {} in {}", name, root.display());
            println!(
                "next:\n  cd {}\n  cargo test\n  cargo calimero build",
                root.display()
            );
            Ok(())
        }
        Command::Build {
            manifest_path,
            out,
            release: _,
            dev,
            no_opt,
            message_format,
        } => {
            let reporter = Reporter::new(message_format);
            let options = BuildOptions {
                manifest_path,
                out_dir: out,
                dev,
                no_opt,
            };
            pipeline::build(&options, &reporter)?;
            Ok(())
        }
        Command::Abi { module } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::inspect::abi(&module)?)?
            );
            Ok(())
        }
        Command::Inspect { module } => {
            print!("{}", crate::inspect::inspect(&module)?);
            Ok(())
        }
        Command::Compat {
            a,
            b,
            scenario,
            seed,
            message_format,
        } => {
            let read = |path: &PathBuf| {
                std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
            };
            let steps = crate::compat::load_scenario(&scenario)?;
            let report = crate::compat::run(&read(&a)?, &read(&b)?, &steps, seed)?;
            if message_format == MessageFormat::Json {
                println!("{}", report.to_json());
            }
            match report.difference {
                None => {
                    if message_format != MessageFormat::Json {
                        println!(
                            "compatible: {} calls, cross-applied both ways (seed {seed})",
                            report.calls
                        );
                    }
                    Ok(())
                }
                Some(d) => anyhow::bail!(
                    "the modules differ at {}: {}\n  {}: {}\n  {}: {}\n(seed {seed})",
                    d.at,
                    d.what,
                    a.display(),
                    d.a,
                    b.display(),
                    d.b
                ),
            }
        }
    }
}
