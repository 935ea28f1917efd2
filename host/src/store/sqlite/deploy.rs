//! The versions on SQLite: rows in the tenant's database (`plugin_versions`,
//! `plugin_slots`, migration 2), bytes in content-addressed files beside it,
//! `plugins/<sha256>.wasm`.
//!
//! A version is written under the tenant's write lock, inside the writer's
//! transaction: its file first (a temporary file, synced, renamed into place,
//! the directory synced), then its row. A crash before the commit leaves at most
//! a file no row names, never a row without its file; files no row names are
//! removed under the lock by the next upload or removal. A file is read back
//! only as a regular file of the recorded size whose SHA-256 matches the row, so
//! a file another user damaged or replaced is refused, never run.

use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::record_error::{RecordError, StorageError};
use crate::store::deploy::version::{ActiveVersion, NewVersion, VersionInfo};

const COLUMNS: &str = "v.version, v.sha256, v.size, v.created_at, v.uploaded_by, v.message,
     v.passed, v.report,
     coalesce((SELECT s.active FROM plugin_slots s WHERE s.slot = ?1) = v.version, 0)";
/// (No join on the slot: see [`ACTIVE`].)
const FROM: &str = "plugin_versions v WHERE v.slot = ?1";

/// The active version of slot `?1`: run before every call of a tenant, so
/// written so that SQLite keeps its plan. (As a join on `v.slot = s.slot ...
/// WHERE s.slot = ?1`, SQLite propagated the bound value into the join and
/// marked the statement to be prepared again whenever `?1` is bound: a parse
/// and a plan on every call, 34% of the server's samples under `get-record`
/// over 1,000 tenants.)
const ACTIVE: &str = "SELECT v.version, v.sha256 FROM plugin_versions v
     WHERE v.slot = ?1 AND v.version = (SELECT s.active FROM plugin_slots s WHERE s.slot = ?1)";

/// The tables of migration 2.
pub(crate) const CREATE_TABLES: &str = "CREATE TABLE plugin_versions (
     slot TEXT NOT NULL, version INTEGER NOT NULL, sha256 TEXT NOT NULL,
     size INTEGER NOT NULL, created_at TEXT NOT NULL, uploaded_by TEXT NOT NULL,
     message TEXT, passed INTEGER NOT NULL, report TEXT NOT NULL,
     PRIMARY KEY (slot, version));
 CREATE TABLE plugin_slots (
     slot TEXT PRIMARY KEY, active INTEGER, next_version INTEGER NOT NULL);";

fn info(row: &Row<'_>) -> rusqlite::Result<VersionInfo> {
    Ok(VersionInfo {
        number: row.get(0)?,
        sha256: row.get(1)?,
        size: row.get::<_, i64>(2)?.unsigned_abs(),
        created_at: row.get(3)?,
        uploaded_by: row.get(4)?,
        message: row.get(5)?,
        passed: row.get(6)?,
        report: row.get(7)?,
        active: row.get(8)?,
    })
}

/// The slot's versions, newest first.
pub(crate) fn versions(conn: &Connection, slot: &str) -> Result<Vec<VersionInfo>, RecordError> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} ORDER BY v.version DESC");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![slot], info)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One version of the slot.
pub(crate) fn version(
    conn: &Connection,
    slot: &str,
    number: u32,
) -> Result<Option<VersionInfo>, RecordError> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} AND v.version = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![slot, number], info)
        .optional()?)
}

/// The slot's active version.
pub(crate) fn active(conn: &Connection, slot: &str) -> Result<Option<ActiveVersion>, RecordError> {
    Ok(conn
        .prepare_cached(ACTIVE)?
        .query_row(params![slot], |row| {
            Ok(ActiveVersion {
                number: row.get(0)?,
                sha256: row.get(1)?,
            })
        })
        .optional()?)
}

/// The bytes of the version with `sha256` and `size`, checked against both;
/// `None` when the file is missing, of another size or hash.
pub(crate) fn wasm(
    conn: &Connection,
    sha256: &str,
    size: u64,
) -> Result<Option<Vec<u8>>, RecordError> {
    let path = blob_dir(conn)?.join(format!("{sha256}.wasm"));
    match crate::plugin_file::read_plugin(&path, size) {
        Ok(bytes)
            if bytes.len() as u64 == size && crate::plugin_file::sha256_hex(&bytes) == sha256 =>
        {
            Ok(Some(bytes))
        }
        _ => Ok(None),
    }
}

/// Under the lock, in the writer's transaction: stores `new` as the slot's next
/// version, then keeps the newest `keep` versions and the active one.
pub(crate) fn add(
    conn: &Connection,
    slot: &str,
    new: &NewVersion<'_>,
    sha256: &str,
    created_at: &str,
    keep: u32,
) -> Result<VersionInfo, RecordError> {
    let dir = blob_dir(conn)?;
    collect_garbage(conn, &dir)?;
    write_blob(&dir, sha256, new.wasm)?;
    conn.prepare_cached(
        "INSERT INTO plugin_slots (slot, active, next_version) VALUES (?1, NULL, 1)
         ON CONFLICT (slot) DO NOTHING",
    )?
    .execute(params![slot])?;
    let number: u32 = conn
        .prepare_cached("SELECT next_version FROM plugin_slots WHERE slot = ?1")?
        .query_row(params![slot], |row| row.get(0))?;
    conn.prepare_cached(
        "INSERT INTO plugin_versions (slot, version, sha256, size, created_at, uploaded_by,
             message, passed, report) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        slot,
        number,
        sha256,
        i64::try_from(new.wasm.len()).unwrap_or(i64::MAX),
        created_at,
        new.uploaded_by,
        new.message,
        new.passed,
        new.report
    ])?;
    conn.prepare_cached("UPDATE plugin_slots SET next_version = ?2 WHERE slot = ?1")?
        .execute(params![slot, number + 1])?;
    conn.prepare_cached(
        "DELETE FROM plugin_versions WHERE slot = ?1
           AND version NOT IN (SELECT version FROM plugin_versions WHERE slot = ?1
                               ORDER BY version DESC LIMIT ?2)
           AND version <> coalesce((SELECT active FROM plugin_slots WHERE slot = ?1), 0)",
    )?
    .execute(params![slot, keep.max(1)])?;
    version(conn, slot, number)?
        .ok_or_else(|| RecordError::storage("the stored version could not be read back"))
}

/// Under the lock: whether version `number` passed its checks; `None` when
/// there is no such version.
pub(crate) fn passed(
    conn: &Connection,
    slot: &str,
    number: u32,
) -> Result<Option<bool>, RecordError> {
    Ok(conn
        .prepare_cached("SELECT passed FROM plugin_versions WHERE slot = ?1 AND version = ?2")?
        .query_row(params![slot, number], |row| row.get(0))
        .optional()?)
}

/// Under the lock: the slot's active version number.
pub(crate) fn active_number(conn: &Connection, slot: &str) -> Result<Option<u32>, RecordError> {
    Ok(conn
        .prepare_cached("SELECT active FROM plugin_slots WHERE slot = ?1")?
        .query_row(params![slot], |row| row.get::<_, Option<u32>>(0))
        .optional()?
        .flatten())
}

/// Under the lock: makes `number` the slot's active version.
pub(crate) fn set_active(conn: &Connection, slot: &str, number: u32) -> Result<(), RecordError> {
    conn.prepare_cached("UPDATE plugin_slots SET active = ?2 WHERE slot = ?1")?
        .execute(params![slot, number])?;
    Ok(())
}

/// Under the lock: removes version `number`; whether there was one.
pub(crate) fn delete(conn: &Connection, slot: &str, number: u32) -> Result<bool, RecordError> {
    let deleted = conn
        .prepare_cached("DELETE FROM plugin_versions WHERE slot = ?1 AND version = ?2")?
        .execute(params![slot, number])?;
    collect_garbage(conn, &blob_dir(conn)?)?;
    Ok(deleted > 0)
}

/// `plugins/` beside the database file.
///
/// Files are written to and removed from it, so a `plugins` another local user
/// planted (a symbolic link to a directory of someone's files, a directory they
/// may write) is refused rather than followed: it must be a real directory of
/// this user that nobody else may write.
fn blob_dir(conn: &Connection) -> Result<PathBuf, RecordError> {
    let dir = conn
        .path()
        .and_then(|path| Path::new(path).parent())
        .map(|dir| dir.join("plugins"))
        .ok_or_else(|| RecordError::storage("the database has no file to keep plugins beside"))?;
    match fs::symlink_metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(dir),
        Err(e) => Err(untrusted(&dir, &e.to_string())),
        Ok(meta) if !meta.is_dir() => Err(untrusted(&dir, "it is not a directory (a link?)")),
        Ok(meta) => match crate::trusted_file::only_ours(&meta) {
            Ok(()) => Ok(dir),
            Err(why) => Err(untrusted(&dir, &why)),
        },
    }
}

fn untrusted(dir: &Path, why: &str) -> RecordError {
    RecordError::Storage(StorageError::with_detail(
        "the plugins directory is not trusted",
        format!(
            "{}: {why}",
            crate::display::escape_control(&dir.display().to_string())
        ),
    ))
}

/// Writes `wasm` as `<sha256>.wasm` in `dir` (mode 0600, directory 0700): a
/// temporary file, synced, renamed into place, the directory synced.
fn write_blob(dir: &Path, sha256: &str, wasm: &[u8]) -> Result<(), RecordError> {
    let failed = |e: std::io::Error| {
        RecordError::Storage(StorageError::with_detail(
            "cannot store the plugin's bytes",
            format!(
                "{}: {e}",
                crate::display::escape_control(&dir.display().to_string())
            ),
        ))
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(failed)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".upload-")
        .tempfile_in(dir)
        .map_err(failed)?;
    tmp.write_all(wasm).map_err(failed)?;
    tmp.as_file().sync_all().map_err(failed)?;
    tmp.persist(dir.join(format!("{sha256}.wasm")))
        .map_err(|e| failed(e.error))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(failed)
}

/// Removes the files in `dir` that no version names (pruned or removed
/// versions, uploads a crash cut short). Under the lock, so no upload is
/// between writing its file and committing its row.
fn collect_garbage(conn: &Connection, dir: &Path) -> Result<(), RecordError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    let named: Vec<String> = conn
        .prepare_cached("SELECT DISTINCT sha256 FROM plugin_versions")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let keep = name
            .strip_suffix(".wasm")
            .is_some_and(|sha| named.iter().any(|n| n == sha));
        if !keep {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    #[test]
    fn the_per_call_version_queries_keep_their_plans() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(CREATE_TABLES).unwrap();
        conn.execute_batch(
            "INSERT INTO plugin_versions VALUES ('plugin', 1, 'ab', 1, 't', 'me', NULL, 1, '{}');
             INSERT INTO plugin_slots VALUES ('plugin', 1, 2);",
        )
        .unwrap();
        for _ in 0..10 {
            let found = active(&conn, "plugin").unwrap().unwrap();
            assert_eq!((found.number, found.sha256.as_str()), (1, "ab"));
            assert!(active(&conn, "script:report").unwrap().is_none());
        }
        let stmt = conn.prepare_cached(ACTIVE).unwrap();
        assert_eq!(
            stmt.get_status(StatementStatus::RePrepare),
            0,
            "prepared again"
        );
        drop(stmt);
        for _ in 0..10 {
            let one = version(&conn, "plugin", 1).unwrap().unwrap();
            assert!(one.active);
        }
        let sql = format!("SELECT {COLUMNS} FROM {FROM} AND v.version = ?2");
        let stmt = conn.prepare_cached(&sql).unwrap();
        assert_eq!(
            stmt.get_status(StatementStatus::RePrepare),
            0,
            "version prepared again"
        );
    }
}
