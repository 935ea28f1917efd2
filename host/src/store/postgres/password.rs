//! Where a connection's password comes from when its URL carries none, as
//! libpq does it, so that no secret need appear on a command line: the
//! `PGPASSWORD` environment variable, then the password file (`PGPASSFILE`,
//! by default `~/.pgpass`).
//!
//! The password file has libpq's format: lines
//! `hostname:port:database:username:password`, `*` matching anything in the
//! first four fields, `\:` and `\\` escaping, `#` starting a comment; the first
//! line that matches wins. Like libpq, a file that others may read or write
//! (any group or other permission bit), or that is not a regular file, is
//! ignored with a warning: another local user could have planted or read it.
//! With several hosts in the URL, the first host (in order) that has a line is
//! used: the client takes one password for all of them.
//!
//! Hand-written because no maintained crate reads the password file for the
//! `postgres` crates (libpq reads it in C, and `tokio-postgres` leaves it out);
//! the format is the few rules above.

use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use postgres::Config;
use postgres::config::Host;

/// Fills in `config`'s password from `PGPASSWORD` or the password file when
/// the URL gave none; a note when the password file was there but ignored,
/// for the error should the connection then fail. Never logs a password.
pub(crate) fn supply(config: &mut Config) -> Option<String> {
    if config.get_password().is_some() {
        return None;
    }
    if let Some(password) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
        config.password(password.as_encoded_bytes());
        return None;
    }
    let file = password_file()?;
    match from_file(&file, config) {
        Ok(Some(password)) => {
            config.password(password);
            None
        }
        Ok(None) => None,
        Err(why) => {
            let note = format!(
                "the password file {} was ignored: {why}",
                crate::display::escape_control(&file.display().to_string())
            );
            tracing::warn!("{note}");
            Some(note)
        }
    }
}

/// `PGPASSFILE`, else `~/.pgpass`.
fn password_file() -> Option<PathBuf> {
    if let Some(file) = std::env::var_os("PGPASSFILE").filter(|f| !f.is_empty()) {
        return Some(PathBuf::from(file));
    }
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| Path::new(&home).join(".pgpass"))
}

/// The password `file` holds for `config`'s hosts, port, database and user
/// (`None`: no file, or no line for them); why not, when the file may not be
/// trusted (not a regular file, or others may read or write it). The file is
/// opened once, without waiting (a FIFO planted there does not block), and
/// checked on what was opened; at most 1 MiB of it is read.
fn from_file(file: &Path, config: &Config) -> Result<Option<String>, &'static str> {
    let Ok(opened) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(file)
    else {
        return Ok(None);
    };
    let Ok(meta) = opened.metadata() else {
        return Ok(None);
    };
    if !meta.is_file() {
        return Err("it is not a regular file");
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err("others may read or write it (chmod 0600 it)");
    }
    let mut text = String::new();
    if opened.take(1 << 20).read_to_string(&mut text).is_err() {
        return Ok(None);
    }
    Ok(find(&text, config))
}

/// The password `text` (a password file) holds for `config`.
fn find(text: &str, config: &Config) -> Option<String> {
    let user = config.get_user()?;
    let database = config.get_dbname().unwrap_or(user);
    let ports = config.get_ports();
    config.get_hosts().iter().enumerate().find_map(|(i, host)| {
        let host = match host {
            Host::Tcp(name) => name.clone(),
            // libpq matches a socket connection as `localhost`.
            Host::Unix(_) => "localhost".to_string(),
        };
        let port = ports
            .get(i)
            .or_else(|| ports.first())
            .copied()
            .unwrap_or(5432)
            .to_string();
        lookup(text, [&host, &port, database, user])
    })
}

/// The password of the first line of `text` whose first four fields match
/// `wanted` (`*` matches anything).
fn lookup(text: &str, wanted: [&str; 4]) -> Option<String> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(fields)
        .find(|fields| {
            fields[..4]
                .iter()
                .zip(wanted)
                .all(|(field, wanted)| field == "*" || field == wanted)
        })
        .map(|mut fields| fields.swap_remove(4))
}

/// A line's five fields, unescaped; `None` when it has fewer. A fifth field
/// takes the rest of the line, colons included, as libpq does.
fn fields(line: &str) -> Option<Vec<String>> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut()?.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut()?.push(c),
        }
    }
    (fields.len() == 5).then_some(fields)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn wildcards_escapes_comments_and_the_first_match() {
        let text = "# comment\n\
                    short:line\n\
                    db.example:5432:app:alice:first\n\
                    db.example:5432:app:alice:second\n\
                    *:*:*:bob:pa\\:ss:with:colons\n\
                    h\\:x:1:*:carol:escaped\n";
        let get = |w: [&str; 4]| lookup(text, w);
        assert_eq!(
            get(["db.example", "5432", "app", "alice"]).as_deref(),
            Some("first")
        );
        assert_eq!(get(["db.example", "5433", "app", "alice"]), None);
        assert_eq!(
            get(["any", "1", "x", "bob"]).as_deref(),
            Some("pa:ss:with:colons")
        );
        assert_eq!(get(["h:x", "1", "d", "carol"]).as_deref(), Some("escaped"));
        assert_eq!(get(["h", "1", "d", "dave"]), None);
    }

    #[test]
    fn the_file_is_read_only_when_no_one_else_may_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "h:5432:d:u:secret\nother:*:*:u:two\n").unwrap();
        let config = Config::from_str("postgres://u@h/d").unwrap();
        for (mode, trusted) in [(0o600, true), (0o640, false), (0o604, false)] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            let found = from_file(&file, &config);
            match trusted {
                true => assert_eq!(found, Ok(Some("secret".into())), "{mode:o}"),
                false => assert!(found.is_err_and(|why| why.contains("0600")), "{mode:o}"),
            }
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        // The database defaults to the user; the port to 5432; a second host
        // is looked up when the first has no line.
        let config = Config::from_str("postgres://u@nohost,other:6000/").unwrap();
        assert_eq!(from_file(&file, &config), Ok(Some("two".into())));
        assert_eq!(from_file(&dir.path().join("none"), &config), Ok(None));
        assert!(from_file(dir.path(), &config).is_err(), "a directory");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo reads a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(
            from_file(&fifo, &config).is_err(),
            "a FIFO, without blocking"
        );
    }
}
