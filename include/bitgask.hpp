/*
 * bitgask.hpp: the C++17 interface of bitgask, header-only, over the C API of bitgask.h.
 *
 *   auto db = bitgask::db::open("app.db", bitgask::options().sync_on_put(false));
 *   db.put("user:1", "ada");
 *   db.put("session:9", "token", std::chrono::seconds(30));
 *   if (auto v = db.get("user:1")) std::cout << *v << "\n";
 *   for (auto&& [k, v] : db.scan("user:")) std::cout << k << " = " << v << "\n";
 *
 * CONVENTIONS
 *
 *  1. Errors. Every failed C call throws bitgask::error (a std::runtime_error) carrying the C
 *     status (status()) and the library's message. Absence is not an error: get() returns an
 *     empty optional, erase() false, contains() false.
 *  2. Ownership. bitgask::db, bitgask::cursor, bitgask::batch and bitgask::txn own their C
 *     objects and are move-only; their destructors release them and never throw (db's destructor
 *     swallows a failed close, e.g. BITGASK_E_POISONED; call close() to see the error; a txn's
 *     destructor discards it unless it was committed). A moved-from or ended object throws
 *     BITGASK_E_CLOSED from every call. bitgask::options is a copyable value: it is turned into
 *     a bitgask_options inside open() and repair().
 *  3. Keys and values are std::string_view (any bytes, NUL included); a key must be non-empty.
 *  4. Threads, as in the C API: one db may be used by many threads at once, but close(), move
 *     assignment and destruction must not race any other call on it (transactions' calls
 *     included). A cursor, a batch and a txn are single-owner.
 *  5. Borrowed views. The (key, value) pair a cursor yields points into the cursor and is valid
 *     until it advances or is destroyed: copy it (std::string(k)) to keep it.
 *  6. Link with the library as for C: $(pkg-config --cflags --libs bitgask).
 *  7. Batches and transactions: db.write(batch) writes a bitgask::batch all or nothing;
 *     db.begin() returns an optimistic bitgask::txn whose commit() throws bitgask::conflict
 *     (nothing written) when a key it read was written by someone else since; db.update(f)
 *     runs f(txn&) and commits, again after each conflict.
 */
#ifndef BITGASK_HPP
#define BITGASK_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "bitgask.h"

/* The function db::close() and the destructor call: bitgask_close. Defined beforehand only by the
 * binding's tests, to stand in a poisoned close (the release library cannot be poisoned from
 * outside); every translation unit of a program must then define it the same way. */
#ifndef BITGASK_HPP_CLOSE
#define BITGASK_HPP_CLOSE bitgask_close
#endif

namespace bitgask {

/* ---- errors ---- */

class error : public std::runtime_error {
   public:
    error(bitgask_status status, const std::string &message) : std::runtime_error(message), status_(status) {}
    bitgask_status status() const noexcept { return status_; }

   private:
    bitgask_status status_;
};

// A transaction's commit found a key it read written by someone else since (BITGASK_E_CONFLICT);
// nothing of the transaction was written: run it again (db::update does).
class conflict : public error {
   public:
    using error::error;
};

// The file system is full (BITGASK_E_NO_SPACE): nothing acknowledged was lost and the handle
// stays usable; delete keys, then merge to reclaim their space.
class no_space : public error {
   public:
    using error::error;
};

namespace detail {

// Throws the exception for a failed call; takes ownership of the C error object (may be NULL).
[[noreturn]] inline void raise(bitgask_status s, bitgask_error *err) {
    std::string message = err ? bitgask_error_message(err) : bitgask_status_str(s);
    bitgask_error_free(err);
    if (s == BITGASK_E_CONFLICT) throw conflict(s, message);
    if (s == BITGASK_E_NO_SPACE) throw no_space(s, message);
    throw error(s, message);
}

// Calls f(&err) and throws on an error status; returns OK or a positive outcome.
template <class F>
bitgask_status call(F &&f) {
    bitgask_error *err = nullptr;
    bitgask_status s = f(&err);
    if (s < 0) raise(s, err);
    return s;
}

inline const uint8_t *bytes(std::string_view s) noexcept { return reinterpret_cast<const uint8_t *>(s.data()); }

inline std::string_view view(const uint8_t *p, size_t n) noexcept {
    return n ? std::string_view(reinterpret_cast<const char *>(p), n) : std::string_view();
}

inline uint64_t to_ms(std::chrono::milliseconds d, const char *what) {
    if (d.count() < 0) throw error(BITGASK_E_INVALID_ARG, std::string("invalid argument: ") + what + " is negative");
    return static_cast<uint64_t>(d.count());
}

// Throws BITGASK_E_CLOSED when p is NULL (the object was moved from, ended or never opened).
template <class T>
T *open_or_throw(T *p, const char *what) {
    if (!p) throw error(BITGASK_E_CLOSED, std::string("closed: ") + what);
    return p;
}

template <class T, void (*Free)(T *)>
struct deleter {
    void operator()(T *p) const noexcept { Free(p); }
};

// A copy of the value a get call hands out, the library's buffer freed; empty when the call
// found no key. get(&v, &n) makes the call and returns its status. db::get and txn::get share it.
template <class Get>
std::optional<std::string> copy_value(Get &&get) {
    uint8_t *v = nullptr;
    size_t n = 0;
    if (get(&v, &n) == BITGASK_NOT_FOUND) return std::nullopt;
    std::unique_ptr<void, deleter<void, bitgask_free>> owned(v);
    return std::string(view(v, n));
}

}  // namespace detail

/* ---- options ---- */

enum class codec : uint32_t { none = BITGASK_CODEC_NONE, snappy = BITGASK_CODEC_SNAPPY };

// Options for db::open (and repair, adopt), with the C setters' names and defaults. Chainable:
//   bitgask::options().sync_on_put(false).sync_interval(std::chrono::seconds(1))
// A value the library refuses throws bitgask::error (BITGASK_E_INVALID_ARG) from open().
class options {
   public:
    options &sync_on_put(bool v) { return add(bitgask_options_set_sync_on_put, v); }
    options &sync_on_delete(bool v) { return add(bitgask_options_set_sync_on_delete, v); }
    options &sync_interval(std::chrono::milliseconds d) { return ms(bitgask_options_set_sync_interval_ms, d); }
    options &max_file_size(uint64_t bytes) { return add(bitgask_options_set_max_file_size, bytes); }
    options &max_key_size(uint32_t bytes) { return add(bitgask_options_set_max_key_size, bytes); }
    options &max_value_size(uint32_t bytes) { return add(bitgask_options_set_max_value_size, bytes); }
    options &default_ttl(std::chrono::milliseconds d) { return ms(bitgask_options_set_default_ttl_ms, d); }
    options &hint_files(bool v) { return add(bitgask_options_set_hint_files, v); }
    options &compression(codec c) { return add(bitgask_options_set_compression, static_cast<uint32_t>(c)); }
    options &compression_threshold(uint32_t bytes) { return add(bitgask_options_set_compression_threshold, bytes); }
    options &lock_timeout(std::chrono::milliseconds d) { return ms(bitgask_options_set_lock_timeout_ms, d); }
    options &merge_trigger_ratio(double r) { return add(bitgask_options_set_merge_trigger_ratio, r); }
    options &merge_min_total(uint64_t bytes) { return add(bitgask_options_set_merge_min_total, bytes); }
    options &merge_interval(std::chrono::milliseconds d) { return ms(bitgask_options_set_merge_interval_ms, d); }
    options &merge_on_open(bool v) { return add(bitgask_options_set_merge_on_open, v); }
    options &merge_max_file_size(uint64_t bytes) { return add(bitgask_options_set_merge_max_file_size, bytes); }
    options &garbage_ratio(double r) { return add(bitgask_options_set_garbage_ratio, r); }
    options &min_merge_files(uint32_t n) { return add(bitgask_options_set_min_merge_files, n); }
    options &min_merge_total(uint64_t bytes) { return add(bitgask_options_set_min_merge_total, bytes); }
    options &max_merge_files(uint32_t n) { return add(bitgask_options_set_max_merge_files, n); }
    options &max_merge_bytes(uint64_t bytes) { return add(bitgask_options_set_max_merge_bytes, bytes); }
    options &adopt_salvage(bool v) { return add(bitgask_options_set_adopt_salvage, v); }
    options &adopt_discard_original(bool v) { return add(bitgask_options_set_adopt_discard_original, v); }

    using c_options = std::unique_ptr<bitgask_options, detail::deleter<bitgask_options, bitgask_options_free>>;

    // A C options object with every setting applied in the order given; NULL when there is none
    // (the library's defaults). Throws bitgask::error for a refused value.
    c_options build() const {
        if (setters_.empty()) return nullptr;
        c_options o(bitgask_options_new());
        for (const auto &set : setters_) detail::call([&](bitgask_error **e) { return set(o.get(), e); });
        return o;
    }

   private:
    using setter = std::function<bitgask_status(bitgask_options *, bitgask_error **)>;

    template <class V>
    options &add(bitgask_status (*fn)(bitgask_options *, V, bitgask_error **), V v) {
        setters_.push_back([fn, v](bitgask_options *o, bitgask_error **e) { return fn(o, v, e); });
        return *this;
    }
    options &ms(bitgask_status (*fn)(bitgask_options *, uint64_t, bitgask_error **), std::chrono::milliseconds d) {
        return add(fn, detail::to_ms(d, "duration option"));
    }

    std::vector<setter> setters_;
};

/* ---- cursors ---- */

// A cursor over keys in byte order (db::scan, db::range): a single-pass input range of
// (key, value) string_view pairs, borrowed from the cursor (see convention 5).
class cursor {
   public:
    using value_type = std::pair<std::string_view, std::string_view>;

    class iterator {
       public:
        using iterator_category = std::input_iterator_tag;
        using value_type = cursor::value_type;
        using difference_type = std::ptrdiff_t;
        using pointer = const value_type *;
        using reference = const value_type &;

        iterator() noexcept = default;
        reference operator*() const noexcept { return c_->current_; }
        pointer operator->() const noexcept { return &c_->current_; }
        iterator &operator++() {
            if (!c_->next()) c_ = nullptr;
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator &a, const iterator &b) noexcept { return a.c_ == b.c_; }
        friend bool operator!=(const iterator &a, const iterator &b) noexcept { return a.c_ != b.c_; }

       private:
        friend class cursor;
        explicit iterator(cursor *c) noexcept : c_(c) {}
        cursor *c_ = nullptr;
    };

    // The first pair (stepping once, on the first call) or end(). Throws bitgask::error when the
    // step fails, e.g. BITGASK_E_CLOSED once the database is closed.
    iterator begin() {
        if (!started_) next();
        return done_ ? iterator() : iterator(this);
    }
    iterator end() noexcept { return iterator(); }

    // The loop without iterators: while (c.next()) use(c.key(), c.value());
    bool next() {
        started_ = true;
        if (done_) return false;
        const uint8_t *k = nullptr, *v = nullptr;
        size_t kl = 0, vl = 0;
        bitgask_status s = detail::call([&](bitgask_error **e) { return bitgask_iter_next(it_.get(), &k, &kl, &v, &vl, e); });
        done_ = s == BITGASK_ITER_DONE;
        current_ = done_ ? value_type() : value_type(detail::view(k, kl), detail::view(v, vl));
        return !done_;
    }
    std::string_view key() const noexcept { return current_.first; }
    std::string_view value() const noexcept { return current_.second; }

   private:
    friend class db;
    friend class txn;
    explicit cursor(bitgask_iter *it) noexcept : it_(it) {}

    std::unique_ptr<bitgask_iter, detail::deleter<bitgask_iter, bitgask_iter_free>> it_;
    value_type current_;
    bool started_ = false, done_ = false;
};

/* ---- validate, repair and adopt ---- */

struct problem {
    std::string kind;  // "torn_tail", "unsynced_tail", "corrupt_record", ... (bitgask.h)
    std::string file;  // relative to the database directory
    std::string message;
    uint64_t offset = 0, length = 0;
    bool note = false;    // describes, does not make the database unclean
    bool mended = false;  // repair dealt with it
};

struct report {
    bool clean = false;  // nothing wrong is left: every problem is a note or was mended
    std::vector<problem> problems;
    bitgask_report_counts counts{};
    std::optional<bitgask_adopt_counts> adopt;  // adopt's counters (set in adopt's report only)
    std::string text, json;
};

namespace detail {

inline report convert(bitgask_report *raw) {
    std::unique_ptr<bitgask_report, deleter<bitgask_report, bitgask_report_free>> r(raw);
    report out;
    out.clean = bitgask_report_clean(r.get());
    for (size_t i = 0, n = bitgask_report_problem_count(r.get()); i < n; i++) {
        bitgask_problem p{};
        call([&](bitgask_error **e) { return bitgask_report_problem(r.get(), i, &p, e); });
        out.problems.push_back({p.kind, p.file, p.message, p.offset, p.length, p.note, p.mended});
    }
    call([&](bitgask_error **e) { return bitgask_report_counts_get(r.get(), &out.counts, e); });
    bitgask_adopt_counts a{};
    if (bitgask_report_adopt_counts_get(r.get(), &a, nullptr) == BITGASK_OK) out.adopt = a;
    out.text = bitgask_report_text(r.get());
    out.json = bitgask_report_json(r.get());
    return out;
}

}  // namespace detail

// Checks the database in directory path without changing anything (and without its LOCK).
inline report validate(const std::string &path) {
    bitgask_report *r = nullptr;
    detail::call([&](bitgask_error **e) { return bitgask_validate(path.c_str(), nullptr, &r, e); });
    return detail::convert(r);
}

// Mends the database in directory path; takes its LOCK (BITGASK_E_LOCKED while it is open).
inline report repair(const std::string &path, const options &opts = options()) {
    auto o = opts.build();
    bitgask_report *r = nullptr;
    detail::call([&](bitgask_error **e) { return bitgask_repair(path.c_str(), o.get(), &r, e); });
    return detail::convert(r);
}

/* ---- batches ---- */

// Puts and erases that db::write writes all or nothing: readers never see some of them without
// the others, and after a crash either all are there or none. The bytes are copied when added
// (and checked against the library's limits then; against the database's by write). A key added
// twice ends with its last operation. Chainable: b.put("a", "1").erase("b").
class batch {
   public:
    batch() : b_(bitgask_batch_new()) {}

    batch &put(std::string_view k, std::string_view v) {
        detail::call([&](bitgask_error **e) {
            return bitgask_batch_put(get(), detail::bytes(k), k.size(), detail::bytes(v), v.size(), e);
        });
        return *this;
    }
    // A put whose key expires ttl (positive) after the batch is written.
    batch &put(std::string_view k, std::string_view v, std::chrono::milliseconds ttl) {
        uint64_t ms = detail::to_ms(ttl, "ttl");
        detail::call([&](bitgask_error **e) {
            return bitgask_batch_put_ttl(get(), detail::bytes(k), k.size(), detail::bytes(v), v.size(), ms, e);
        });
        return *this;
    }
    // A delete (of a key that may be absent: that changes nothing).
    batch &erase(std::string_view k) {
        detail::call([&](bitgask_error **e) { return bitgask_batch_delete(get(), detail::bytes(k), k.size(), e); });
        return *this;
    }

    size_t size() const noexcept { return bitgask_batch_count(b_.get()); }  // 0 when moved from
    bool empty() const noexcept { return size() == 0; }
    void clear() { bitgask_batch_clear(get()); }

    // The C batch, for calls this header does not wrap; still owned by this object.
    bitgask_batch *handle() const noexcept { return b_.get(); }

   private:
    friend class db;
    bitgask_batch *get() const { return detail::open_or_throw(b_.get(), "the batch was moved from"); }

    std::unique_ptr<bitgask_batch, detail::deleter<bitgask_batch, bitgask_batch_free>> b_;
};

/* ---- transactions ---- */

// An optimistic transaction (db::begin). Reads see the database as it is now merged with the
// transaction's own writes; writes are buffered until commit(), which writes them as one batch or
// throws bitgask::conflict (writing nothing) when a key it read (even one it found absent) was
// written by someone else since. Keys written but not read never conflict. Ended by commit() or
// discard(); the destructor discards one still open. After its end every call throws
// BITGASK_E_CLOSED, and so does every call once its database is closed.
class txn {
   public:
    txn() noexcept = default;  // no transaction: every call throws BITGASK_E_CLOSED
    txn(const txn &) = delete;
    txn &operator=(const txn &) = delete;
    txn(txn &&other) noexcept : t_(std::exchange(other.t_, nullptr)) {}
    txn &operator=(txn &&other) noexcept {
        if (this != &other) {
            discard();
            t_ = std::exchange(other.t_, nullptr);
        }
        return *this;
    }
    ~txn() { discard(); }

    // The value of k as the transaction sees it; empty when absent.
    std::optional<std::string> get(std::string_view k) {
        return detail::copy_value([&](uint8_t **v, size_t *n) {
            return detail::call(
                [&](bitgask_error **e) { return bitgask_txn_get(t(), detail::bytes(k), k.size(), v, n, e); });
        });
    }

    bool contains(std::string_view k) {
        bool out = false;
        detail::call([&](bitgask_error **e) { return bitgask_txn_exists(t(), detail::bytes(k), k.size(), &out, e); });
        return out;
    }

    // The keys starting with prefix: the database's merged with this transaction's writes so far.
    // Every key it yields counts as read; keys others add meanwhile are not detected (no phantom
    // protection). The cursor may outlive the transaction.
    cursor scan(std::string_view prefix = {}) {
        bitgask_iter *it = nullptr;
        detail::call([&](bitgask_error **e) {
            return bitgask_txn_iter_new(t(), detail::bytes(prefix), prefix.size(), &it, e);
        });
        return cursor(it);
    }

    void put(std::string_view k, std::string_view v) {
        detail::call([&](bitgask_error **e) {
            return bitgask_txn_put(t(), detail::bytes(k), k.size(), detail::bytes(v), v.size(), e);
        });
    }
    // A put whose key expires ttl (positive) after the commit.
    void put(std::string_view k, std::string_view v, std::chrono::milliseconds ttl) {
        uint64_t ms = detail::to_ms(ttl, "ttl");
        detail::call([&](bitgask_error **e) {
            return bitgask_txn_put_ttl(t(), detail::bytes(k), k.size(), detail::bytes(v), v.size(), ms, e);
        });
    }
    // Buffers a delete (of a key that may be absent).
    void erase(std::string_view k) {
        detail::call([&](bitgask_error **e) { return bitgask_txn_delete(t(), detail::bytes(k), k.size(), e); });
    }

    // Writes the buffered writes as one batch; throws bitgask::conflict (nothing written) on a
    // conflict. The transaction has ended either way.
    void commit() {
        bitgask_txn *t = std::exchange(t_, nullptr);
        detail::call([&](bitgask_error **e) {
            return bitgask_txn_commit(detail::open_or_throw(t, "the transaction has ended"), e);
        });
    }
    // Ends the transaction without writing anything; a no-op once it has ended.
    void discard() noexcept { bitgask_txn_discard(std::exchange(t_, nullptr)); }
    bool active() const noexcept { return t_ != nullptr; }

   private:
    friend class db;
    explicit txn(bitgask_txn *t) noexcept : t_(t) {}
    bitgask_txn *t() const { return detail::open_or_throw(t_, "the transaction has ended"); }
    bitgask_txn *t_ = nullptr;
};

// Converts the Go bitgask's database in directory path into a bitgask database with the Go
// system's answers, keeping the Go files in path/go-original/ (bitgask_adopt). Takes its LOCK.
inline report adopt(const std::string &path, const options &opts = options()) {
    auto o = opts.build();
    bitgask_report *r = nullptr;
    detail::call([&](bitgask_error **e) { return bitgask_adopt(path.c_str(), o.get(), &r, e); });
    return detail::convert(r);
}

/* ---- the database ---- */

using stats = bitgask_stats;

class db {
   public:
    // Opens (creating if missing) the database in directory path.
    static db open(const std::string &path, const options &opts = options()) {
        auto o = opts.build();
        bitgask_db *h = nullptr;
        detail::call([&](bitgask_error **e) { return bitgask_open(path.c_str(), o.get(), &h, e); });
        return db(h);
    }

    db() noexcept = default;  // not open: every call throws BITGASK_E_CLOSED
    db(const db &) = delete;
    db &operator=(const db &) = delete;
    db(db &&other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
    db &operator=(db &&other) noexcept {
        if (this != &other) {
            close_quietly();
            h_ = std::exchange(other.h_, nullptr);
        }
        return *this;
    }
    ~db() { close_quietly(); }

    // Syncs, writes the hint, releases the LOCK and frees the handle (always, even when it
    // throws). A no-op when not open.
    void close() {
        bitgask_db *h = std::exchange(h_, nullptr);
        if (!h) return;
        detail::call([&](bitgask_error **e) { return BITGASK_HPP_CLOSE(h, e); });
    }
    bool is_open() const noexcept { return h_ != nullptr; }
    // The C handle, for calls this header does not wrap; still owned by this object.
    bitgask_db *handle() const noexcept { return h_; }

    void put(std::string_view k, std::string_view v) {
        call([&](bitgask_error **e) { return bitgask_put(h_, detail::bytes(k), k.size(), detail::bytes(v), v.size(), e); });
    }
    // Stores v under k, expiring ttl from now (ttl must be positive).
    void put(std::string_view k, std::string_view v, std::chrono::milliseconds ttl) {
        uint64_t ms = detail::to_ms(ttl, "ttl");
        call([&](bitgask_error **e) {
            return bitgask_put_ttl(h_, detail::bytes(k), k.size(), detail::bytes(v), v.size(), ms, e);
        });
    }

    // The value of k; empty when absent or expired.
    std::optional<std::string> get(std::string_view k) const {
        return detail::copy_value([&](uint8_t **v, size_t *n) {
            return call([&](bitgask_error **e) { return bitgask_get(h_, detail::bytes(k), k.size(), v, n, e); });
        });
    }

    // The values of keys, in their order (empty for each absent or expired one), read in one
    // call (bitgask_multi_get: their lookups overlap, faster than as many get calls). A key
    // whose read fails throws the error get() of that key throws, every buffer freed first.
    std::vector<std::optional<std::string>> multi_get(const std::vector<std::string_view> &keys) const {
        size_t n = keys.size();
        std::vector<const uint8_t *> ptrs(n);
        std::vector<size_t> klens(n), vlens(n);
        std::vector<uint8_t *> vals(n);
        std::vector<bitgask_status> statuses(n);
        for (size_t i = 0; i < n; i++) {
            ptrs[i] = detail::bytes(keys[i]);
            klens[i] = keys[i].size();
        }
        call([&](bitgask_error **e) {
            return bitgask_multi_get(h_, n, ptrs.data(), klens.data(), vals.data(), vlens.data(), statuses.data(),
                                     e);
        });
        std::vector<std::unique_ptr<void, detail::deleter<void, bitgask_free>>> owned;
        owned.reserve(n);
        for (uint8_t *v : vals) owned.emplace_back(v);
        std::vector<std::optional<std::string>> out(n);
        for (size_t i = 0; i < n; i++) {
            if (statuses[i] == BITGASK_OK) out[i] = std::string(detail::view(vals[i], vlens[i]));
            else if (statuses[i] != BITGASK_NOT_FOUND) fail_for_key(keys[i], statuses[i]);
        }
        return out;
    }

    // Deletes k; whether it existed.
    bool erase(std::string_view k) {
        return call([&](bitgask_error **e) { return bitgask_delete(h_, detail::bytes(k), k.size(), e); }) ==
               BITGASK_OK;
    }

    bool contains(std::string_view k) const {
        bool out = false;
        call([&](bitgask_error **e) { return bitgask_exists(h_, detail::bytes(k), k.size(), &out, e); });
        return out;
    }

    // Time until k expires (rounded up to the millisecond); milliseconds::max() when it never
    // expires; empty when k is absent.
    std::optional<std::chrono::milliseconds> ttl(std::string_view k) const {
        int64_t ms = 0;
        if (call([&](bitgask_error **e) { return bitgask_ttl_ms(h_, detail::bytes(k), k.size(), &ms, e); }) ==
            BITGASK_NOT_FOUND)
            return std::nullopt;
        return ms < 0 ? std::chrono::milliseconds::max() : std::chrono::milliseconds(ms);
    }

    // Makes k expire ttl from now (ttl > 0: zero throws, as put with a zero ttl does), keeping
    // its value; whether k existed.
    bool expire(std::string_view k, std::chrono::milliseconds ttl) {
        uint64_t ms = detail::to_ms(ttl, "ttl");
        return call([&](bitgask_error **e) { return bitgask_expire(h_, detail::bytes(k), k.size(), ms, e); }) ==
               BITGASK_OK;
    }

    // Removes k's expiry; whether k existed.
    bool persist(std::string_view k) {
        return call([&](bitgask_error **e) { return bitgask_persist(h_, detail::bytes(k), k.size(), e); }) ==
               BITGASK_OK;
    }

    // The keys starting with prefix (all keys when empty) in byte order, with their values.
    cursor scan(std::string_view prefix = {}) const {
        bitgask_iter *it = nullptr;
        call([&](bitgask_error **e) { return bitgask_iter_new(h_, detail::bytes(prefix), prefix.size(), &it, e); });
        return cursor(it);
    }

    // The keys in [start, end) in byte order (no upper bound without end), with their values.
    cursor range(std::string_view start, std::optional<std::string_view> end = std::nullopt) const {
        bitgask_iter *it = nullptr;
        const uint8_t *ep = end ? detail::bytes(*end) : nullptr;
        size_t el = end ? end->size() : 0;
        if (end && !ep) ep = detail::bytes("");  // an empty bound is a bound: NULL means none
        call([&](bitgask_error **e) {
            return bitgask_iter_range(h_, detail::bytes(start), start.size(), ep, el, &it, e);
        });
        return cursor(it);
    }

    // Writes every operation of b all or nothing (b is unchanged: it can be written again).
    void write(const batch &b) {
        bitgask_batch *c = b.get();
        call([&](bitgask_error **e) { return bitgask_write(h_, c, e); });
    }

    // Begins an optimistic transaction (see txn). It must end before this db is closed.
    txn begin() {
        bitgask_txn *t = nullptr;
        call([&](bitgask_error **e) { return bitgask_txn_begin(h_, &t, e); });
        return txn(t);
    }

    // Runs f(txn &) in a fresh transaction and commits it; after a conflict runs it again, up to
    // attempts runs in all (then the last bitgask::conflict propagates). Returns what f returned.
    // An exception from f discards the transaction and propagates. f may run more than once.
    template <class F>
    std::invoke_result_t<F &, txn &> update(F &&f, int attempts = 10) {
        if (attempts < 1) throw error(BITGASK_E_INVALID_ARG, "invalid argument: attempts must be at least 1");
        for (int i = 1;; i++) {
            txn t = begin();
            try {
                if constexpr (std::is_void_v<std::invoke_result_t<F &, txn &>>) {
                    f(t);
                    t.commit();
                    return;
                } else {
                    auto result = f(t);
                    t.commit();
                    return result;
                }
            } catch (const conflict &) {
                if (i >= attempts) throw;
            }
        }
    }

    // Makes every write so far durable (needed only with per-write sync off).
    void sync() {
        call([&](bitgask_error **e) { return bitgask_sync(h_, e); });
    }

    bitgask::stats stats() const {
        bitgask::stats out{};
        call([&](bitgask_error **e) { return bitgask_stats_get(h_, &out, e); });
        return out;
    }

    // A full merge (only when its trigger holds, unless force); whether one ran.
    bool merge(bool force = false) {
        bool merged = false;
        call([&](bitgask_error **e) { return bitgask_merge(h_, force, &merged, e); });
        return merged;
    }

    // A point-in-time copy into directory dest (must not exist, or be empty).
    void backup(const std::string &dest) const {
        call([&](bitgask_error **e) { return bitgask_backup(h_, dest.c_str(), e); });
    }

   private:
    explicit db(bitgask_db *h) noexcept : h_(h) {}

    // Every call on a db that is not open throws BITGASK_E_CLOSED rather than passing NULL.
    template <class F>
    bitgask_status call(F &&f) const {
        if (!h_) throw error(BITGASK_E_CLOSED, "closed: the database is not open");
        return detail::call(std::forward<F>(f));
    }

    // Throws the error of a key bitgask_multi_get could not read: get()'s, with its detail, or
    // one with the status's text if the key reads by now.
    [[noreturn]] void fail_for_key(std::string_view k, bitgask_status s) const {
        get(k);
        detail::raise(s, nullptr);
    }

    void close_quietly() noexcept { BITGASK_HPP_CLOSE(std::exchange(h_, nullptr), nullptr); }

    bitgask_db *h_ = nullptr;
};

// The library's version, "MAJOR.MINOR.PATCH".
inline std::string_view version() noexcept { return bitgask_version(); }

}  // namespace bitgask

#endif /* BITGASK_HPP */
