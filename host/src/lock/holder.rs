//! Who holds the lock: the record a holder writes into the lock file, and the
//! one-line description that timeouts and `lock-status` give.
//!
//! A holder writes `pid:`, `time:` and a caller-chosen label (such as the plugin's
//! name) as one fixed-size record, with one `pwrite` and no truncation on release,
//! so the record names the last records-host holder. A process that takes the lock
//! again, with the same label, when the shared words say that nobody else took it
//! since, finds its own record still in place and does not rewrite it for a second:
//! `time:` is then when its current run of acquisitions began, at most a second
//! ago. (The write was one of the dozen syscalls of a single write.) Whether the lock is held, and
//! by which process, is the kernel's to say: the description names the process
//! that holds the flock now (from `/proc/locks` on Linux) and shows the record's
//! fields only when the record is that process's. Everything read from the file
//! is untrusted, so control characters are escaped.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use super::proc_locks::{self, LockKind};
use crate::display::escape_control;
use crate::sync::locked;

/// This process's id, read once: `std::process::id()` is a syscall every time.
pub(crate) fn pid() -> u32 {
    static PID: OnceLock<u32> = OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// The size of the holder record at the start of the lock file.
pub(crate) const RECORD_SIZE: usize = 256;

/// How long a record this process wrote is reused before it is written afresh.
const REFRESH: Duration = Duration::from_secs(1);

/// The record this process wrote last into one lock file.
#[derive(Debug, Default)]
pub(crate) struct LastRecord(Mutex<Option<Written>>);

#[derive(Debug)]
struct Written {
    /// The shared acquisition count it was written at.
    count: u64,
    label: String,
    at: Instant,
}

impl LastRecord {
    /// Writes this process's record, unless the one in the file is this
    /// process's own from the acquisition right before (by the shared `count`,
    /// `None` when unknown), with the same label, written less than a second ago.
    pub(crate) fn write(&self, file: &File, label: &str, count: Option<u64>) -> io::Result<()> {
        let mut last = locked(&self.0);
        let reuse = count.is_some_and(|count| {
            last.as_ref().is_some_and(|last| {
                last.count + 1 == count && last.label == label && last.at.elapsed() < REFRESH
            })
        });
        match (reuse, count, last.as_mut()) {
            (true, Some(count), Some(last)) => {
                last.count = count;
                Ok(())
            }
            _ => {
                write_record(file, label)?;
                *last = count.map(|count| Written {
                    count,
                    label: label.to_string(),
                    at: Instant::now(),
                });
                Ok(())
            }
        }
    }
}

/// Writes this process's holder record over the previous one.
pub(crate) fn write_record(file: &File, label: &str) -> io::Result<()> {
    let mut info = format!(
        "pid:{}\ntime:{}\n",
        pid(),
        humantime::format_rfc3339_millis(SystemTime::now())
    );
    if !label.is_empty() {
        info.push_str(label);
        info.push('\n');
    }
    // One pwrite of a fixed-size record replaces the previous holder's (no
    // truncation, which would be a second syscall); a NUL ends the text.
    let mut record = [0u8; RECORD_SIZE];
    let len = info.len().min(RECORD_SIZE - 1);
    record[..len].copy_from_slice(&info.as_bytes()[..len]);
    file.write_all_at(&record, 0)
}

/// A holder record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// The pid the record claims, if it has a well-formed `pid:` line.
    pub(crate) pid: Option<u32>,
    /// Its lines joined by spaces, control characters escaped.
    pub(crate) text: String,
}

/// The record in the lock file; `None` when there is none (an empty file).
pub(crate) fn read_record(file: &File) -> Option<Record> {
    let mut bytes = vec![0; RECORD_SIZE];
    let len = file.read_at(&mut bytes, 0).ok()?;
    let info = bytes[..len].split(|b| *b == 0).next().unwrap_or_default();
    let text = String::from_utf8_lossy(info);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    if lines.is_empty() {
        return None;
    }
    let pid = lines
        .first()
        .and_then(|line| line.strip_prefix("pid:"))
        .and_then(|pid| pid.parse().ok());
    Some(Record {
        pid,
        text: escape_control(&lines.join(" ")),
    })
}

/// Who holds the lock of `file` now, in one line: the process the kernel lists as
/// holding the flock, with its record's fields when the record is its own.
pub(crate) fn describe(file: &File) -> String {
    let record = read_record(file);
    let Some(holders) = proc_locks::holders(file, LockKind::Flock) else {
        // The platform does not say who holds a flock: the record is all there is.
        return match record {
            Some(record) => format!("{} (as last recorded)", record.text),
            None => "unknown".to_string(),
        };
    };
    match holders.first().map(|holder| holder.pid) {
        None => "none now (the holder released the lock while it was being looked up)".into(),
        Some(None) => "a process outside this pid namespace".into(),
        Some(Some(pid)) => match record {
            Some(record) if record.pid == Some(pid) => record.text,
            _ => describe_process(pid, "it wrote no holder record"),
        },
    }
}

/// `pid:N cmd:NAME (why)` for a process that holds a lock.
pub(crate) fn describe_process(pid: u32, why: &str) -> String {
    match proc_locks::process_name(pid) {
        Some(name) => format!("pid:{pid} cmd:{name} ({why})"),
        None => format!("pid:{pid} ({why})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(content: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.lock");
        File::create(&path).unwrap().write_all(content).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        (dir, file)
    }

    #[test]
    fn the_record_names_pid_time_and_label_in_one_fixed_size_write() {
        let (_dir, file) = file_with(b"");
        write_record(&file, "plugin:demo").unwrap();
        assert_eq!(file.metadata().unwrap().len(), RECORD_SIZE as u64);
        let record = read_record(&file).unwrap();
        assert_eq!(record.pid, Some(std::process::id()));
        let fields: Vec<&str> = record.text.split(' ').collect();
        assert_eq!(fields[0], format!("pid:{}", std::process::id()));
        let time = fields[1].strip_prefix("time:").unwrap();
        humantime::parse_rfc3339(time).unwrap();
        assert!(time.ends_with('Z'), "UTC: {time}");
        assert_eq!(fields[2], "plugin:demo");
    }

    #[test]
    fn a_new_record_replaces_all_of_the_previous_one() {
        let (_dir, file) = file_with(b"");
        write_record(&file, "plugin:a-rather-long-label-from-the-previous-holder").unwrap();
        write_record(&file, "x").unwrap();
        let text = read_record(&file).unwrap().text;
        assert!(text.ends_with(" x"), "{text}");
        assert!(!text.contains("previous"), "{text}");
    }

    #[test]
    fn control_characters_in_a_record_are_escaped() {
        let (_dir, file) = file_with(b"pid:1\ntime:now\nplugin:\x1b]0;owned\x07\x1b[2J\n");
        let text = read_record(&file).unwrap().text;
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(text.contains("\\u{1b}]0;owned\\u{7}"), "{text}");
    }

    #[test]
    fn an_empty_file_has_no_record() {
        let (_dir, file) = file_with(b"");
        assert_eq!(read_record(&file), None);
        let (_dir, file) = file_with(&[0; 64]);
        assert_eq!(read_record(&file), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_flock_holder_without_a_record_is_named_and_a_stale_record_is_not_shown() {
        let _quiet = super::super::proc_locks::quiet_listings();
        // A record left by a long-dead holder...
        let (_dir, file) = file_with(b"pid:999999999\ntime:then\nplugin:dead\n");
        // ...while this process, which wrote no record, holds the flock.
        fs4::FileExt::try_lock(&file).unwrap();
        let text = describe(&file);
        assert!(
            text.starts_with(&format!("pid:{} ", std::process::id())),
            "{text}"
        );
        assert!(text.ends_with("(it wrote no holder record)"), "{text}");
        assert!(!text.contains("dead"), "{text}");
        // Once it writes its record, its fields are shown.
        write_record(&file, "plugin:live").unwrap();
        let text = describe(&file);
        assert!(text.ends_with("plugin:live"), "{text}");
    }
}
