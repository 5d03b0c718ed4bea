//! Where the keydir's hash tables live. A lookup's misses are on the table (control bytes, then
//! slot) and then on the record; with 4 KiB pages each of them is also a TLB miss whose page walk
//! the lookup waits for (a 1 M-key keydir spans about 10,000 pages, more than the TLB holds, and
//! in a virtual machine a walk is two-dimensional). So a table of at least [`HUGE_MIN`] bytes is
//! mapped on its own, starting on a 2 MiB boundary, and its whole 2 MiB blocks are advised
//! `MADV_HUGEPAGE`, so that transparent huge pages (the kernel's `madvise` mode included) back it
//! with 2 MiB pages and its walks mostly stop. Only whole blocks inside the table are advised: the
//! tail beyond the last boundary stays on small pages, so resident memory stays what the table
//! touches, as before. Smaller tables come from the global allocator.

use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Global, Layout};

/// A huge page (x86-64 and arm64 with 4 KiB pages). Elsewhere the alignment is harmless.
const HUGE: usize = 2 << 20;
/// Tables from this size on get a mapping of their own: at least one whole huge page in them,
/// and one `mmap` per doubling is nothing beside filling that many bytes. (At 4 MiB, a 1 M-key
/// keydir's sixteen shards, of 1.4 and 2.8 MB, all stayed on small pages: 4% fewer gets a
/// second and a 26% slower reopen than with four shards on huge pages; at 2 MiB, 1-2% and 9%.)
pub(super) const HUGE_MIN: usize = 2 << 20;

/// The tables' allocator (see the module comment).
#[derive(Clone, Copy, Default)]
pub struct TableAlloc;

fn mapped(layout: &Layout) -> bool {
    cfg!(target_os = "linux") && layout.size() >= HUGE_MIN && layout.align() <= HUGE
}

// SAFETY: a block from `allocate` stays valid until `deallocate` with the same layout, which
// sends it back where it came from (the choice depends on the layout alone); copies of the
// allocator are interchangeable (it has no state).
unsafe impl Allocator for TableAlloc {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if !mapped(&layout) {
            return Global.allocate(layout);
        }
        let p = map_aligned(layout.size()).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(p, layout.size()))
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if !mapped(&layout) {
            // SAFETY: the caller's promise, and `allocate` took this block from `Global`.
            return unsafe { Global.deallocate(ptr, layout) };
        }
        // SAFETY: `allocate` mapped exactly these pages for this block, and the caller drops it.
        unsafe { libc::munmap(ptr.as_ptr().cast(), page_round(layout.size())) };
    }
}

fn page_round(n: usize) -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = (unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize).max(1);
    n.div_ceil(page) * page
}

/// `size` bytes of fresh zeroed memory starting on a 2 MiB boundary, its whole 2 MiB blocks
/// advised `MADV_HUGEPAGE` (best effort: without transparent huge pages they are small pages).
fn map_aligned(size: usize) -> Option<NonNull<u8>> {
    let len = page_round(size);
    let span = len.checked_add(HUGE)?;
    // SAFETY: a new private anonymous mapping; nothing else refers to it.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            span,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return None;
    }
    let base = base as usize;
    let start = base.next_multiple_of(HUGE);
    // SAFETY: the head and the tail are pages of the mapping just made, outside the block kept.
    unsafe {
        if start > base {
            libc::munmap(base as *mut libc::c_void, start - base);
        }
        let tail = base + span - (start + len);
        if tail > 0 {
            libc::munmap((start + len) as *mut libc::c_void, tail);
        }
        #[cfg(target_os = "linux")]
        libc::madvise(start as *mut libc::c_void, len / HUGE * HUGE, libc::MADV_HUGEPAGE);
    }
    NonNull::new(start as *mut u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_table_starts_on_a_huge_page_boundary_and_is_zeroed() {
        let layout = Layout::from_size_align(HUGE_MIN + 12_345, 16).unwrap();
        let p = TableAlloc.allocate(layout).unwrap();
        let start = p.as_ptr() as *mut u8 as usize;
        assert_eq!(start % HUGE, 0);
        assert_eq!(p.len(), layout.size());
        // SAFETY: the block is `layout.size()` bytes, ours until deallocated below.
        let bytes = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, layout.size()) };
        assert!(bytes.iter().step_by(4096).all(|&b| b == 0));
        bytes[layout.size() - 1] = 7;
        // SAFETY: allocated above with this layout.
        unsafe { TableAlloc.deallocate(NonNull::new(start as *mut u8).unwrap(), layout) };
    }

    #[test]
    fn a_small_table_comes_from_the_global_allocator() {
        let layout = Layout::from_size_align(4096, 16).unwrap();
        let p = TableAlloc.allocate(layout).unwrap();
        assert!(!mapped(&layout));
        // SAFETY: allocated above with this layout.
        unsafe { TableAlloc.deallocate(NonNull::new(p.as_ptr() as *mut u8).unwrap(), layout) };
    }
}
