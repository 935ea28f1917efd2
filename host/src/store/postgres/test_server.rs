//! Schemas of their own on the PostgreSQL server `RECORDS_HOST_TEST_POSTGRES`
//! names (`.ci/postgres-cluster start DIR` prints one), for the unit tests of
//! this backend; without it they are skipped with a notice, unless
//! `RECORDS_HOST_REQUIRE_POSTGRES` is set, which makes a skip a failure.

use std::sync::atomic::{AtomicU32, Ordering};

use postgres::{Client, NoTls};

use super::sql::quote;
use crate::store::location::{Location, PgLocation};
use crate::tenant::TenantName;

/// Schemas of their own on the test server, dropped with them.
pub(super) struct Schemas {
    url: String,
    pub(super) locations: Vec<PgLocation>,
}

impl Schemas {
    /// `count` new schemas; `None` (with a notice) when there is no server.
    pub(super) fn create(count: usize) -> Option<Self> {
        let url = match std::env::var("RECORDS_HOST_TEST_POSTGRES") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    std::env::var_os("RECORDS_HOST_REQUIRE_POSTGRES").is_none(),
                    "RECORDS_HOST_REQUIRE_POSTGRES is set but RECORDS_HOST_TEST_POSTGRES is not"
                );
                eprintln!("note: PostgreSQL test skipped: set RECORDS_HOST_TEST_POSTGRES");
                return None;
            }
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let Location::Postgres(base) = Location::parse(&url) else {
            panic!("RECORDS_HOST_TEST_POSTGRES is not a PostgreSQL URL");
        };
        let locations = (0..count)
            .map(|_| {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let tenant = TenantName::new(&format!("locked-{}-{n}", std::process::id()))
                    .expect("a valid tenant name");
                base.for_tenant(&tenant)
            })
            .collect();
        let schemas = Self { url, locations };
        let mut client = schemas.client();
        for location in &schemas.locations {
            client
                .batch_execute(&format!("CREATE SCHEMA {}", quote(location.schema())))
                .expect("create a test schema");
        }
        Some(schemas)
    }

    /// A plain client of the server, for looking at it from outside.
    pub(super) fn client(&self) -> Client {
        Client::connect(&self.url, NoTls).expect("connect to the test server")
    }
}

impl Drop for Schemas {
    fn drop(&mut self) {
        let mut client = self.client();
        for location in &self.locations {
            let _ = client.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                quote(location.schema())
            ));
        }
    }
}
