//! Paths of this crate's own programs (`fake-bitbucket`, `chromium-consent`) for tests of the
//! main crate, which cargo does not build for them: found next to the test executable, and
//! built once with cargo when missing.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

static BUILD: Mutex<()> = Mutex::new(());

/// The path of this crate's binary `name`, building it first when it is not there yet.
pub fn support_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("support_bin: no current exe: {e}"));
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap_or_else(|| panic!("support_bin: unexpected test path {}", exe.display()))
        .to_owned();
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let _guard = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    if !path.is_file() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.args(["build", "--quiet", "-p", "bitbucket-test-support", "--bin", name]);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            command.arg("--release");
        }
        let status = command.status().unwrap_or_else(|e| panic!("support_bin: cannot run cargo: {e}"));
        assert!(status.success() && path.is_file(), "support_bin: building {name} failed");
    }
    path
}
