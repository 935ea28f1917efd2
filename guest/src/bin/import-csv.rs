//! An example script: imports `name,value` lines from stdin as records, all in one
//! write transaction, and prints a summary.
//!
//! Built for `wasm32-wasip2` into a command component of the `records:plugin/script`
//! world; run it with
//! `records-host run [--db PATH | --tenant NAME] import-csv.wasm [--dry-run] < data.csv`.
//!
//! Exit codes: 0 imported (or, with `--dry-run`, checked); 1 bad input or
//! arguments, or the store refused: nothing imported, stderr says why. (A Rust `fn main`
//! exits through WASI's `exit`, which carries only success or failure; a script
//! that calls `wasi:cli/exit.exit-with-code` gets its exact code through.)

#[cfg(target_arch = "wasm32")]
fn main() -> std::process::ExitCode {
    script::main()
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("import-csv is a wasm32-wasip2 script: run it with `records-host run`");
    std::process::exit(2);
}

#[cfg(target_arch = "wasm32")]
mod script {
    mod bindings {
        #![allow(missing_docs)]
        wit_bindgen::generate!({
            path: "../wit",
            world: "script",
        });
    }

    use std::io::BufRead;
    use std::process::ExitCode;

    use bindings::records::plugin::store::{self, WriteTxn};
    use bindings::records::plugin::types::Error;
    use records_guest::rules;

    pub(crate) fn main() -> ExitCode {
        let dry_run = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
            [] => false,
            [flag] if flag == "--dry-run" => true,
            other => {
                eprintln!(
                    "import-csv: unexpected arguments {other:?}; usage: import-csv [--dry-run] < data.csv"
                );
                return ExitCode::FAILURE;
            }
        };
        let rows = match read_rows() {
            Ok(rows) => rows,
            Err(message) => {
                eprintln!("import-csv: {message}; nothing imported");
                return ExitCode::FAILURE;
            }
        };
        if dry_run {
            println!(
                "checked {} records; nothing imported (--dry-run)",
                rows.len()
            );
            return ExitCode::SUCCESS;
        }
        match import(&rows) {
            Ok(Some((first, last))) => {
                println!("imported {} records (ids {first}..={last})", rows.len());
                ExitCode::SUCCESS
            }
            Ok(None) => {
                println!("imported 0 records");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("import-csv: the store refused: {e:?}; nothing imported");
                ExitCode::FAILURE
            }
        }
    }

    fn read_rows() -> Result<Vec<(String, i64)>, String> {
        let mut rows = Vec::new();
        for (number, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line.map_err(|e| format!("reading stdin: {e}"))?;
            let parsed =
                rules::parse_csv_line(&line).map_err(|e| format!("line {}: {e}", number + 1))?;
            if let Some((name, value)) = parsed {
                rows.push((name.to_string(), value));
            }
        }
        Ok(rows)
    }

    /// Inserts every row in one transaction: all of them, or (on any error, which
    /// drops the transaction) none. Returns the first and last ids.
    fn import(rows: &[(String, i64)]) -> Result<Option<(i64, i64)>, Error> {
        let txn = store::begin_write()?;
        let mut ids = None;
        for (name, value) in rows {
            let id = txn.insert(name, *value)?;
            ids = Some(ids.map_or((id, id), |(first, _)| (first, id)));
        }
        WriteTxn::commit(txn)?;
        Ok(ids)
    }
}
