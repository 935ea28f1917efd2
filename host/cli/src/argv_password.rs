//! A password written in `--db` on the command line is visible to every local
//! user for as long as the process runs (`/proc/PID/cmdline`, `ps`): the
//! command warns once, without the password, and says where it can live
//! instead. `RECORDS_HOST_DB` (the same URL, from the environment) does not
//! warn: a process's environment is readable by its own user only.

use std::ffi::OsString;

use records_host::Location;

/// The warning, one line.
pub(crate) const WARNING: &str = "records-host: warning: the password in --db can be read by every local user while this runs; give it in PGPASSWORD, a password file (~/.pgpass or PGPASSFILE, mode 0600) or RECORDS_HOST_DB instead";

/// Whether `args` (the command line, program name left out) give `--db` a
/// PostgreSQL URL that carries a password.
pub(crate) fn password_in_argv(args: impl IntoIterator<Item = OsString>) -> bool {
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = match arg.to_str() {
            Some("--") => return false,
            Some("--db") => args.next(),
            Some(other) => other.strip_prefix("--db=").map(OsString::from),
            None => None,
        };
        let carries = value.as_ref().and_then(|v| v.to_str()).is_some_and(
            |url| matches!(Location::parse(url), Location::Postgres(pg) if pg.carries_password()),
        );
        if carries {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> bool {
        password_in_argv(args.iter().map(OsString::from))
    }

    #[test]
    fn only_a_password_in_a_db_argument_warns() {
        assert!(argv(&["call", "--db", "postgres://u:pw@h/d", "count()"]));
        assert!(argv(&["serve", "--db=postgresql://h/d?user=u&password=pw"]));
        assert!(!argv(&["call", "--db", "postgres://u@h/d"]));
        assert!(!argv(&["call", "--db", "data/app.db"]));
        assert!(!argv(&["call", "postgres://u:pw@h/d"]), "not --db's value");
        assert!(!argv(&["call", "--", "--db", "postgres://u:pw@h/d"]));
        assert!(!argv(&["call", "--db"]));
    }
}
