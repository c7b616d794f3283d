//! Where a node lives: `<home>/<node>/`, home from `--home`, `CALIMERO_HOME` or `~/.calimero`.

use std::path::PathBuf;

/// The base directory holding every node's home.
pub fn base(home: Option<PathBuf>) -> PathBuf {
    home.or_else(|| std::env::var_os("CALIMERO_HOME").map(PathBuf::from))
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
                .join(".calimero")
        })
}
