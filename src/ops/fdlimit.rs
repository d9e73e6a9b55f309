//! The process's file-descriptor limit (`RLIMIT_NOFILE`).
//!
//! Every API connection, every delivery connection (in flight or pooled) and every storage
//! file is a descriptor. Distributions start services with a low soft limit (often 1024)
//! under a much higher hard limit, so hookd raises the soft limit to the hard one at start
//! and then keeps API connections to a share of it (see `api::ConnLimits`), so that a flood
//! of client connections can never take the descriptors deliveries and storage need.

/// Raise the soft `RLIMIT_NOFILE` to the hard limit and return the soft limit now in force;
/// `None` when it cannot be read. A failed raise is logged and the old limit returned.
pub fn raise_nofile_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` only writes the struct it is given, which lives on this stack.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot read RLIMIT_NOFILE");
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `setrlimit` only reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        } else {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                soft = lim.rlim_cur,
                hard = lim.rlim_max,
                "cannot raise the file-descriptor soft limit to the hard limit"
            );
        }
    }
    // `rlim_t` is narrower than u64 on some 32-bit targets.
    #[allow(clippy::unnecessary_cast)]
    Some(lim.rlim_cur as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_leaves_a_usable_limit_at_least_as_high_as_before() {
        let first = raise_nofile_limit().expect("RLIMIT_NOFILE is readable");
        let second = raise_nofile_limit().expect("RLIMIT_NOFILE is readable");
        assert!(first > 0);
        assert_eq!(
            first, second,
            "the first call already raised it to the hard limit"
        );
    }
}
