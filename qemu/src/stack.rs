//! Stack painting: the peak stack depth of individual calls.
//!
//! A region below the current stack pointer is filled with a pattern; after a measured call,
//! the lowest word that no longer holds the pattern is the deepest the call reached. The
//! meter keeps the painted region intact between calls by repainting what each call dirtied
//! (and whatever the caller's own frames dirtied above it), so every call is measured from
//! its own entry stack pointer.
//!
//! Bare metal, one thread, no interrupts: nothing else writes below the stack pointer.
//! [`StackMeter::measure`] is `#[inline(always)]` and its loops call no functions, so they
//! never push a frame into the region they scan. Build in release mode (the volatile
//! accessors are only guaranteed to be inlined there).

const PATTERN: u32 = 0xC5A5_5A5C;
const WORD: usize = core::mem::size_of::<u32>();

/// The current stack pointer.
#[inline(always)]
pub fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads the stack pointer register into a general register; no memory access.
    unsafe {
        #[cfg(target_arch = "arm")]
        core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags));
        #[cfg(target_arch = "riscv32")]
        core::arch::asm!("mv {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    sp
}

/// Measures the peak stack use of calls made through it.
pub struct StackMeter {
    /// Lowest painted address (word aligned).
    floor: usize,
    /// `[floor, clean_top)` holds the pattern.
    clean_top: usize,
    /// Deepest call seen, in bytes below its entry stack pointer.
    peak: usize,
    /// Whether a call reached the floor (the peak is then a lower bound).
    saturated: bool,
}

/// Bytes left unpainted just below the entry stack pointer (the measuring code's own use).
const MARGIN: usize = 64;

impl StackMeter {
    /// A meter that paints `depth` bytes below the stack pointer of its first measured call.
    pub fn new(depth: usize) -> Self {
        Self {
            floor: 0,
            clean_top: depth & !(WORD - 1),
            peak: 0,
            saturated: false,
        }
    }

    #[inline(always)]
    fn paint(&mut self, from: usize, to: usize) {
        let mut p = from;
        while p < to {
            // SAFETY: `[floor, top)` is unused stack below every live frame (see the module
            // docs); the address is word aligned.
            unsafe { core::ptr::write_volatile(p as *mut u32, PATTERN) };
            p += WORD;
        }
    }

    /// Runs `f` and records how deep below the current stack pointer it went.
    #[inline(always)]
    pub fn measure<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let entry = (stack_pointer() - MARGIN) & !(WORD - 1);
        if self.floor == 0 {
            // First call: the painted region starts here (`clean_top` held the depth).
            self.floor = entry.saturating_sub(self.clean_top);
            self.clean_top = self.floor;
        }
        if entry <= self.floor {
            // Called from below the painted region: cannot measure.
            self.saturated = true;
            return f();
        }
        if entry > self.clean_top {
            // The caller's earlier frames may have dirtied the gap.
            let from = self.clean_top;
            self.paint(from, entry);
        }
        let r = f();
        let mut p = self.floor;
        // SAFETY: as in `paint`; reads only.
        while p < entry && unsafe { core::ptr::read_volatile(p as *const u32) } == PATTERN {
            p += WORD;
        }
        if p == self.floor {
            self.saturated = true;
        }
        let used = entry - p + MARGIN;
        if p < entry && used > self.peak {
            self.peak = used;
        }
        let floor = self.floor;
        self.paint(floor.max(p), entry);
        self.clean_top = entry;
        r
    }

    /// The deepest measured call, in bytes.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Whether some call used the whole painted region (the peak is a lower bound).
    pub fn saturated(&self) -> bool {
        self.saturated
    }
}
