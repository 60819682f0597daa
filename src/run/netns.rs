//! Bringing the loopback interface up inside a new network namespace, without iproute2:
//! `unshare --net` starts the namespace with `lo` down, and GPU nodes (minimal images) often
//! have no `ip`. rigor re-executes itself there (`rigor __loopback-up -- COMMAND`), sets
//! IFF_UP on `lo` with the SIOCGIFFLAGS/SIOCSIFFLAGS ioctls, and execs the command.
//! Hand-written: a few lines of libc; no crate wraps just this.

use std::io;

/// Sets `lo` up in the calling process's network namespace.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: a datagram socket used only for interface ioctls, closed before returning; the
    // ifreq is zeroed and its name NUL-terminated.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let result = if libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req) < 0 {
            Err(io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req) < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        libc::close(fd);
        result
    }
}

/// `rigor __loopback-up -- COMMAND...`: brings `lo` up, then replaces this process with
/// the command (so the command keeps the PID unshare gave it: 1 in a new PID namespace).
pub fn loopback_up_then_exec(command: &[String]) -> io::Error {
    use std::os::unix::process::CommandExt;
    if let Err(e) = loopback_up() {
        return io::Error::new(
            e.kind(),
            format!("cannot bring the loopback interface up: {e}"),
        );
    }
    let Some((program, args)) = command.split_first() else {
        return io::Error::new(io::ErrorKind::InvalidInput, "no command to run");
    };
    let e = std::process::Command::new(program).args(args).exec();
    io::Error::new(e.kind(), format!("cannot run `{program}`: {e}"))
}
