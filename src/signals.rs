//! Holding SIGINT, SIGTERM and SIGHUP while a sign-in is at stake.
//!
//! Bitbucket retires a refresh token the moment it answers the request that used it, and an
//! authorization code the moment it is exchanged. A helper ended between sending such a
//! request and keeping its answer (a Ctrl-C on a slow fetch, an editor's SIGTERM, a closed
//! terminal's SIGHUP) loses the sign-in. So from just before the request is sent until its
//! result is durably kept (store written, or the rescue file), a [`Held`] guard lives; while
//! one does, those three signals are caught and remembered, not acted on. When the last guard
//! goes, the signal dispositions found before come back and a remembered signal is raised
//! again: the helper ends as it would have, by that signal, without answering git. The wait is bounded
//! by the HTTP timeout of the requests made meanwhile.
//!
//! Outside a guard nothing is installed: a signal has its default action, at once (the
//! browser wait and the prompts stay interruptible). A signal the helper was started with
//! ignored (`nohup`, a background job) stays ignored.
//!
//! Why a handler and not a blocked signal mask: a mask is per thread, and the HTTP client
//! does its I/O on a thread it started when it was built, before any guard; a signal sent to
//! the process (a terminal's Ctrl-C goes to the whole process group) is delivered to any
//! thread that does not block it, and would end the process there. A disposition is the
//! process's, whichever thread the signal lands on. The handler only stores the signal's
//! number in an atomic, which is async-signal-safe. See docs/decisions.md.
//!
//! SIGKILL cannot be caught: docs/security.md names the window it leaves.

/// While alive, SIGINT, SIGTERM and SIGHUP are remembered instead of acted on; dropping the
/// last guard alive (guards nest, and may live on several threads of a library user) acts on
/// a remembered one.
#[must_use = "the signals are held only while the guard lives"]
#[derive(Debug)]
pub(crate) struct Held {
    _private: (),
}

/// Hold SIGINT, SIGTERM and SIGHUP until the guard is dropped.
pub(crate) fn hold() -> Held {
    // Windows: a console Ctrl-C ends the process as before (see docs/decisions.md).
    #[cfg(unix)]
    unix::hold();
    Held { _private: () }
}

impl Drop for Held {
    fn drop(&mut self) {
        #[cfg(unix)]
        unix::release();
    }
}

#[cfg(unix)]
mod unix {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicI32, Ordering};

    /// The signals held.
    const HELD: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    /// The first signal that arrived while held; 0 for none. The handler's only state.
    static PENDING: AtomicI32 = AtomicI32::new(0);

    /// How many guards are alive, and the dispositions the first one replaced (`None` where
    /// a signal was left alone: ignored, or its disposition could not be read or set).
    static GUARDS: Mutex<(usize, [Option<Disposition>; 3])> = Mutex::new((0, [None, None, None]));

    /// A saved `sigaction`.
    struct Disposition(libc::sigaction);

    // SAFETY: a `sigaction` is plain data (a handler address, a mask, flags), meaningful in
    // any thread of the process.
    unsafe impl Send for Disposition {}

    /// The handler: remember the first signal. Only an atomic store: async-signal-safe.
    extern "C" fn remember(signal: libc::c_int) {
        let _ = PENDING.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    }

    fn guards() -> std::sync::MutexGuard<'static, (usize, [Option<Disposition>; 3])> {
        GUARDS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn hold() {
        let mut guards = guards();
        guards.0 += 1;
        if guards.0 > 1 {
            return;
        }
        PENDING.store(0, Ordering::SeqCst);
        for (slot, signal) in guards.1.iter_mut().zip(HELD) {
            *slot = install(signal);
        }
    }

    /// Catch `signal` with [`remember`]; the disposition it had, or `None` when it is left
    /// as it is (ignored, or the call failed).
    fn install(signal: libc::c_int) -> Option<Disposition> {
        // SAFETY: a zeroed `sigaction` is a valid value for the kernel to fill in.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: reads the current disposition into `old`; no change is made.
        if unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) } != 0 {
            tracing::debug!("cannot read the disposition of signal {signal}; it is not held");
            return None;
        }
        if old.sa_sigaction == libc::SIG_IGN {
            return None;
        }
        // SAFETY: as above.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = remember as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // Interrupted system calls go on (the HTTP client, the store's writes).
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `action.sa_mask` is a valid `sigset_t` to initialise.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: installs `remember`, which only touches an atomic.
        if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
            tracing::debug!("cannot hold signal {signal}");
            return None;
        }
        Some(Disposition(old))
    }

    pub(super) fn release() {
        let signal = {
            let mut guards = guards();
            guards.0 = guards.0.saturating_sub(1);
            if guards.0 > 0 {
                return;
            }
            for (saved, signal) in guards.1.iter_mut().zip(HELD) {
                if let Some(Disposition(old)) = saved.take() {
                    // SAFETY: puts back the disposition read in `install`.
                    unsafe { libc::sigaction(signal, &old, std::ptr::null_mut()) };
                }
            }
            // From here on a signal acts at once; one that came while held acts now.
            PENDING.swap(0, Ordering::SeqCst)
        };
        if signal != 0 {
            tracing::debug!("acting on signal {signal}, held until the new tokens were kept");
            // SAFETY: sends the signal to this thread; with the disposition it had back (the
            // default action), the process ends by it, as it would have when it arrived.
            unsafe { libc::raise(signal) };
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The disposition of `signal` now.
        fn disposition(signal: libc::c_int) -> libc::sighandler_t {
            // SAFETY: as in `install`.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: reads only.
            assert_eq!(unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) }, 0);
            old.sa_sigaction
        }

        /// Everything in one test: dispositions are the process's, and the test harness runs
        /// tests on several threads at once.
        #[test]
        fn a_signal_while_held_is_remembered_and_dispositions_come_back() {
            // SAFETY: SIGHUP is ignored for the rest of this test process (nothing sends it).
            unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
            let before = disposition(libc::SIGINT);
            assert_eq!(before, libc::SIG_DFL);
            {
                let first = super::super::hold();
                let second = super::super::hold();
                assert_eq!(
                    disposition(libc::SIGINT),
                    remember as extern "C" fn(libc::c_int) as libc::sighandler_t
                );
                assert_eq!(disposition(libc::SIGHUP), libc::SIG_IGN, "an ignored signal stays ignored");
                // SAFETY: sends SIGINT to this thread, which the handler catches.
                unsafe { libc::raise(libc::SIGINT) };
                assert_eq!(PENDING.load(Ordering::SeqCst), libc::SIGINT, "remembered, not acted on");
                drop(first);
                assert_eq!(PENDING.load(Ordering::SeqCst), libc::SIGINT, "still held by the other guard");
                assert_ne!(disposition(libc::SIGINT), before, "still caught while a guard lives");
                // Forget it before the last guard goes, or it would end the test process.
                PENDING.store(0, Ordering::SeqCst);
                drop(second);
            }
            assert_eq!(disposition(libc::SIGINT), before, "the default action is back");
            assert_eq!(disposition(libc::SIGHUP), libc::SIG_IGN);
            // SAFETY: puts back the default action of SIGHUP.
            unsafe { libc::signal(libc::SIGHUP, libc::SIG_DFL) };
        }
    }
}
