//! `records-host serve`: a real server process on loopback and a real HTTP client
//! (`support/server.rs`): the API and its statuses (`api.rs`, `errors.rs`), who
//! may call and what clients cannot do to it (`access.rs`, `early_auth.rs`, the
//! tokens file in `tokens_file.rs`), what tenants are told (`disclosure.rs`),
//! each tenant's share of the slots (`fairness.rs`), descriptors and idle
//! databases (`descriptors.rs`), and load: shutdown under
//! writers, ten thousand tenants (`load.rs`).

mod access;
mod activation;
mod api;
mod compile_bounds;
mod deploy_crash;
mod deploys;
mod descriptors;
mod disclosure;
mod early_auth;
mod errors;
mod fairness;
mod load;
mod tokens_file;

use records_host::{Database, TenantName};
pub(super) use records_test_fixtures::with_nonce;
use serde_json::{Value, json};

use crate::support::*;

pub(super) fn call(server: &Server, tenant: &str, function: &str, args: Value) -> Answer {
    server.call(tenant, None, &json!({ "function": function, "args": args }))
}

/// Calls and expects 200 with exactly `expected` as the body.
#[track_caller]
pub(super) fn expect(server: &Server, tenant: &str, function: &str, args: Value, expected: Value) {
    let answer = call(server, tenant, function, args.clone());
    assert_eq!(
        (answer.status, &answer.body),
        (200, &expected),
        "{function}({args}): {}",
        answer.text
    );
}

/// Every record of `db`, page by page.
pub(super) fn all_records(db: &Database) -> Vec<records_host::Record> {
    let mut all: Vec<records_host::Record> = Vec::new();
    loop {
        let page = db.scan(all.last().map(|r| r.id), 1000).unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

/// A token for `tenant`, its hash appended to `<env>/tokens`.
pub(super) fn mint(env: &Env, tenant: &str) -> String {
    let output = run(command(env.dir.path()).args(["token", tenant, "--tokens", "tokens"]));
    assert_exit(&output, 0);
    stdout(&output)
}

/// A server running the hostile fixture, open to all, with `args` added.
pub(super) fn hostile_server(env: &Env, args: &[&str]) -> Server {
    let mut all = vec!["--no-auth", "--plugin", records_test_fixtures::HOSTILE];
    all.extend_from_slice(args);
    Server::start(env, &all)
}

pub(super) fn tenant_db(env: &Env, tenant: &str) -> Database {
    Database::open(
        env.tenant_home()
            .location(&TenantName::new(tenant).unwrap()),
    )
    .unwrap()
}
