//! Many real `records-host` processes writing to one database at once.

use std::collections::HashSet;

use crate::support::*;

on_both! {
    /// 8 processes each create 100 records through `records-host call`: every create
    /// succeeds, ids are unique, and the database holds exactly 800 rows.
    fn eight_processes_creating_100_records_each_lose_nothing(env) {
        const PROCESSES: usize = 8;
        const CREATES: usize = 100;
        // Create the database and warm the compiled-plugin cache before the race.
        assert_exit(&env.call(&["get-all-records()"]), 0);

        let ids = fan_out(PROCESSES, CREATES, |p, i| {
            // A wide lock timeout: the claim is that nothing is lost, and a loaded
            // machine can deschedule a holder for longer than the default 500 ms.
            let output = env.call(&[
                "--lock-timeout",
                "30000",
                &format!(r#"create-record("p{p}-{i}", {i})"#),
            ]);
            assert_exit(&output, 0);
            parse_ok(&stdout(&output))
        });

        assert_eq!(ids.len(), PROCESSES * CREATES);
        assert_eq!(
            ids.iter().collect::<HashSet<_>>().len(),
            PROCESSES * CREATES,
            "ids are unique"
        );
        let db = env.open();
        assert_eq!(db.count().unwrap(), (PROCESSES * CREATES) as u64);
        let records = db.scan(None, 10_000).unwrap();
        for p in 0..PROCESSES {
            let mine = records
                .iter()
                .filter(|r| r.name.starts_with(&format!("p{p}-")))
                .count();
            assert_eq!(mine, CREATES, "process {p}'s records");
        }
        env.assert_intact();
    }
}
