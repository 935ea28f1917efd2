//! A real `records-host serve` process on loopback, and a real HTTP client (ureq)
//! to call it.

use std::io::{BufRead, BufReader};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Env, command};

/// A running server; killed on drop if the test did not stop it.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stderr: Arc<Mutex<String>>,
    agent: ureq::Agent,
}

/// An HTTP answer: status, `Retry-After`, `X-Request-Id`, and the body (JSON when
/// it is JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub request_id: Option<String>,
    pub body: Value,
    pub text: String,
}

impl Server {
    /// `records-host serve --listen 127.0.0.1:0 <home> ARGS` in the test's
    /// directory, with the tenants of `env`'s backend (`--data-dir`, or `--db` on
    /// PostgreSQL); returns once it says where it listens.
    pub fn start(env: &Env, args: &[&str]) -> Self {
        Self::start_with(env, args, &[])
    }

    /// [`start`](Self::start) with environment variables set for the server.
    pub fn start_with(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Self {
        Self::start_configured(env, args, |cmd| {
            cmd.envs(vars.iter().copied());
        })
    }

    /// `records-host serve --listen 127.0.0.1:0 ARGS` with `vars` set, and no
    /// `--data-dir` or `--db` added.
    pub fn start_bare(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Self {
        Self::launch(env, args, false, |cmd| {
            cmd.envs(vars.iter().copied());
        })
    }

    /// [`start`](Self::start) with at most `bytes` of address space
    /// (`RLIMIT_AS`, as `ulimit -v` sets it).
    pub fn start_with_address_space(env: &Env, args: &[&str], bytes: u64) -> Self {
        Self::start_with_rlimit(env, args, libc::RLIMIT_AS, bytes)
    }

    /// [`start`](Self::start) with at most `count` open descriptors, soft and
    /// hard (`RLIMIT_NOFILE`, as `ulimit -n` sets it).
    pub fn start_with_descriptor_limit(env: &Env, args: &[&str], count: u64) -> Self {
        Self::start_with_rlimit(env, args, libc::RLIMIT_NOFILE, count)
    }

    fn start_with_rlimit(
        env: &Env,
        args: &[&str],
        resource: libc::__rlimit_resource_t,
        value: u64,
    ) -> Self {
        use std::os::unix::process::CommandExt;
        Self::start_configured(env, args, |cmd| {
            let limit = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            // SAFETY: setrlimit is async-signal-safe and only reads `limit`.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(resource, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        })
    }

    /// [`start`](Self::start) running `program` (a copy of `records-host`)
    /// instead of the binary under test.
    pub fn start_program(env: &Env, program: &std::path::Path, args: &[&str]) -> Self {
        Self::start_configured(env, args, |cmd| {
            let mut other = std::process::Command::new(program);
            other.current_dir(env.dir.path());
            other.envs(
                cmd.get_envs()
                    .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
            );
            for (k, v) in cmd.get_envs() {
                if v.is_none() {
                    other.env_remove(k);
                }
            }
            *cmd = other;
        })
    }

    fn start_configured(
        env: &Env,
        args: &[&str],
        configure: impl FnOnce(&mut std::process::Command),
    ) -> Self {
        Self::launch(env, args, true, configure)
    }

    fn launch(
        env: &Env,
        args: &[&str],
        with_home: bool,
        configure: impl FnOnce(&mut std::process::Command),
    ) -> Self {
        let mut cmd = command(env.dir.path());
        configure(&mut cmd);
        cmd.args(["serve", "--listen", "127.0.0.1:0"]);
        match env.pg() {
            _ if !with_home => &mut cmd,
            Some(pg) => cmd.args(["--db", &pg.arg_url()]),
            None => cmd.args(["--data-dir", "data"]),
        };
        let mut child = cmd
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn records-host serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            panic!(
                "serve did not start: {line:?}; stderr: {}",
                stderr.lock().unwrap()
            );
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Self {
            child,
            url: url.to_string(),
            stderr,
            agent,
        }
    }

    /// `POST /v1/tenants/{tenant}/call` with `body`, as `token` (if any).
    pub fn call(&self, tenant: &str, token: Option<&str>, body: &Value) -> Answer {
        self.post(tenant, token, body.to_string().as_bytes())
    }

    /// The same with raw body bytes.
    pub fn post(&self, tenant: &str, token: Option<&str>, body: &[u8]) -> Answer {
        self.try_post(tenant, token, body).expect("HTTP request")
    }

    /// [`call`](Self::call), or `None` when the request did not get an answer (the
    /// connection was refused or closed).
    pub fn try_call(&self, tenant: &str, body: &Value) -> Option<Answer> {
        self.try_post(tenant, None, body.to_string().as_bytes())
    }

    fn try_post(&self, tenant: &str, token: Option<&str>, body: &[u8]) -> Option<Answer> {
        let mut request = self
            .agent
            .post(format!("{}/v1/tenants/{tenant}/call", self.url))
            .header("Content-Type", "application/json");
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        request.send(body).ok().map(answer)
    }

    /// `POST /v1/tenants/{tenant}/call` with `body` and exactly these `headers`.
    pub fn raw_post(&self, tenant: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
        let mut request = self
            .agent
            .post(format!("{}/v1/tenants/{tenant}/call", self.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(
            request
                .send(body.to_string().as_bytes())
                .expect("HTTP request"),
        )
    }

    /// `method path` with `headers` and no body.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(()).unwrap();
        answer(self.agent.run(request).expect("HTTP request"))
    }

    /// `GET path`, as `token` (if any).
    pub fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.agent.get(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        answer(request.call().expect("HTTP request"))
    }

    /// `method path` as `token` (if any), with `headers` and `body`.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        self.try_send(method, path, token, headers, body)
            .expect("HTTP request")
    }

    /// [`send`](Self::send), or `None` when no answer came (the server died).
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Option<Answer> {
        let request = self.build(method, path, token, headers, body);
        self.agent.run(request).ok().map(answer)
    }

    /// `GET path` as `token`: the status and the body's bytes.
    pub fn get_bytes(&self, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
        let mut response = self
            .agent
            .run(self.build("GET", path, token, &[], &[]))
            .expect("HTTP request");
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap();
        (status, bytes)
    }

    fn build(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> ureq::http::Request<Vec<u8>> {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(body.to_vec()).unwrap()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote on stderr so far (its log).
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a pid this test spawned and has not reaped yet.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// SIGTERM, then waits (at most 30 s) for the exit; returns it and the log.
    pub fn stop(mut self) -> (ExitStatus, String) {
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "serve did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // Let the stderr thread drain what the process wrote last.
        std::thread::sleep(Duration::from_millis(100));
        (status, self.log())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let request_id = response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_string());
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        request_id,
        body,
        text,
    }
}
