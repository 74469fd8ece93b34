//! Real TLS for tests: a private certificate authority made with the `openssl` command (a CA
//! and a server certificate for `127.0.0.1` and `localhost`, in a temporary directory that
//! disappears with it), and `stunnel` terminating TLS with that certificate in front of a
//! plain-HTTP server such as the fake Bitbucket. Nothing here is ever trusted by the system.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private CA and one server certificate it issued, for `127.0.0.1` and `localhost`.
pub struct PrivateCa {
    dir: tempfile::TempDir,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl (apt-get install -y openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl PrivateCa {
    /// Make the CA and the server certificate.
    pub fn new() -> PrivateCa {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-days",
            "2",
            "-subj",
            "/CN=git-credential-bitbucket test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&ca, dir.path());
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend(["-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"]);
        openssl(&csr, dir.path());
        std::fs::write(
            dir.path().join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write server.ext");
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
            dir.path(),
        );
        PrivateCa { dir }
    }

    /// The CA certificate (PEM): what `http.sslCAInfo` names.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server certificate (PEM), issued by the CA.
    pub fn server_cert(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// The server's private key (PEM).
    pub fn server_key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }
}

impl Default for PrivateCa {
    fn default() -> Self {
        PrivateCa::new()
    }
}

/// `stunnel` on a free loopback port, serving `cert`/`key` and forwarding to a plain-HTTP
/// backend on `127.0.0.1`. Killed on drop.
pub struct TlsFront {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl TlsFront {
    /// Start `stunnel` in front of `127.0.0.1:backend_port` with the CA's server certificate.
    ///
    /// Panics when `stunnel4` is not installed or does not listen within 20 s.
    pub fn start(ca: &PrivateCa, backend_port: u16) -> TlsFront {
        let stunnel = ["/usr/bin/stunnel4", "/usr/bin/stunnel", "/usr/sbin/stunnel4", "/usr/sbin/stunnel"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("stunnel is not installed: apt-get install -y --no-install-recommends stunnel4");
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let config = dir.path().join("stunnel.conf");
        std::fs::write(
            &config,
            format!(
                "foreground = yes\npid =\ndebug = 4\n\n[front]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{backend_port}\ncert = {}\nkey = {}\n",
                ca.server_cert().display(),
                ca.server_key().display()
            ),
        )
        .expect("write stunnel.conf");
        let log_path = dir.path().join("stunnel.log");
        let log = std::fs::File::create(&log_path).expect("stunnel log");
        let mut child = Command::new(stunnel)
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("stunnel log"))
            .stderr(log)
            .spawn()
            .expect("start stunnel");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("stunnel ended ({status}) before listening on {port}:\n{log}");
            }
            assert!(Instant::now() < deadline, "stunnel did not listen on {port} within 20 s");
            std::thread::yield_now();
        }
        TlsFront { child, port, _dir: dir }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
