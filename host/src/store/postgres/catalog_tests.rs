//! Reading a schema's kind while another session renames it, as a host carrying
//! over an old tenant schema does (`legacy.rs`): the read says the schema moved
//! and never fails. (Seen in CI before the fix: "cannot read the schema
//! (relation \"rh_...\".records_host_meta does not exist)" from a process that
//! read the tables of the old schema just before another process renamed it.)

use std::sync::atomic::{AtomicBool, Ordering};

use super::super::sql::{Text, quote};
use super::super::test_server::Schemas;
use super::*;

#[test]
fn a_schema_renamed_while_its_kind_is_read_is_not_an_error() {
    const RENAMES: usize = 400;
    let Some(schemas) = Schemas::create(1) else {
        return;
    };
    let location = &schemas.locations[0];
    let name = location.schema().to_owned();
    let moved = format!("{name}_moved");
    let mut setup = schemas.client();
    setup
        .batch_execute(&Text::for_schema(&name).create)
        .expect("create the tables");
    let done = AtomicBool::new(false);
    let (mut ours, mut gone, mut empty) = (0, 0, 0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut renamer = schemas.client();
            for i in 0..RENAMES {
                let (from, to) = if i % 2 == 0 {
                    (&name, &moved)
                } else {
                    (&moved, &name)
                };
                renamer
                    .batch_execute(&format!(
                        "ALTER SCHEMA {} RENAME TO {}",
                        quote(from),
                        quote(to)
                    ))
                    .expect("rename");
            }
            done.store(true, Ordering::Release);
        });
        let mut reader = schemas.client();
        while !done.load(Ordering::Acquire) {
            match kind(&mut reader, location, &name) {
                Ok(Kind::Ours { version }) => {
                    assert_eq!(version, sql::SCHEMA_VERSION);
                    ours += 1;
                }
                Ok(Kind::Gone) => gone += 1,
                Ok(Kind::Empty) => empty += 1,
                Ok(Kind::Foreign(what)) => panic!("read as foreign: {what}"),
                Err(e) => panic!("a read during a rename failed: {e}"),
            }
        }
    });
    assert!(ours + gone + empty > 0, "the schema was read");
    assert!(
        matches!(kind(&mut setup, location, &name), Ok(Kind::Ours { .. })),
        "an even number of renames leaves it where it was"
    );
}
