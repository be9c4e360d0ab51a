#!/usr/bin/env bash
# Runs the fuzz targets for a bounded time each, on the stable toolchain.
#
#   fuzz/run.sh [--seconds N] [TARGET...]     (default: 60 s, every target)
#
# How fuzzing works on stable here: cargo-fuzz with `--sanitizer none` passes rustc only
# stable flags (`-Cpasses=sancov-module` and the sanitizer-coverage options); libfuzzer-sys
# builds libFuzzer itself with the system C++ compiler. Only AddressSanitizer needs nightly,
# and Rust code without `unsafe` gains little from it. Debug assertions stay on, so integer
# overflow panics like any other bug.
#
# Each run starts from the seeds that `seed-corpus` writes from valid encodings
# (fuzz/seeds/, written anew each time) and from what earlier runs on this machine found
# (fuzz/corpus/). A crash stops the script with the failing input under fuzz/artifacts/;
# `cargo fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-…` replays it.
set -euo pipefail
cd "$(dirname "$0")"

# The cargo-fuzz release whose build flags were checked against the stable toolchain.
readonly CARGO_FUZZ_VERSION=0.13.2
readonly ALL_TARGETS=(entry_bytes entry_signed sync_messages sync_framing csv_import)

seconds=60
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
        *) targets+=("$1"); shift ;;
    esac
done
if [ ${#targets[@]} -eq 0 ]; then
    targets=("${ALL_TARGETS[@]}")
fi

if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

echo "== seed corpora from valid encodings"
cargo run --quiet --package vigia-fuzz-fixtures --bin seed-corpus -- seeds

echo "== build the fuzz targets (instrumented, release with debug assertions)"
cargo fuzz build --sanitizer none

# Logs go beside the fuzz build, or here when CARGO_TARGET_DIR puts the build elsewhere.
readonly LOG_DIR="${CARGO_TARGET_DIR:-target}"
mkdir -p "$LOG_DIR"
summary=()
for target in "${targets[@]}"; do
    echo "== fuzz $target for ${seconds} s"
    mkdir -p "corpus/$target"
    log="$LOG_DIR/fuzz-$target.log"
    # -timeout: one input taking 10 s is a hang worth a report; -rss_limit_mb: a sync
    # frame may make the codec allocate 4 MiB, far below this.
    status=0
    cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^Done [0-9]+ runs' "$log" || true
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    corpus=$(find "corpus/$target" -type f | wc -l)
    if [ "$status" -ne 0 ]; then
        echo "fuzz target $target failed (exit $status); the input is under fuzz/artifacts/$target/" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
    summary+=("$target: ${runs:-?} executions in ${seconds} s, corpus $corpus inputs, no crash")
done

echo "== fuzzing summary"
printf '%s\n' "${summary[@]}"
