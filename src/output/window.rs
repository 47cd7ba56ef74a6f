//! The slow-start window: how many events the next batch may hold.

/// With slow start on, a connection begins with small batches, doubles the window
/// after each batch acked in full, and halves it on an error (libbeat's window).
/// With slow start off the window is always `max`.
#[derive(Debug, Clone)]
pub struct Window {
    current: usize,
    max: usize,
    slow_start: bool,
}

const SLOW_START_SIZE: usize = 10;

impl Window {
    pub fn new(max: usize, slow_start: bool) -> Self {
        let max = max.max(1);
        let current = if slow_start {
            SLOW_START_SIZE.min(max)
        } else {
            max
        };
        Window {
            current,
            max,
            slow_start,
        }
    }

    pub fn size(&self) -> usize {
        self.current
    }

    /// A batch of `sent` events was acked in full.
    pub fn on_success(&mut self, sent: usize) {
        if sent >= self.current {
            self.current = (self.current * 2).min(self.max);
        }
    }

    pub fn on_error(&mut self) {
        if !self.slow_start {
            return;
        }
        self.current = (self.current / 2).max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_grows_on_full_batches_and_halves_on_error() {
        let mut w = Window::new(100, true);
        assert_eq!(w.size(), 10);
        w.on_success(10);
        assert_eq!(w.size(), 20);
        w.on_success(5);
        assert_eq!(
            w.size(),
            20,
            "a short batch proves nothing about a bigger window"
        );
        w.on_success(20);
        w.on_success(40);
        assert_eq!(w.size(), 80);
        w.on_success(80);
        assert_eq!(w.size(), 100, "capped at bulk_max_size");
        w.on_error();
        assert_eq!(w.size(), 50);
        for _ in 0..10 {
            w.on_error();
        }
        assert_eq!(w.size(), 1);
    }

    #[test]
    fn without_slow_start_the_window_is_always_bulk_max_size() {
        let mut w = Window::new(2048, false);
        assert_eq!(w.size(), 2048);
        w.on_error();
        assert_eq!(w.size(), 2048);
    }
}
