//! `PreciseSleep`: waits for an `Instant` to within tens of microseconds, on tokio.
//!
//! tokio's timer wheel ticks in whole milliseconds, so `sleep_until` wakes up to 1 ms
//! late; an open-loop run measures latency from the intended send time, so that
//! lateness would be charged to the server. A Linux `timerfd` has nanosecond
//! resolution and wakes the runtime through epoll like any socket. One per connection.

use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};
use tokio::io::unix::AsyncFd;

/// Deadlines closer than this are treated as reached: arming the timer costs more.
const TOO_CLOSE: Duration = Duration::from_micros(5);

/// A one-shot high-resolution timer registered with the current tokio runtime.
pub struct PreciseSleep {
    timer: AsyncFd<OwnedFd>,
}

impl PreciseSleep {
    /// Creates the timer; needs a runtime with I/O enabled.
    pub fn new() -> io::Result<Self> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // `AsyncFd::register` is the non-deprecated spelling but is `unsafe`, which the
        // workspace forbids. Its safety condition — the fd stays open and the same for
        // the AsyncFd's whole life — holds by construction: an `OwnedFd` we never hand
        // out can neither be closed nor changed underneath it.
        #[allow(deprecated)]
        let timer = AsyncFd::new(fd)?;
        Ok(Self { timer })
    }

    /// Returns at `deadline` (or at once if it has passed).
    pub async fn until(&mut self, deadline: Instant) -> io::Result<()> {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait < TOO_CLOSE {
            return Ok(());
        }
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let spec = Itimerspec {
            it_interval: zero,
            it_value: Timespec {
                tv_sec: wait.as_secs() as i64,
                tv_nsec: i64::from(wait.subsec_nanos()),
            },
        };
        timerfd_settime(self.timer.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
        loop {
            let mut ready = self.timer.readable().await?;
            let mut expirations = [0u8; 8];
            match rustix::io::read(ready.get_inner(), &mut expirations) {
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
                Err(error) => return Err(error.into()),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn wakes_after_the_deadline_and_well_within_a_millisecond() {
        let mut sleep = PreciseSleep::new().unwrap();
        let mut lateness = Vec::new();
        for _ in 0..21 {
            let deadline = Instant::now() + Duration::from_micros(300);
            sleep.until(deadline).await.unwrap();
            let woke = Instant::now();
            assert!(woke >= deadline);
            lateness.push(woke - deadline);
        }
        lateness.sort();
        // tokio's own timer rounds up to its next 1 ms tick, ~0.5 ms late on average;
        // the median tolerates a shared machine delaying a few wake-ups.
        assert!(lateness[10] < Duration::from_micros(400), "{lateness:?}");
        let past = Instant::now() - Duration::from_millis(1);
        let started = Instant::now();
        sleep.until(past).await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(1));
    }
}
