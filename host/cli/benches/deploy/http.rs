//! The deploy API from the bench's side: uploads, activations, single calls
//! and `/metrics` readings over HTTP (ureq), each timed.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// A blocking HTTP client of one server.
pub(crate) struct Api {
    agent: ureq::Agent,
    url: String,
}

impl Api {
    pub(crate) fn new(url: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        Self {
            agent,
            url: url.to_string(),
        }
    }

    fn send(&self, method: &str, path: &str, ctype: &str, body: &[u8]) -> Result<(u16, Value)> {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url))
            .header("Content-Type", ctype)
            .body(body.to_vec())?;
        let mut response = self.agent.run(request)?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Uploads `wasm` as `tenant`'s plugin, retrying while every compile slot
    /// is taken (503): its version number and how long the accepted upload
    /// took.
    pub(crate) fn upload(&self, tenant: &str, wasm: &[u8]) -> Result<(u64, Duration)> {
        loop {
            let start = Instant::now();
            let (status, body) = self.send(
                "POST",
                &format!("/v1/tenants/{tenant}/plugins"),
                "application/wasm",
                wasm,
            )?;
            match status {
                201 => {
                    return Ok((
                        body["version"].as_u64().context("version")?,
                        start.elapsed(),
                    ));
                }
                503 => std::thread::sleep(Duration::from_millis(20)),
                _ => bail!("upload for {tenant}: {status} {body}"),
            }
        }
    }

    /// Activates version `n` of `tenant`'s plugin.
    pub(crate) fn activate(&self, tenant: &str, n: u64) -> Result<Duration> {
        let start = Instant::now();
        let path = format!("/v1/tenants/{tenant}/plugins/{n}/activate");
        let (status, body) = self.send("POST", &path, "application/json", b"")?;
        if status != 200 {
            bail!("activate {tenant} {n}: {status} {body}");
        }
        Ok(start.elapsed())
    }

    /// Calls `get-record(1)` as `tenant`; 200 expected.
    pub(crate) fn get_record(&self, tenant: &str) -> Result<Duration> {
        let start = Instant::now();
        let body = br#"{"function": "get-record", "args": [1]}"#;
        let path = format!("/v1/tenants/{tenant}/call");
        let (status, answer) = self.send("POST", &path, "application/json", body)?;
        if status != 200 {
            bail!("call as {tenant}: {status} {answer}");
        }
        Ok(start.elapsed())
    }

    /// The value of the unlabelled metric `name` (0 when absent).
    pub(crate) fn metric(&self, name: &str) -> Result<f64> {
        let mut response = self.agent.get(format!("{}/metrics", self.url)).call()?;
        let text = response.body_mut().read_to_string()?;
        Ok(text
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0))
    }
}
