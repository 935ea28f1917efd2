//! [`ProcessCompiler`]: runs `records-host compile-worker` (this executable)
//! with the component on stdin, under a CPU-time limit, an address-space limit
//! and a wall-clock deadline, and says which bound stopped it.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use records_host::{CompileRefused, Compiler, Limits};

/// Compiles in a child process of this executable, within bounds.
#[derive(Debug, Clone)]
pub(crate) struct ProcessCompiler {
    /// Wall-clock time (and, rounded up to a second, CPU time).
    pub(crate) max_time: Duration,
    /// Address space of the child, in bytes.
    pub(crate) max_memory: u64,
    /// The serving engine's limits (fuel metering, memory), so that the child
    /// compiles the same code.
    pub(crate) limits: Limits,
    /// The largest component.
    pub(crate) max_size: u64,
}

impl Compiler for ProcessCompiler {
    fn compile(&self, wasm: &[u8], cache_dir: &Path) -> Result<(), CompileRefused> {
        let failed = |what: &str, e: std::io::Error| CompileRefused::Failed(format!("{what}: {e}"));
        let exe = this_executable().map_err(|e| failed("finding this executable", e))?;
        let mut cmd = Command::new(exe);
        cmd.arg("compile-worker")
            .arg("--cache-dir")
            .arg(cache_dir)
            .arg("--max-memory")
            .arg(self.limits.max_memory.to_string())
            .arg("--max-size")
            .arg(self.max_size.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env_remove("RUST_LOG");
        if self.limits.fuel.is_some() {
            cmd.arg("--fuel");
        }
        let cpu = libc::rlimit {
            rlim_cur: self.max_time.as_secs() + 1,
            rlim_max: self.max_time.as_secs() + 1,
        };
        let memory = libc::rlimit {
            rlim_cur: self.max_memory,
            rlim_max: self.max_memory,
        };
        // SAFETY: between fork and exec only setrlimit runs (async-signal-safe),
        // with values computed before the fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setrlimit(libc::RLIMIT_CPU, &cpu) != 0
                    || libc::setrlimit(libc::RLIMIT_AS, &memory) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| failed("starting the compiler", e))?;
        let mut stdin = child.stdin.take().expect("piped");
        let bytes = wasm.to_vec();
        // Written on a thread: a child that stops reading must not block us.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
        let deadline = Instant::now() + self.max_time;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(failed("waiting for the compiler", e)),
            }
        };
        let _ = writer.join();
        let mut stderr = String::new();
        if let Some(pipe) = child.stderr.take() {
            let _ = pipe.take(64 << 10).read_to_string(&mut stderr);
        }
        let time = || CompileRefused::Time(format!("{} ms bound", self.max_time.as_millis()));
        let memory = || CompileRefused::Memory(format!("{} MiB bound", self.max_memory >> 20));
        match status {
            None => Err(time()),
            Some(status) if status.success() => Ok(()),
            Some(status) => match status.signal() {
                Some(libc::SIGXCPU | libc::SIGKILL) => Err(time()),
                // An allocation that failed under RLIMIT_AS aborts the child.
                Some(libc::SIGABRT | libc::SIGSEGV | libc::SIGBUS) => Err(memory()),
                Some(signal) => Err(CompileRefused::Failed(format!(
                    "the compiler died of signal {signal}"
                ))),
                None if out_of_memory(&stderr) => Err(memory()),
                None => Err(CompileRefused::Invalid(last_line(&stderr))),
            },
        }
    }
}

/// The running executable. On Linux `/proc/self/exe`, which stays this very
/// binary after the file it was started from is replaced (a package upgrade, a
/// rebuild): a worker of another version would compile for another engine, or
/// not know `compile-worker` at all. Elsewhere the path it was started from.
fn this_executable() -> std::io::Result<std::path::PathBuf> {
    let running = Path::new("/proc/self/exe");
    if running.exists() {
        return Ok(running.to_path_buf());
    }
    std::env::current_exe()
}

/// Whether the child's report says an allocation failed.
fn out_of_memory(stderr: &str) -> bool {
    stderr.contains("memory allocation")
        || stderr.contains("out of memory")
        || stderr.contains("Cannot allocate memory")
}

/// The child's error line, without its `records-host: ` prefix.
fn last_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("the compiler failed");
    let line = line.strip_prefix("records-host: ").unwrap_or(line);
    records_host::display::escape_control(line.trim())
}
