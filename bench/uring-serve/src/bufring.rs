//! A ring of provided buffers (`IORING_REGISTER_PBUF_RING`): the kernel picks a free buffer for
//! each multishot receive, so no receive needs a buffer of its own posted in advance. Buffers go
//! back to the ring as soon as their bytes are parsed; the new tail is published once per pass.

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::Submitter;

pub struct BufRing {
    /// The shared ring of entries (page-aligned anonymous memory, as the kernel requires).
    ring: *mut BufRingEntry,
    ring_bytes: usize,
    mask: u16,
    /// The buffers themselves, `size` bytes each, indexed by buffer id.
    bufs: Vec<u8>,
    size: usize,
    /// Our tail, ahead of the published one by the buffers returned this pass.
    tail: u16,
}

impl BufRing {
    /// Registers `entries` (a power of two) buffers of `size` bytes as buffer group `bgid`.
    pub fn new(submitter: &Submitter<'_>, entries: u16, size: usize, bgid: u16) -> io::Result<BufRing> {
        assert!(entries.is_power_of_two());
        let ring_bytes = entries as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: a fresh private anonymous mapping; checked for failure below.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut br = BufRing {
            ring: ring.cast(),
            ring_bytes,
            mask: entries - 1,
            bufs: vec![0; entries as usize * size],
            size,
            tail: 0,
        };
        for bid in 0..entries {
            br.give_back(bid);
        }
        br.publish();
        // SAFETY: the ring stays mapped, and the buffers allocated, for the life of `br`, which
        // the caller keeps as long as the io_uring instance.
        unsafe { submitter.register_buf_ring_with_flags(ring as u64, entries, bgid, 0)? };
        Ok(br)
    }

    /// The first `len` bytes the kernel received into buffer `bid`.
    pub fn data(&self, bid: u16, len: usize) -> &[u8] {
        let start = bid as usize * self.size;
        &self.bufs[start..start + len]
    }

    /// Returns buffer `bid` to the kernel (visible after the next [`BufRing::publish`]).
    pub fn give_back(&mut self, bid: u16) {
        // SAFETY: the index is masked into the ring; entries past the published tail are ours.
        let e = unsafe { &mut *self.ring.add((self.tail & self.mask) as usize) };
        e.set_addr(self.bufs[bid as usize * self.size..].as_ptr() as u64);
        e.set_len(self.size as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the buffers given back so far visible to the kernel.
    pub fn publish(&self) {
        // SAFETY: the tail field lies in the first entry of our mapping; the kernel reads it
        // with acquire ordering.
        unsafe {
            let tail = BufRingEntry::tail(self.ring) as *mut u16;
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once.
        unsafe { libc::munmap(self.ring.cast(), self.ring_bytes) };
    }
}
