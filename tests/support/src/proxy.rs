//! A real HTTP proxy for tests: Debian's `tinyproxy`, started in the foreground on a free
//! loopback port with a configuration written to its own temporary directory (never the
//! system service), optionally wanting Basic authentication. Its log tells which requests
//! went through it. Killed on drop.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `tinyproxy`.
pub struct Tinyproxy {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    /// Start `tinyproxy` on `127.0.0.1`, accepting clients from loopback only, allowing
    /// `CONNECT` to `connect_ports`, and wanting `user`/`password` when `basic_auth` is given.
    ///
    /// Panics when `tinyproxy` is not installed (`apt-get install -y tinyproxy`) or does not
    /// listen within 20 s.
    pub fn start(connect_ports: &[u16], basic_auth: Option<(&str, &str)>) -> Tinyproxy {
        let program = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("tinyproxy is not installed: apt-get install -y tinyproxy");
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let log = dir.path().join("tinyproxy.log");
        let mut config = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 60\nAllow 127.0.0.1\nLogFile \"{}\"\nLogLevel Info\nMaxClients 50\n",
            log.display()
        );
        for connect in connect_ports {
            config.push_str(&format!("ConnectPort {connect}\n"));
        }
        if let Some((user, password)) = basic_auth {
            config.push_str(&format!("BasicAuth {user} {password}\n"));
        }
        let config_file = dir.path().join("tinyproxy.conf");
        std::fs::write(&config_file, config).expect("write tinyproxy.conf");
        let output = std::fs::File::create(dir.path().join("tinyproxy.out")).expect("output file");
        let mut child = Command::new(program)
            .arg("-d")
            .arg("-c")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("output file"))
            .stderr(output)
            .spawn()
            .expect("start tinyproxy");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let out = std::fs::read_to_string(dir.path().join("tinyproxy.out")).unwrap_or_default();
                panic!("tinyproxy ended ({status}) before listening on {port}:\n{out}");
            }
            assert!(Instant::now() < deadline, "tinyproxy did not listen on {port} within 20 s");
            std::thread::yield_now();
        }
        Tinyproxy { child, port, log, _dir: dir }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request lines it received, oldest first: `POST http://127.0.0.1:1234/path HTTP/1.1`
    /// for plain HTTP, `CONNECT 127.0.0.1:1234 HTTP/1.1` for a tunnel. (tinyproxy logs the
    /// request line, never a header or body.)
    pub fn requests(&self) -> Vec<String> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter_map(|line| line.split_once("): ").filter(|_| line.contains("Request (file descriptor")))
            .map(|(_, request)| request.to_owned())
            .collect()
    }

    /// The whole log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
