//! `--cost KIND N`: untimed operations, for counting instructions and syscalls.

use anyhow::{Result, bail};
use records_host::{Database, Runtime};

/// `--cost KIND N`: N untimed operations of one kind over a database of 1,000
/// records (see the crate doc). Instructions per operation are
/// `(Ir(KIND, N) - Ir(setup, 0)) / N`.
pub(crate) fn cost(args: &[String]) -> Result<()> {
    let [kind, n] = args else {
        bail!("--cost KIND N")
    };
    let n: i64 = n.parse()?;
    let dir = tempfile::tempdir()?;
    let db = Database::open(dir.path().join("app.db"))?;
    db.write(|w| (0..1000).try_for_each(|i| w.insert("row", i).map(drop)))?;
    let plugin = Runtime::new()?.load_reference()?;
    let mut instance = plugin.instantiate(db)?;
    let id = |i: i64| i % 1000 + 1;
    match kind.as_str() {
        "setup" => {}
        "instantiate" => {
            let mut db = instance.into_database();
            for _ in 0..n {
                db = plugin.instantiate(db)?.into_database();
            }
        }
        "get" => {
            for i in 0..n {
                instance.get_record(id(i))?;
            }
        }
        "create" => {
            for i in 0..n {
                instance.create_record("cost", i)?;
            }
        }
        "native-get" => {
            for i in 0..n {
                instance.database().get(id(i))?;
            }
        }
        "native-insert" => {
            for i in 0..n {
                instance.database().insert("cost", i)?;
            }
        }
        other => bail!("unknown --cost kind {other}"),
    }
    Ok(())
}
