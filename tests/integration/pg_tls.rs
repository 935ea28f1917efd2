//! TLS to PostgreSQL with libpq's `sslmode`s, against the test server (TLS on,
//! a throwaway CA, a certificate for `localhost` only) and a server without TLS.
//! A role in `records_tls_only` may log in over TLS only (the cluster's
//! `pg_hba.conf`), so a connection that works for it used TLS, and one refused
//! with "no encryption" did not.

use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::support::postgres::{plain_server, tls_server};
use crate::support::*;

/// The test's role, which must use TLS, and its database's `host:port/db`.
struct TlsRole {
    env: Env,
    name: String,
    password: &'static str,
    ca: &'static Path,
}

impl TlsRole {
    fn create() -> Option<Self> {
        let (_, ca) = tls_server()?;
        let env = Env::postgres()?;
        let pg = env.pg()?;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "rh_tls_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let password = "tls-role-password";
        let (_, database) = pg.server_and_database();
        pg.client()
            .batch_execute(&format!(
                "DO $$ BEGIN CREATE ROLE records_tls_only NOLOGIN; \
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
                 CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE records_tls_only; \
                 GRANT CREATE ON DATABASE {database} TO {name}"
            ))
            .unwrap();
        Some(Self {
            env,
            name,
            password,
            ca,
        })
    }

    /// Runs `what` with `--db` at `host` (the server's port and database) and
    /// `query`, and `vars` in the environment.
    fn call(&self, host: &str, query: &str, vars: &[(&str, &str)], what: &str) -> Output {
        let pg = self.env.pg().unwrap();
        let (server, database) = pg.server_and_database();
        let port = server.rsplit_once(':').unwrap().1;
        let url = format!("postgres://{}@{host}:{port}/{database}?{query}", self.name);
        let mut cmd = command(self.env.dir.path());
        cmd.env("PGPASSWORD", self.password)
            .env("HOME", self.env.dir.path())
            .envs(vars.iter().copied());
        for var in ["PGSSLMODE", "PGSSLROOTCERT", "PGCHANNELBINDING"] {
            if !vars.iter().any(|(name, _)| *name == var) {
                cmd.env_remove(var);
            }
        }
        run(cmd.args(["call", "--db", &url, what]))
    }

    fn ca(&self) -> String {
        self.ca.display().to_string()
    }
}

impl Drop for TlsRole {
    fn drop(&mut self) {
        if let Some(pg) = self.env.pg() {
            let _ = pg
                .client()
                .batch_execute(&format!("DROP OWNED BY {0}; DROP ROLE {0}", self.name));
        }
    }
}

/// Asserts one line on stderr, exit 1, the words `want` in it, no password.
fn assert_refused(output: &Output, want: &str, password: &str) {
    assert_exit(output, 1);
    let err = host_stderr(output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(want), "wanted {want:?} in: {err}");
    assert!(!err.contains(password), "{err}");
}

#[test]
fn every_sslmode_against_a_tls_server_checks_what_libpq_checks() {
    let Some(role) = TlsRole::create() else {
        return;
    };
    let ca = role.ca();
    let ip = "127.0.0.1";

    // disable: no TLS, so this role is turned away.
    let output = role.call(ip, "sslmode=disable", &[], r#"create-record("a", 1)"#);
    assert_refused(&output, "no encryption", role.password);

    // allow, prefer (also the default, with no sslmode), require: TLS, any
    // certificate. Each writes one record.
    for (i, query) in ["sslmode=allow", "sslmode=prefer", "", "sslmode=require"]
        .iter()
        .enumerate()
    {
        let output = role.call(ip, query, &[], r#"create-record("a", 1)"#);
        assert_exit(&output, 0);
        assert_eq!(stdout(&output), format!("ok({})", i + 1), "{query}");
    }

    // verify-ca: the chain to the CA, any name (the certificate is for
    // localhost only, this is 127.0.0.1).
    let output = role.call(
        ip,
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
        &[],
        "get-record(1)",
    );
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("\"a\""), "{}", stdout(&output));

    // verify-full: the name as well.
    let output = role.call(
        ip,
        &format!("sslmode=verify-full&sslrootcert={ca}"),
        &[],
        "get-record(1)",
    );
    assert_refused(
        &output,
        "wrong host name: it is for localhost, not 127.0.0.1",
        role.password,
    );
    let output = role.call(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
        &[],
        "get-record(2)",
    );
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("\"a\""), "{}", stdout(&output));

    // Without sslrootcert the system's trust store is used: the throwaway CA
    // is not in it.
    for mode in ["verify-ca", "verify-full"] {
        let output = role.call(
            "localhost",
            &format!("sslmode={mode}"),
            &[],
            "get-record(1)",
        );
        assert_refused(&output, "does not verify: unknown issuer", role.password);
    }

    // require with a root certificate file checks the chain, as libpq does: a
    // bundle that does not hold the server's CA is refused.
    let other = role.env.dir.path().join("other-ca.crt");
    std::fs::write(&other, OTHER_CA).unwrap();
    let output = role.call(
        ip,
        &format!("sslmode=require&sslrootcert={}", other.display()),
        &[],
        "get-record(1)",
    );
    assert_refused(&output, "unknown issuer", role.password);
}

#[test]
fn tls_settings_come_from_the_environment_when_the_url_has_none() {
    let Some(role) = TlsRole::create() else {
        return;
    };
    let ca = role.ca();
    let full = [("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", ca.as_str())];
    let output = role.call("localhost", "", &full, r#"create-record("e", 5)"#);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "ok(1)");
    let output = role.call("127.0.0.1", "", &full, "get-record(1)");
    assert_refused(&output, "wrong host name", role.password);
    // The URL's own setting wins over the environment's.
    let output = role.call("127.0.0.1", "sslmode=require", &full, "get-record(1)");
    assert_exit(&output, 0);
    let output = role.call(
        "localhost",
        "",
        &[("PGSSLMODE", "disable")],
        "get-record(1)",
    );
    assert_refused(&output, "no encryption", role.password);
    let output = role.call(
        "localhost",
        "",
        &[("PGSSLMODE", "sometimes")],
        "get-record(1)",
    );
    assert_refused(
        &output,
        "PGSSLMODE: sslmode \"sometimes\" is not one of",
        role.password,
    );
}

#[test]
fn bad_tls_settings_are_refused_in_one_line() {
    let Some(role) = TlsRole::create() else {
        return;
    };
    let missing = role.env.dir.path().join("no-such-ca.crt");
    let output = role.call(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", missing.display()),
        &[],
        "get-record(1)",
    );
    assert_refused(&output, "cannot use sslrootcert", role.password);
    assert!(
        host_stderr(&output).contains("No such file"),
        "{}",
        stderr(&output)
    );

    let not_pem = role.env.dir.path().join("not-pem.crt");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let output = role.call(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", not_pem.display()),
        &[],
        "get-record(1)",
    );
    assert_refused(&output, "holds no certificate", role.password);

    let output = role.call("localhost", "sslmode=verify", &[], "get-record(1)");
    assert_refused(&output, "not one of disable, allow, prefer", role.password);

    let output = role.call(
        "localhost",
        "sslmode=require&sslrootcert=system",
        &[],
        "get-record(1)",
    );
    assert_refused(&output, "use verify-full", role.password);
}

#[test]
fn channel_binding_required_is_honoured() {
    let Some(role) = TlsRole::create() else {
        return;
    };
    // SCRAM over TLS binds the channel (SCRAM-SHA-256-PLUS).
    let output = role.call(
        "localhost",
        "sslmode=require&channel_binding=require",
        &[],
        r#"create-record("c", 3)"#,
    );
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "ok(1)");
    // Without TLS there is no channel to bind.
    let Some(plain) = plain_server() else { return };
    let output = run(command(role.env.dir.path()).args([
        "call",
        "--db",
        &format!(
            "{}?sslmode=prefer&channel_binding=require",
            without_password(plain)
        ),
        "get-record(1)",
    ]));
    assert_refused(
        &output,
        "server did not use channel binding",
        "records:records",
    );
}

#[test]
fn a_server_without_tls_is_refused_by_require_and_used_by_prefer() {
    let Some(plain) = plain_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = without_password(plain);
    let call = |query: &str, what: &str| {
        run(command(dir.path()).env("PGPASSWORD", "records").args([
            "call",
            "--db",
            &format!("{url}?{query}"),
            what,
        ]))
    };
    for mode in ["require", "verify-ca", "verify-full"] {
        let output = call(&format!("sslmode={mode}"), "get-record(1)");
        assert_refused(&output, "the server does not offer TLS", "records:records");
    }
    let schema = format!("rh_plain_{}", std::process::id());
    let output = call("sslmode=prefer", r#"create-record("p", 1)"#);
    assert_exit(&output, 0);
    let first: u64 = stdout(&output)
        .trim_start_matches("ok(")
        .trim_end_matches(')')
        .parse()
        .unwrap();
    let output = call("sslmode=disable", &format!("get-record({first})"));
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("\"p\""),
        "{} {schema}",
        stdout(&output)
    );
}

/// `url` without `:password` in its user info.
fn without_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user_info, host) = rest.split_once('@').unwrap();
    let user = user_info.split(':').next().unwrap();
    format!("{scheme}://{user}@{host}")
}

/// A CA certificate that signed nothing the tests use (made once with
/// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1`, its
/// key thrown away).
const OTHER_CA: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBuTCCAV+gAwIBAgIUVWwaat3PHRbk9Usf/MfIX+A5TbcwCgYIKoZIzj0EAwIw\n\
KTEnMCUGA1UEAwwecmVjb3Jkcy1ob3N0IHVucmVsYXRlZCB0ZXN0IENBMCAXDTI2\n\
MTIwNjAyMzcxNFoYDzIxMjYxMTEyMDIzNzE0WjApMScwJQYDVQQDDB5yZWNvcmRz\n\
LWhvc3QgdW5yZWxhdGVkIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC\n\
AARAPHYp7ocb8yOo3KyFLaYNqAfDOTVy4q+OBz39SWBp+xUbFKa37onlO3GXy6v3\n\
2aYjpYdfdSd9hPv64gyYT7bko2MwYTAdBgNVHQ4EFgQUv+hEAmDTldRJGASv7WG6\n\
0F732d4wHwYDVR0jBBgwFoAUv+hEAmDTldRJGASv7WG60F732d4wDwYDVR0TAQH/\n\
BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAgQwCgYIKoZIzj0EAwIDSAAwRQIgYNL1uI+a\n\
+9WggMrGRymRS5Hw/L4Ej1cfWk9YQ1K/Xy8CIQDhe6JiTj7jmGzTqmKkniJF6q2J\n\
U5vYxx6+9canV9/L5g==\n\
-----END CERTIFICATE-----\n\
";
