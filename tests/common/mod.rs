//! Helpers shared by the integration tests.

use std::process::Output;

/// A finished command's stdout and stderr, for assertion messages.
#[allow(dead_code)]
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A TCP port nothing listens on right now.
#[allow(dead_code)] // not every test binary needs it
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
