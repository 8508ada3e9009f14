//! nginx (Debian's) in front of a `bazaar serve`, configured by
//! `config/nginx/bazaar.conf` as shipped with only its addresses, paths and
//! worker count replaced: `tests/edge_cache.rs` checks what it caches, the
//! load bench's anchors measure it. Std and tempfile only, so the bench can
//! include this file too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const NGINX: &str = "/usr/sbin/nginx";

/// nginx running on a configuration of its own; stopped when dropped.
pub struct Edge {
    child: Child,
    pub address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `config/nginx/bazaar.conf` with `from` replaced by `to`, asserting that
/// `from` is there (so the shipped file and this test cannot drift apart).
fn replaced(config: String, from: &str, to: &str) -> String {
    assert!(
        config.contains(from),
        "config/nginx/bazaar.conf has no `{from}`"
    );
    config.replace(from, to)
}

/// Starts nginx on `port` in front of the server on `upstream_port`, with
/// `workers` worker processes; returns once it listens.
pub fn start_edge(upstream_port: u16, port: u16, workers: u32) -> Edge {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).expect("cache dir");
    // nginx's workers run as an unprivileged user when started as root.
    for path in [dir.path(), cache.as_path()] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/nginx/bazaar.conf");
    let mut config = std::fs::read_to_string(&shipped).expect("config/nginx/bazaar.conf");
    let path = |name: &str| dir.path().join(name).display().to_string();
    config = replaced(config, "/run/bazaar-nginx.pid", &path("nginx.pid"));
    config = replaced(
        config,
        "/var/log/nginx/bazaar-error.log",
        &path("error.log"),
    );
    config = replaced(
        config,
        "/var/cache/nginx/bazaar",
        &cache.display().to_string(),
    );
    config = replaced(
        config,
        "server 127.0.0.1:8080",
        &format!("server 127.0.0.1:{upstream_port}"),
    );
    config = replaced(
        config,
        "listen 127.0.0.1:8000",
        &format!("listen 127.0.0.1:{port}"),
    );
    config = replaced(
        config,
        "worker_processes auto",
        &format!("worker_processes {workers}"),
    );
    let file: PathBuf = dir.path().join("nginx.conf");
    std::fs::write(&file, config).unwrap();
    let child = Command::new(NGINX)
        .arg("-c")
        .arg(&file)
        .arg("-p")
        .arg(dir.path())
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nginx did not listen on {port}: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Edge {
        child,
        address: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}
