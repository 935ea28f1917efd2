//! Integration tests of records-host as its users meet it: the `records-host` binary
//! (spawned for real, many at once for the cross-process claims) and the library.

// Test helpers outside #[test] functions unwrap too: a failed setup is a failed test.
#![allow(clippy::unwrap_used)]

mod cli;
mod crash;
mod db_paths;
mod deploy_cli;
mod deployments;
mod instance_pool;
mod library;
mod lock_files;
mod multiprocess;
mod pg_failover;
mod pg_pooler;
mod pg_secrets;
mod pg_tls;
mod plugin_files;
mod plugins;
mod postgres;
mod sandbox;
mod scripts;
mod serve;
mod stored_values;
mod support;
mod tenant_schemas;
mod tenants;
mod time_limits;
mod transactions;
