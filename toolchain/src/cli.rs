//! The command line: `cargo calimero new | build | abi | inspect | compat | test`.

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
        /// The language: rust, or ts (TypeScript, the same app `npx create-calimero-app` makes).
        #[arg(long, default_value = "rust")]
        lang: String,
        /// The TypeScript template: kv-store (the default) or counter.
        #[arg(long)]
        template: Option<String>,
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
        /// TypeScript apps: do not pre-initialise. By default the build runs the app's top level
        /// (SDK loaded, classes defined) once and stores the result in the module, so a call
        /// only runs its method; with this flag every call sets the app up first. Same behaviour,
        /// slower calls, smaller module.
        #[arg(long)]
        no_snapshot: bool,
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
    /// Both run the same calls (after `init`) on the same context, identity, clock and random
    /// source: the scenario's, then calls generated from the ABI. After every call their results,
    /// events, storage (every key and value), state roots and delta artifacts must be equal; at
    /// the end each applies the other's deltas and must reach the same root. Exits 0 only if
    /// nothing differs; otherwise prints the first difference: the call, the entity, both values
    /// decoded through each module's ABI, and the seed that reproduces it.
    Compat {
        /// The first module (e.g. res/kv_store.wasm).
        a: PathBuf,
        /// The second module (e.g. the TypeScript twin's).
        b: PathBuf,
        /// A JSON or YAML list of calls: [{"method": "set", "args": {...}, "expect": {"output": ...}, "as": "alice"}].
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Calls to generate from the ABI's types after the scenario's [default: 1000 without
        /// --scenario, 0 with it].
        #[arg(long)]
        calls: Option<usize>,
        /// Seeds the random source both modules read and the generated calls.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also write every call of the run (the scenario's and the generated ones) to this file
        /// as a scenario, to replay, shorten or keep as a regression test.
        #[arg(long, value_name = "FILE")]
        save_calls: Option<PathBuf>,
        /// human: a sentence; json: one JSON object on stdout, for CI.
        #[arg(long, value_enum, default_value = "human")]
        message_format: MessageFormat,
    },
    /// Build an app and run its scenario files against it, checking every `expect`.
    ///
    /// Scenario files are `scenario.json`, `scenario.yaml` or `scenario.yml` in the app's
    /// directory and every such file in its `scenarios/` directory, or those given with
    /// --scenario. Each runs on a fresh in-process instance of the module (the node's runtime,
    /// in-memory storage) after `init`. Exits 1 if any call's result is not the expected one,
    /// naming the call, what it gave and what was expected.
    ///
    /// A step `{"upgrade": "v2.wasm"}` moves the context to another version of the app (path
    /// relative to the scenario file): it runs the migration the new module declares from the
    /// current state version, and later calls run on the new module. `"refused": true` expects
    /// the migration to fail (a panic, or its migration check refusing) and the context to stay
    /// as it was.
    Test {
        /// The app's Cargo.toml or package.json (default: the one in the current directory).
        #[arg(long)]
        manifest_path: Option<PathBuf>,
        /// A scenario to run (repeatable; default: the app's scenario files).
        #[arg(long)]
        scenario: Vec<PathBuf>,
        /// Test this module instead of building the app.
        #[arg(long)]
        module: Option<PathBuf>,
        /// Seeds the random source the module reads.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::New {
            name,
            lang,
            template,
            dir,
            sdk_path,
        } => {
            let dir = match dir {
                Some(dir) => dir,
                None => std::env::current_dir()?,
            };
            let sdk = sdk_path.unwrap_or_else(crate::new::default_sdk_path);
            let root = crate::new::create(&name, &dir, &lang, template.as_deref(), &sdk)?;
            println!("created {} in {}", name, root.display());
            if lang == "rust" {
                println!(
                    "next:\n  cd {}\n  cargo test\n  cargo calimero build\n  cargo calimero test",
                    root.display()
                );
            } else {
                println!(
                    "next:\n  cd {}\n  npm install\n  npm run typecheck\n  npm run build\n  npm test",
                    root.display()
                );
            }
            Ok(())
        }
        Command::Build {
            manifest_path,
            out,
            release: _,
            dev,
            no_opt,
            no_snapshot,
            message_format,
        } => {
            let reporter = Reporter::new(message_format);
            let options = BuildOptions {
                manifest_path,
                out_dir: out,
                dev,
                no_opt,
                no_snapshot,
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
            calls,
            seed,
            save_calls,
            message_format,
        } => {
            let steps = match &scenario {
                Some(path) => crate::compat::load_scenario(path)?,
                None => Vec::new(),
            };
            let options = crate::compat::Options {
                seed,
                generated: calls.unwrap_or(if scenario.is_some() { 0 } else { 1000 }),
            };
            let (a_bytes, b_bytes) = (read(&a)?, read(&b)?);
            if let Some(file) = &save_calls {
                crate::compat::save_calls(file, &a_bytes, &steps, options)?;
            }
            let report = crate::compat::run(&a_bytes, &b_bytes, &steps, options)?;
            if message_format == MessageFormat::Json {
                println!("{}", report.to_json());
            }
            match report.difference {
                None => {
                    if message_format != MessageFormat::Json {
                        println!(
                            "compatible: {} calls ({} generated), cross-applied both ways (seed {seed})",
                            report.calls, options.generated
                        );
                    }
                    Ok(())
                }
                Some(d) => {
                    let hint = d.hint.map(|h| format!("\nnote: {h}")).unwrap_or_default();
                    anyhow::bail!(
                        "the modules differ at {}: {}\n  {}: {}\n  {}: {}{hint}\n(reproduce with --seed {seed})",
                        d.at,
                        d.what,
                        a.display(),
                        d.a,
                        b.display(),
                        d.b
                    )
                }
            }
        }
        Command::Test {
            manifest_path,
            scenario,
            module,
            seed,
        } => test(manifest_path, scenario, module, seed),
    }
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// The scenario files of the app in `dir`.
fn scenario_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let is_scenario = |p: &std::path::Path| {
        matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("json" | "yaml" | "yml")
        )
    };
    let mut found: Vec<PathBuf> = ["scenario.json", "scenario.yaml", "scenario.yml"]
        .iter()
        .map(|name| dir.join(name))
        .filter(|p| p.is_file())
        .collect();
    let mut listed: Vec<PathBuf> = std::fs::read_dir(dir.join("scenarios"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.is_file() && is_scenario(p))
        .collect();
    listed.sort();
    found.extend(listed);
    found
}

/// `cargo calimero test`.
fn test(
    manifest_path: Option<PathBuf>,
    scenarios: Vec<PathBuf>,
    module: Option<PathBuf>,
    seed: u64,
) -> anyhow::Result<()> {
    let app_dir = match &manifest_path {
        Some(path) => path
            .parent()
            .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf),
        None => std::env::current_dir()?,
    };
    let scenarios = if scenarios.is_empty() {
        scenario_files(&app_dir)
    } else {
        scenarios
    };
    if scenarios.is_empty() {
        anyhow::bail!(
            "no scenario to run: write {}/scenario.json (a list of calls such as \
             [{{\"method\": \"set\", \"args\": {{\"key\": \"a\"}}, \"expect\": {{\"output\": null}}}}]) \
             or pass --scenario FILE",
            app_dir.display()
        );
    }
    let steps = scenarios
        .iter()
        .map(|path| Ok((path, crate::compat::load_scenario(path)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let module = match module {
        Some(path) => path,
        None => {
            let reporter = Reporter::new(MessageFormat::Human);
            let options = BuildOptions {
                manifest_path,
                ..BuildOptions::default()
            };
            pipeline::build(&options, &reporter)?.module
        }
    };
    let bytes = read(&module)?;
    let mut failed = 0;
    let mut calls = 0;
    let mut upgrades = 0;
    // "6 calls", or "6 calls, 1 upgrade" when a scenario moves the context to a new version.
    let counted = |calls: usize, upgrades: usize| match upgrades {
        0 => format!("{calls} calls"),
        1 => format!("{calls} calls, 1 upgrade"),
        n => format!("{calls} calls, {n} upgrades"),
    };
    for (path, steps) in &steps {
        let checked = crate::compat::check(&bytes, steps, seed)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        calls += checked.calls;
        upgrades += checked.upgrades;
        if checked.failures.is_empty() {
            println!(
                "ok   {} ({})",
                path.display(),
                counted(checked.calls, checked.upgrades)
            );
            continue;
        }
        println!(
            "FAIL {} ({} of {})",
            path.display(),
            checked.failures.len(),
            counted(checked.calls, checked.upgrades)
        );
        for failure in &checked.failures {
            println!(
                "  {}\n    got:      {}\n    expected: {}",
                failure.at, failure.a, failure.b
            );
        }
        failed += checked.failures.len();
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} did not give the expected result ({})",
            counted(calls, upgrades),
            module.display()
        );
    }
    println!(
        "{} scenario(s), {}: all as expected",
        steps.len(),
        counted(calls, upgrades)
    );
    Ok(())
}
