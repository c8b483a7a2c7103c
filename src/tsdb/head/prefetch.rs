//! A cache prefetch hint, so replay can ask for the memory of samples it applies next while
//! it works on the current one.

/// Asks the CPU to start loading the cache line holding `p` into the cache. Only a hint: it
/// never faults and never changes what the program computes, whatever the address.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` does not access memory architecturally: it cannot fault on any
    // address (valid, dangling or null) and has no observable effect besides caching. SSE,
    // which provides it, is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
