//! `dockhand run` as a process, for the adapters' end-to-end tests. Apart from
//! `mod.rs` because examples and benches share that, and only test targets know
//! where cargo put the binary.

use std::time::Duration;

use crate::support::{assert_no_secret, emulator_url, free_port};

/// `dockhand run` as a process, the way ECS runs it: a config file, tokens and AWS
/// settings in the environment (AWS goes to the emulator), health and metrics on
/// a free local port. Dropping it kills the process.
pub struct Running {
    child: tokio::process::Child,
    pub metrics_addr: String,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Starts `dockhand run` with `config` as its file and `env` added to the
    /// environment.
    pub fn start(config: &str, env: &[(&str, &str)]) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dockhand.toml");
        std::fs::write(&path, config).unwrap();
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dockhand"))
            .arg("run")
            .arg("--config")
            .arg(&path)
            .envs(env.iter().copied())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("DOCKHAND_LOG", "dockhand=debug")
            .env("DOCKHAND_METRICS_ADDR", &metrics_addr)
            .env("AWS_ENDPOINT_URL", emulator_url())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Running {
            child,
            metrics_addr,
            _dir: dir,
        }
    }

    /// The whole HTTP response to `GET path` on the health and metrics port.
    pub async fn get(&self, path: &str) -> String {
        self.try_get(path).await.expect("the health port answers")
    }

    /// As `get`, or `None` while nothing listens there yet.
    pub async fn try_get(&self, path: &str) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(&self.metrics_addr)
            .await
            .ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        stream.write_all(req.as_bytes()).await.ok()?;
        let mut out = String::new();
        stream.read_to_string(&mut out).await.ok()?;
        Some(out)
    }

    /// Asserts each of `lines` is a whole line of `/metrics`.
    pub async fn assert_metrics(&self, lines: &[&str]) {
        let metrics = self.get("/metrics").await;
        for line in lines {
            assert!(metrics.lines().any(|l| l == *line), "{line} in:\n{metrics}");
        }
    }

    /// SIGTERM, as ECS stops a task; requires a clean exit (status 0) within the
    /// 20-second grace period. Returns the log.
    pub async fn stop(self) -> String {
        let pid = self.child.id().unwrap().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let (status, log) = self.exited().await;
        assert!(status.success(), "{status:?}\n{log}");
        log
    }

    /// SIGKILL, as a host lost or the out-of-memory killer ends a task: no
    /// goodbye, nothing handed over. Returns the log.
    pub async fn kill(mut self) -> String {
        self.child.start_kill().unwrap();
        self.exited().await.1
    }

    /// The exit status and log once the process ends, within 20 seconds; the log
    /// is checked for secrets.
    pub async fn exited(self) -> (std::process::ExitStatus, String) {
        let out = tokio::time::timeout(Duration::from_secs(20), self.child.wait_with_output())
            .await
            .expect("dockhand run exits within 20 s")
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_no_secret(&log);
        (out.status, log)
    }
}

/// `dockhand healthcheck` (the container's HEALTHCHECK) against `metrics_addr`.
pub fn healthcheck(metrics_addr: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .arg("healthcheck")
        .env("DOCKHAND_METRICS_ADDR", metrics_addr)
        .output()
        .unwrap()
}
