//! A counting global allocator: counts allocation calls and requested bytes
//! made by threads marked as "server" threads (the gateway's or the raw
//! relay's runtime), only while counting is switched on. This is how the
//! harness checks that the gateway serializes an event once, not once per
//! app: a per-app serialization of a ~300-byte event would add at least
//! ~300 bytes per delivery.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Wraps the system allocator.
pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static BYTES: AtomicU64 = AtomicU64::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Const-initialized and without a destructor: safe to touch from inside the allocator.
    static SERVER: Cell<bool> = const { Cell::new(false) };
}

fn note(size: usize) {
    if ON.load(Relaxed) && SERVER.try_with(Cell::get).unwrap_or(false) {
        BYTES.fetch_add(size as u64, Relaxed);
        CALLS.fetch_add(1, Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the counting touches
// only atomics and a const thread-local, and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Marks the calling thread as a server thread (use in `on_thread_start`).
pub fn mark_server_thread() {
    SERVER.with(|s| s.set(true));
}

/// Starts counting from zero.
pub fn start() {
    BYTES.store(0, Relaxed);
    CALLS.store(0, Relaxed);
    ON.store(true, Relaxed);
}

/// Stops counting; returns (bytes, calls) since [`start`].
pub fn stop() -> (u64, u64) {
    ON.store(false, Relaxed);
    (BYTES.load(Relaxed), CALLS.load(Relaxed))
}
