#!/usr/bin/env bash
# The replication simulation at full size: 50 nodes (or SIM_NODES) of the real node logic over a
# seeded in-process network with loss, delay, a partition and restarts, on a release build.
# Prints what the protocol cost per delta and the virtual time to converge.
# Usage: bash scripts/simulate.sh [seed ...]   (default seed 7)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
export SIM_NODES="${SIM_NODES:-50}"
for seed in "${@:-7}"; do
    SIM_SEED="$seed" cargo test -q --release -p calimero-node --test simulation -- --nocapture 2>&1 \
        | grep -E '^simulation:|test result|panicked|FAILED'
done
