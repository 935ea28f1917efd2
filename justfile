# records-host tasks. `just` lists them; `just ci` is what CI checks.

set shell := ["bash", "-euo", "pipefail", "-c"]

alias b := build
alias t := test
alias l := lint
alias d := demo

[private]
default:
    @just --list

# Install the pinned toolchain, rustfmt, clippy and the wasm32-wasip2 target (rust-toolchain.toml).
[group('setup')]
setup:
    rustup toolchain install

# Build the host, the CLI and the reference guest.
[group('build')]
build: setup
    cargo build --workspace

# Run every test: unit, guest rules, integration and multi-process.
[group('test')]
test: setup
    cargo test --workspace

# Every test with the PostgreSQL half required, against a throwaway cluster
# (.ci/postgres-cluster, from this machine's PostgreSQL binaries).
[group('test')]
test-postgres: setup
    dir=$(mktemp -d); trap '.ci/postgres-cluster stop "$dir"; rm -rf "$dir"' EXIT; \
    RECORDS_HOST_TEST_POSTGRES=$(.ci/postgres-cluster start "$dir") RECORDS_HOST_REQUIRE_POSTGRES=1 cargo test --workspace

# The lock and multi-process tests again with the portable lock (plain backoff, no
# shared words), the mode of platforms other than Linux.
[group('test')]
test-portable: setup
    RECORDS_HOST_LOCK_HANDOFF=off cargo test -p records-host --lib lock::tests
    RECORDS_HOST_LOCK_HANDOFF=off cargo test -p records-host-cli --test integration -- multiprocess transactions crash lock_files

# Type-check the library for a Unix other than Linux (the portable lock's build).
[group('test')]
check-unix: setup
    rustup target add x86_64-unknown-freebsd
    CC_x86_64_unknown_freebsd=gcc AR_x86_64_unknown_freebsd=ar cargo check -p records-host --lib --target x86_64-unknown-freebsd

# Formatting check and clippy with warnings denied.
[group('lint')]
lint: setup
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format the code.
[group('lint')]
fmt:
    cargo fmt --all

# Create record ("test", 42) through the reference plugin and read it back.
[group('run')]
demo *ARGS: setup
    cargo run -p records-host-cli -- demo {{ARGS}}

# Call one plugin export, e.g. just call 'create-record("x", 1)'.
[group('run')]
call *ARGS: setup
    cargo run -q -p records-host-cli -- call {{ARGS}}

# Run the benchmark harness (release build) and write target/bench/results.json; builds the
# 18 MB Python example plugin with componentize-py (from PyPI, into the work tree) for
# the large-plugin scenario.
[group('bench')]
bench *ARGS: setup
    python3 -m venv examples/plugins/python/.venv
    examples/plugins/python/.venv/bin/pip install -q -r examples/plugins/python/requirements.txt
    cd examples/plugins/python && .venv/bin/componentize-py -d wit -w counters-plugin componentize app -o plugin.wasm
    cargo bench -p records-host-cli --bench records -- --python-plugin {{justfile_directory()}}/examples/plugins/python/plugin.wasm --json {{justfile_directory()}}/target/bench/results.json {{ARGS}}

# The reference, Python and JavaScript plugins side by side (size, compile,
# instantiate, warm calls, CLI first and warm call); builds the examples first.
[group('bench')]
bench-plugins: plugins
    cargo bench -p records-host-cli --bench plugins -- --plugin reference={{justfile_directory()}}/target/guests/wasm32-wasip2/guest/records_guest.wasm --plugin python={{justfile_directory()}}/examples/plugins/python/plugin.wasm --plugin js={{justfile_directory()}}/examples/plugins/js/plugin.wasm

# records-host serve under load (64 connections from a client process; 1, 1,000
# and 10,000 tenants) against in-process PluginHost calls in the same run.
[group('bench')]
bench-serve *ARGS: setup
    cargo bench -p records-host-cli --bench serve -- {{ARGS}}

# Tenants' own plugins under serve: upload to first call (reference and the Python
# example), 1,000 tenants each with its own plugin against one shared, a tenth loaded.
[group('bench')]
bench-deploy *ARGS: setup
    python3 -m venv examples/plugins/python/.venv
    examples/plugins/python/.venv/bin/pip install -q -r examples/plugins/python/requirements.txt
    cd examples/plugins/python && .venv/bin/componentize-py -d wit -w counters-plugin componentize app -o plugin.wasm
    cargo bench -p records-host-cli --bench deploy -- --python-plugin {{justfile_directory()}}/examples/plugins/python/plugin.wasm {{ARGS}}

# The PostgreSQL scenarios against a throwaway cluster (.ci/postgres-cluster); prints
# the cluster's synchronous_commit and fsync with the figures.
[group('bench')]
bench-postgres *ARGS: setup
    dir=$(mktemp -d); trap '.ci/postgres-cluster stop "$dir/bouncer"; .ci/postgres-cluster stop "$dir"; rm -rf "$dir"' EXIT; \
    export RECORDS_HOST_BENCH_POSTGRES=$(.ci/postgres-cluster start "$dir"); \
    export RECORDS_HOST_BENCH_PGBOUNCER=$(.ci/postgres-cluster pgbouncer "$dir/bouncer" "$RECORDS_HOST_BENCH_POSTGRES" transaction); \
    cargo bench -p records-host-cli --bench postgres -- {{ARGS}}

# Everything CI checks.
[group('test')]
ci: lint test-postgres test-portable check-unix plugins

# Build the example plugins (Python, JavaScript) and the starters with their own
# toolchains (installed into the work tree) and check them: what CI runs.
[group('test')]
plugins: build
    .ci/plugins
