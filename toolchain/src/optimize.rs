//! Step 3: wasm-opt, through the `wasm-opt` crate (binaryen built in; nothing to install).

use anyhow::{Context, anyhow};
use wasm_opt::{Feature, OptimizationOptions};

/// `-Oz` with exactly the WebAssembly features Rust emits for wasm32 and the node's wasmer runs.
pub fn optimize(module: &[u8]) -> anyhow::Result<Vec<u8>> {
    let dir = tempfile_dir()?;
    let (input, output) = (dir.join("in.wasm"), dir.join("out.wasm"));
    std::fs::write(&input, module).context("writing the module for wasm-opt")?;
    let mut options = OptimizationOptions::new_optimize_for_size_aggressively();
    options.mvp_features_only();
    for feature in [
        Feature::MutableGlobals,
        Feature::TruncSat,
        Feature::SignExt,
        Feature::BulkMemory,
        Feature::Multivalue,
        Feature::ReferenceTypes,
    ] {
        options.enable_feature(feature);
    }
    options.debug_info(false);
    let result = options
        .run(&input, &output)
        .map_err(|e| anyhow!("wasm-opt failed: {e}"));
    let optimized =
        result.and_then(|()| std::fs::read(&output).context("reading wasm-opt's output"));
    let _ = std::fs::remove_dir_all(&dir);
    optimized
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "cargo-calimero-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).context("creating a temporary directory")?;
    Ok(dir)
}
