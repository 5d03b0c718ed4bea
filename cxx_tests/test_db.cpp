// put, get, erase, contains, TTL; binary keys; errors with their status.
#include <chrono>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "check.hpp"

using namespace std::chrono_literals;
using namespace std::string_view_literals;

TEST(put_then_get) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    db.put("k", "v");
    CHECK(db.get("k") == std::optional<std::string>("v"));
}

TEST(get_of_an_absent_key_is_empty) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    CHECK(!db.get("nope").has_value());
}

TEST(keys_and_values_with_nul_bytes) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    const auto key = "\0a\0\xff"sv;
    const std::string value("x\0y\0", 4);
    db.put(key, value);
    CHECK(db.get(key) == value);
    CHECK(!db.contains("\0a"sv));
}

TEST(empty_value_round_trips) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    db.put("k", "");
    CHECK(db.get("k") == std::string());
}

TEST(erase_tells_whether_the_key_existed) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    db.put("k", "v");
    CHECK(db.erase("k"));
    CHECK(!db.erase("k"));
    CHECK(!db.contains("k"));
}

TEST(contains) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    db.put("k", "v");
    CHECK(db.contains("k"));
    CHECK(!db.contains("j"));
}

TEST(an_empty_key_is_invalid) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    CHECK_THROWS(db.put("", "v"), BITGASK_E_INVALID_ARG);
}

TEST(a_key_above_the_limit_is_too_large_and_names_the_limit) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast().max_key_size(4));
    CHECK_THROWS(db.put("12345", "v"), BITGASK_E_TOO_LARGE);
    try {
        db.put("12345", "v");
    } catch (const bitgask::error &e) {
        CHECK(std::string(e.what()).find("max_key_size") != std::string::npos);
    }
}

TEST(a_put_with_a_ttl_expires) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    db.put("k", "v", 30ms);
    CHECK(db.contains("k"));
    std::this_thread::sleep_for(80ms);
    CHECK(!db.get("k"));
    CHECK(!db.ttl("k"));
}

TEST(ttl_tells_remaining_no_expiry_and_absent_apart) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    db.put("forever", "v");
    db.put("soon", "v", std::chrono::seconds(30));
    CHECK(db.ttl("forever") == std::chrono::milliseconds::max());
    auto left = db.ttl("soon");
    CHECK(left && *left > 29s && *left <= 30s);
    CHECK(!db.ttl("absent").has_value());
}

TEST(expire_and_persist) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    db.put("k", "v");
    CHECK(db.expire("k", 10s));
    CHECK(db.ttl("k") <= std::optional<std::chrono::milliseconds>(10s));
    CHECK(db.persist("k"));
    CHECK(db.ttl("k") == std::chrono::milliseconds::max());
    CHECK(!db.expire("absent", 1s));
    CHECK(!db.persist("absent"));
    db.put("k", "v");
    bool threw = false;
    try {
        db.expire("k", 0ms);
    } catch (const bitgask::error &e) {
        threw = e.status() == BITGASK_E_INVALID_ARG;
    }
    CHECK(threw);
    CHECK(db.contains("k"));
}

TEST(bad_ttls_throw_invalid_arg_and_write_nothing) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    CHECK_THROWS(db.put("k", "v", 0ms), BITGASK_E_INVALID_ARG);
    CHECK_THROWS(db.put("k", "v", -5ms), BITGASK_E_INVALID_ARG);
    CHECK(!db.contains("k"));
}

TEST(errors_are_runtime_errors_with_the_status_and_conflict_is_an_error) {
    static_assert(std::is_base_of_v<std::runtime_error, bitgask::error>);
    static_assert(std::is_base_of_v<bitgask::error, bitgask::conflict>);
    t::tmpdir d;
    auto db = bitgask::db::open(d.path());
    try {
        bitgask::db::open(d.path());
        CHECK(!"a second open of a locked database succeeded");
    } catch (const std::runtime_error &e) {
        auto *be = dynamic_cast<const bitgask::error *>(&e);
        CHECK(be && be->status() == BITGASK_E_LOCKED);
        CHECK(std::string(e.what()).find("LOCK") != std::string::npos);
    }
}

TEST(eight_threads_share_one_db) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    std::vector<std::thread> threads;
    std::vector<int> ok(8, 0);
    for (int n = 0; n < 8; n++)
        threads.emplace_back([&, n] {
            for (int i = 0; i < 200; i++) {
                std::string k = "t" + std::to_string(n) + "-" + std::to_string(i);
                db.put(k, k);
                if (db.get(k) == k && db.contains(k)) ok[n]++;
                if (i % 2) db.erase(k);
            }
        });
    for (auto &t : threads) t.join();
    for (int n = 0; n < 8; n++) CHECK(ok[n] == 200);
    CHECK(db.stats().keys == 8 * 100);
}

TEST(version_matches_the_header) { CHECK(bitgask::version() == BITGASK_VERSION_STRING); }
