// bitgask::batch and db.write: all or nothing, NUL bytes, limits, reuse, moved-from batches.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "check.hpp"

using namespace std::chrono_literals;
using namespace std::string_literals;

static_assert(!std::is_copy_constructible_v<bitgask::batch> && std::is_nothrow_move_constructible_v<bitgask::batch>);

TEST(write_applies_every_operation_of_a_batch) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    db.put("gone", "x");
    bitgask::batch b;
    b.put("a", "1").put("b", "2", 1min).erase("gone").erase("never-there");
    CHECK(b.size() == 4 && !b.empty());
    CHECK(!db.contains("a"));  // nothing is written before write()
    db.write(b);
    CHECK(db.get("a") == "1"s && db.get("b") == "2"s && !db.contains("gone"));
    auto ttl = db.ttl("b");
    CHECK(ttl && *ttl > 0ms && *ttl <= 1min);
}

TEST(a_batch_with_nul_byte_keys) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    std::vector<std::string> keys = {"\0"s, "\0\0"s, "a\0b"s, "a\0c"s, "\xff\0"s};
    bitgask::batch b;
    for (const auto &k : keys) b.put(k, k + "\0v"s);
    b.erase("a\0c"s);
    db.write(b);
    std::vector<std::string> got;
    for (auto &&[k, v] : db.scan()) {
        CHECK(v == std::string(k) + "\0v"s);
        got.emplace_back(k);
    }
    CHECK((got == std::vector<std::string>{"\0"s, "\0\0"s, "a\0b"s, "\xff\0"s}));
}

TEST(a_key_added_twice_ends_with_its_last_operation) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    db.write(bitgask::batch().put("k", "1").erase("k").put("j", "1").put("j", "2"));
    CHECK(!db.contains("k") && db.get("j") == "2"s);
}

TEST(a_batch_is_unchanged_by_write_and_can_be_cleared) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    bitgask::batch b;
    b.put("k", "v");
    db.write(b);
    db.erase("k");
    db.write(b);
    CHECK(db.get("k") == "v"s);
    b.clear();
    CHECK(b.empty());
    db.write(b);  // empty: writes nothing
}

TEST(a_batch_above_the_limits_writes_nothing_and_a_refused_operation_is_not_added) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast().max_value_size(8));
    bitgask::batch b;
    b.put("small", "v").put("big", std::string(9, 'v'));
    CHECK_THROWS(db.write(b), BITGASK_E_TOO_LARGE);
    CHECK(!db.contains("small"));
    CHECK_THROWS(b.put("", "v"), BITGASK_E_INVALID_ARG);
    CHECK_THROWS(b.put("k", "v", -1ms), BITGASK_E_INVALID_ARG);
    CHECK_THROWS(b.put("k", "v", 0ms), BITGASK_E_INVALID_ARG);
    CHECK(b.size() == 2);
}

TEST(a_moved_from_batch_and_a_closed_db_throw_closed) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    bitgask::batch a;
    a.put("k", "v");
    bitgask::batch b = std::move(a);
    CHECK(a.size() == 0 && b.size() == 1);  // NOLINT(bugprone-use-after-move): specified
    CHECK_THROWS(a.put("k", "v"), BITGASK_E_CLOSED);
    CHECK_THROWS(a.erase("k"), BITGASK_E_CLOSED);
    CHECK_THROWS(a.clear(), BITGASK_E_CLOSED);
    CHECK_THROWS(db.write(a), BITGASK_E_CLOSED);
    db.close();
    CHECK_THROWS(db.write(b), BITGASK_E_CLOSED);
}

// Batch n sets all ten keys to n. Reads in any order then never go down: a later read sees the
// database at or after an earlier one, where (batches being whole) every key was already >= it.
TEST(readers_never_see_part_of_a_batch) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    std::vector<std::string> keys;
    for (int i = 0; i < 10; i++) keys.push_back("k" + std::to_string(i));
    auto write = [&](int n) {
        bitgask::batch b;
        for (const auto &k : keys) b.put(k, std::to_string(n));
        db.write(b);
    };
    write(0);
    std::atomic<bool> stop{false}, torn{false};
    auto reader = [&](std::vector<std::string> order) {
        while (!stop) {
            int last = -1;
            for (const auto &k : order) {
                int n = std::stoi(*db.get(k));
                if (n < last) torn = true;
                last = n;
            }
        }
    };
    std::vector<std::string> reversed(keys.rbegin(), keys.rend());
    std::thread r1(reader, keys), r2(reader, reversed);
    for (int n = 1; n < 300; n++) write(n);
    stop = true;
    r1.join();
    r2.join();
    CHECK(!torn);
}
