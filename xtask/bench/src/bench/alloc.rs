//! A counting global allocator, so the memory lines measure what each solver's
//! index really holds on the heap (net bytes kept) and what a solve needs (peak).
//!
//! Counting is per thread and switched on only inside [`measure`]: outside it the
//! allocator costs one thread-local read per call, so the timed runs (and the other
//! xtask commands, since the allocator is installed for the whole binary) are not
//! slowed by bookkeeping, and concurrent threads (parallel tests) do not disturb a
//! measurement. Net and peak figures are differences from the start of the window, so
//! frees of memory allocated before it correctly count as negative.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct Counting;

/// (counting on, net bytes since the window opened, peak of net bytes).
struct Window {
    on: Cell<bool>,
    net: Cell<isize>,
    peak: Cell<isize>,
}

thread_local! {
    static WINDOW: Window = const {
        Window { on: Cell::new(false), net: Cell::new(0), peak: Cell::new(0) }
    };
}

fn add(delta: isize) {
    // `try_with`: the allocator may be called while thread-locals are torn down.
    let _ = WINDOW.try_with(|w| {
        if w.on.get() {
            let now = w.net.get() + delta;
            w.net.set(now);
            if now > w.peak.get() {
                w.peak.set(now);
            }
        }
    });
}

// SAFETY: every call forwards to `System` with the caller's layout unchanged; the
// counters are only bookkeeping and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        add(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its value with (net bytes it left allocated, peak bytes above
/// the starting point while it ran), counting the calling thread's allocations only.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    WINDOW.with(|w| {
        w.net.set(0);
        w.peak.set(0);
        w.on.set(true);
    });
    let value = f();
    let (net, peak) = WINDOW.with(|w| {
        w.on.set(false);
        (w.net.get(), w.peak.get())
    });
    (value, net.max(0) as usize, peak.max(0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_is_kept_and_the_peak() {
        let (v, kept, peak) = measure(|| {
            let scratch = vec![1u8; 64 << 20];
            drop(std::hint::black_box(scratch));
            vec![1u8; 16 << 20]
        });
        assert_eq!(v.len(), 16 << 20);
        // Other test threads allocate concurrently; they must not show up here.
        assert_eq!(kept, 16 << 20);
        assert_eq!(peak, 64 << 20);
    }

    #[test]
    fn frees_inside_the_window_of_older_memory_count_negative() {
        let old = vec![0u8; 1 << 20];
        let ((), kept, peak) = measure(|| drop(old));
        assert_eq!((kept, peak), (0, 0));
    }
}
