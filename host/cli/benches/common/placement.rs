//! Where the server and the load generator run. On a machine with at least 4
//! cores the client gets a quarter of them (at least 1, the last ones) and the
//! server the rest, each pinned with `sched_setaffinity`, so that neither
//! takes the other's CPU; the client then drives its connections from one
//! thread per core it has. With fewer cores they share them, and the client
//! keeps to one thread so as to take as little from the server as it can.

/// Which cores the server and the client run on.
pub(crate) struct Placement {
    pub(crate) server: Vec<usize>,
    pub(crate) client: Vec<usize>,
}

impl Placement {
    /// The split of the cores this process may run on; `None` under 4.
    pub(crate) fn of_this_machine() -> Option<Self> {
        let cores = allowed_cores();
        if cores.len() < 4 {
            return None;
        }
        let split = cores.len() - (cores.len() / 4).max(1);
        Some(Self {
            server: cores[..split].to_vec(),
            client: cores[split..].to_vec(),
        })
    }

    /// What the bench prints about where things ran.
    pub(crate) fn describe(placement: Option<&Self>) -> String {
        match placement {
            Some(p) => format!(
                "server on cores {}, client on cores {} ({} threads), pinned",
                list(&p.server),
                list(&p.client),
                p.client.len()
            ),
            None => format!(
                "server and client share the {} cores (client: one thread)",
                allowed_cores().len()
            ),
        }
    }
}

/// `cpus` as `0,1,2`.
pub(crate) fn list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The cores of `0,1,2`.
pub(crate) fn parse(text: &str) -> Result<Vec<usize>, std::num::ParseIntError> {
    text.split(',').map(str::parse).collect()
}

/// Keeps the calling process (all its threads made after this) on `cpus`.
pub(crate) fn pin(cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and
    // sched_setaffinity read and write only this set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

/// The cores this process may run on.
fn allowed_cores() -> Vec<usize> {
    // SAFETY: as in `pin`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}
