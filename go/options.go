package bitgask

// #include "bitgask.h"
import "C"

import (
	"fmt"
	"time"
)

// Codec is a value compression codec.
type Codec uint32

const (
	CodecNone   Codec = C.BITGASK_CODEC_NONE
	CodecSnappy Codec = C.BITGASK_CODEC_SNAPPY
)

// Options of Open. The zero value of every field means the library's default (bitgask.h), so
// the settings whose default is on are named for turning them off (NoSyncOnPut, NoHintFiles).
// A value the library refuses makes Open fail with ErrInvalidArg.
type Options struct {
	NoSyncOnPut    bool          // do not fdatasync before Put returns
	NoSyncOnDelete bool          // do not fdatasync before Delete returns
	SyncInterval   time.Duration // period of the background flusher (0: none)
	MaxFileSize    uint64        // size at which the active data file is sealed (0: 64 MiB)
	MaxKeySize     uint32        // largest key accepted (0: 64 KiB)
	MaxValueSize   uint32        // largest value accepted (0: 32 MiB)
	DefaultTTL     time.Duration // TTL of keys written by Put (0: none)
	NoHintFiles    bool          // neither write nor use hint files
	Compression    Codec         // CodecSnappy compresses values at or above CompressionThreshold
	// Values shorter than this are never compressed (0: 4096 bytes).
	CompressionThreshold uint32
	LockTimeout          time.Duration // how long Open waits for a held LOCK (0: fail at once)

	MergeTriggerRatio float64 // full merge when dead/total reaches this (0: 0.6)
	MergeMinTotal     uint64  // ... and the data files hold at least this much (0: 64 MiB)
	// Period of the background merge policy (0: 10 minutes; negative: no background merges).
	MergeInterval    time.Duration
	MergeOnOpen      bool    // run the merge policy once inside Open
	MergeMaxFileSize uint64  // size at which merge outputs are cut (0: 64 MiB)
	GarbageRatio     float64 // selective merge: a file qualifies at this dead/size (0: 0.4)
	MinMergeFiles    uint32  // selective merge: fewest files (0: 3)
	MaxMergeFiles    uint32  // selective merge: most files (0: 5)
	MinMergeTotal    uint64  // selective merge: fewest bytes (0: 256 MiB)
	MaxMergeBytes    uint64  // selective merge: most bytes (0: 2 GiB)
	// Size of the reserve file that lets deletes and merges run on a full disk (0: 4 MiB;
	// negative: no reserve).
	ReserveBytes int64
}

type (
	cOpts   = *C.bitgask_options
	cErr    = **C.bitgask_error
	cStatus = C.bitgask_status
	setter  = func(o cOpts, e cErr) cStatus
)

// build returns a C options object with every non-zero field set (NULL for nil: the defaults);
// the caller frees it.
func (opts *Options) build() (*C.bitgask_options, error) {
	if opts == nil {
		return nil, nil
	}
	setters, err := opts.setters()
	if err != nil {
		return nil, err
	}
	o := C.bitgask_options_new()
	for _, set := range setters {
		var e *C.bitgask_error
		if s := set(o, &e); s < 0 {
			C.bitgask_options_free(o)
			return nil, newError(s, e)
		}
	}
	return o, nil
}

// setters lists a C setter call for every field that is not zero. (cgo cannot take C functions
// as Go values, hence one closure per field.)
func (opts *Options) setters() ([]setter, error) {
	for name, d := range map[string]time.Duration{
		"SyncInterval": opts.SyncInterval, "DefaultTTL": opts.DefaultTTL, "LockTimeout": opts.LockTimeout,
	} {
		if d < 0 {
			return nil, invalid(fmt.Sprintf("option %s is negative (%v)", name, d))
		}
	}
	var out []setter
	add := func(on bool, f setter) {
		if on {
			out = append(out, f)
		}
	}
	o := *opts
	add(o.NoSyncOnPut, func(c cOpts, e cErr) cStatus { return C.bitgask_options_set_sync_on_put(c, false, e) })
	add(o.NoSyncOnDelete, func(c cOpts, e cErr) cStatus { return C.bitgask_options_set_sync_on_delete(c, false, e) })
	add(o.SyncInterval != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_sync_interval_ms(c, C.uint64_t(durationMS(o.SyncInterval)), e)
	})
	add(o.MaxFileSize != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_max_file_size(c, C.uint64_t(o.MaxFileSize), e)
	})
	add(o.MaxKeySize != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_max_key_size(c, C.uint32_t(o.MaxKeySize), e)
	})
	add(o.MaxValueSize != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_max_value_size(c, C.uint32_t(o.MaxValueSize), e)
	})
	add(o.DefaultTTL != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_default_ttl_ms(c, C.uint64_t(durationMS(o.DefaultTTL)), e)
	})
	add(o.NoHintFiles, func(c cOpts, e cErr) cStatus { return C.bitgask_options_set_hint_files(c, false, e) })
	add(o.Compression != CodecNone, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_compression(c, C.uint32_t(o.Compression), e)
	})
	add(o.CompressionThreshold != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_compression_threshold(c, C.uint32_t(o.CompressionThreshold), e)
	})
	add(o.LockTimeout != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_lock_timeout_ms(c, C.uint64_t(durationMS(o.LockTimeout)), e)
	})
	add(o.MergeTriggerRatio != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_merge_trigger_ratio(c, C.double(o.MergeTriggerRatio), e)
	})
	add(o.MergeMinTotal != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_merge_min_total(c, C.uint64_t(o.MergeMinTotal), e)
	})
	add(o.MergeInterval != 0, func(c cOpts, e cErr) cStatus { // negative: 0, which disables the worker
		return C.bitgask_options_set_merge_interval_ms(c, C.uint64_t(durationMS(o.MergeInterval)), e)
	})
	add(o.MergeOnOpen, func(c cOpts, e cErr) cStatus { return C.bitgask_options_set_merge_on_open(c, true, e) })
	add(o.MergeMaxFileSize != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_merge_max_file_size(c, C.uint64_t(o.MergeMaxFileSize), e)
	})
	add(o.GarbageRatio != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_garbage_ratio(c, C.double(o.GarbageRatio), e)
	})
	add(o.MinMergeFiles != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_min_merge_files(c, C.uint32_t(o.MinMergeFiles), e)
	})
	add(o.MaxMergeFiles != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_max_merge_files(c, C.uint32_t(o.MaxMergeFiles), e)
	})
	add(o.MinMergeTotal != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_min_merge_total(c, C.uint64_t(o.MinMergeTotal), e)
	})
	add(o.MaxMergeBytes != 0, func(c cOpts, e cErr) cStatus {
		return C.bitgask_options_set_max_merge_bytes(c, C.uint64_t(o.MaxMergeBytes), e)
	})
	add(o.ReserveBytes != 0, func(c cOpts, e cErr) cStatus {
		reserve := uint64(0) // negative: no reserve
		if o.ReserveBytes > 0 {
			reserve = uint64(o.ReserveBytes)
		}
		return C.bitgask_options_set_reserve_bytes(c, C.uint64_t(reserve), e)
	})
	return out, nil
}

// durationMS is d in whole milliseconds, rounded up so nothing expires or fires early.
func durationMS(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Millisecond - 1) / time.Millisecond)
}
