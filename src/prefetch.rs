//! Cache-line prefetch hints. A prefetch never faults and changes nothing but the cache, so it
//! takes a plain address: a stale or wrong one only wastes the hint.

/// Asks the CPU to start loading the cache line holding `addr`.
#[inline(always)]
pub fn line(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it does not access memory architecturally and never faults,
    // whatever the address (Intel SDM, PREFETCHh). SSE is part of the x86_64 baseline.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Asks the CPU to fetch the cache line holding `addr` ready to be written (PREFETCHW, a no-op
/// where the CPU lacks it): a store there then finds the line owned instead of waiting for it.
#[inline(always)]
pub fn line_for_write(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as for `line`: a hint that never faults and changes no memory.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_ET0 }>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Prefetches every cache line of `len` bytes at `addr` (for short ranges: a record, a few
/// slots).
#[inline(always)]
pub fn range(addr: usize, len: usize) {
    let mut a = addr & !63;
    let end = addr.wrapping_add(len.max(1));
    while a < end {
        line(a);
        a += 64;
    }
}
