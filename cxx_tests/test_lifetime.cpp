// open, options, moves, close, destruction; stats, sync, merge, backup, validate, repair, adopt.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <type_traits>
#include <utility>

#include "check.hpp"

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<bitgask::db> && std::is_nothrow_move_constructible_v<bitgask::db>);
static_assert(!std::is_copy_constructible_v<bitgask::cursor> && std::is_nothrow_move_constructible_v<bitgask::cursor>);
static_assert(std::is_copy_constructible_v<bitgask::options>);

TEST(the_destructor_closes_and_releases_the_lock) {
    t::tmpdir d;
    {
        auto db = bitgask::db::open(d.path());
        db.put("k", "v");
    }
    auto db = bitgask::db::open(d.path());
    CHECK(db.get("k") == std::string("v"));
}

TEST(close_is_idempotent_and_later_calls_throw_closed) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path());
    db.close();
    db.close();
    CHECK(!db.is_open());
    CHECK_THROWS(db.put("k", "v"), BITGASK_E_CLOSED);
    CHECK_THROWS(db.get("k"), BITGASK_E_CLOSED);
    CHECK_THROWS(db.scan(), BITGASK_E_CLOSED);
}

TEST(a_default_constructed_db_throws_closed) {
    bitgask::db db;
    CHECK(!db.is_open());
    CHECK_THROWS(db.contains("k"), BITGASK_E_CLOSED);
}

TEST(move_transfers_the_handle) {
    t::tmpdir d;
    auto a = bitgask::db::open(d.path());
    bitgask::db b = std::move(a);
    CHECK(!a.is_open() && b.is_open());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
    b.put("k", "v");
    CHECK_THROWS(a.put("k", "v"), BITGASK_E_CLOSED);
}

TEST(move_assignment_closes_the_previous_database) {
    t::tmpdir d;
    auto a = bitgask::db::open(d.path("one"));
    a = bitgask::db::open(d.path("two"));
    auto again = bitgask::db::open(d.path("one"));  // its LOCK was released
    CHECK(again.is_open());
}

TEST(options_chain_and_copy) {
    t::tmpdir d;
    auto base = bitgask::options().sync_on_put(false).max_file_size(1 << 20).compression(bitgask::codec::snappy);
    auto copy = base;
    copy.compression_threshold(64).sync_interval(1s).lock_timeout(10ms);
    auto db = bitgask::db::open(d.path(), copy);
    std::string big(10000, 'z');
    db.put("k", big);
    CHECK(db.get("k") == big);
}

TEST(every_option_setter_is_accepted) {
    t::tmpdir d;
    auto o = bitgask::options()
                 .sync_on_put(false)
                 .sync_on_delete(false)
                 .sync_interval(100ms)
                 .max_file_size(1 << 20)
                 .max_key_size(1024)
                 .max_value_size(1 << 20)
                 .default_ttl(0ms)
                 .hint_files(true)
                 .compression(bitgask::codec::none)
                 .compression_threshold(128)
                 .lock_timeout(0ms)
                 .merge_trigger_ratio(0.5)
                 .merge_min_total(1 << 20)
                 .merge_interval(0ms)
                 .merge_on_open(false)
                 .merge_max_file_size(1 << 20)
                 .garbage_ratio(0.3)
                 .min_merge_files(2)
                 .min_merge_total(1 << 20)
                 .max_merge_files(4)
                 .max_merge_bytes(1 << 30);
    auto db = bitgask::db::open(d.path(), o);
    CHECK(db.is_open());
}

TEST(a_refused_option_value_throws_invalid_arg_from_open) {
    t::tmpdir d;
    CHECK_THROWS(bitgask::db::open(d.path(), bitgask::options().merge_trigger_ratio(2.0)), BITGASK_E_INVALID_ARG);
    CHECK_THROWS(bitgask::db::open(d.path(), bitgask::options().sync_interval(-1ms)), BITGASK_E_INVALID_ARG);
}

TEST(stats_sync_and_merge) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast().max_file_size(256).merge_interval(0ms));
    for (int round = 0; round < 5; round++)
        for (int i = 0; i < 10; i++) db.put("k" + std::to_string(i), std::string(20, char('0' + round)));
    db.sync();
    auto before = db.stats();
    CHECK(before.keys == 10 && before.data_files > 1 && before.dead_bytes > 0);
    CHECK(!db.merge());
    CHECK(db.merge(true));
    CHECK(db.stats().merges == 1 && db.stats().dead_bytes < before.dead_bytes);
    CHECK(db.get("k3") == std::string(20, '4'));
}

TEST(backup_opens_as_a_database) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    db.put("k", "v");
    db.backup(d.path("copy"));
    auto copy = bitgask::db::open(d.path("copy"));
    CHECK(copy.get("k") == std::string("v"));
    CHECK_THROWS(db.backup(d.path("copy")), BITGASK_E_INVALID_ARG);
}

TEST(validate_and_repair_a_damaged_database) {
    t::tmpdir d;
    auto opts = t::fast().max_file_size(256).hint_files(false);
    {
        auto db = bitgask::db::open(d.path(), opts);
        for (int i = 0; i < 20; i++) db.put("key" + std::to_string(i), std::string(40, 'x'));
    }
    auto file = std::filesystem::path(d.path()) / "data" / "000000001.data";
    {
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(30);
        char c = 0;
        f.get(c);
        f.seekp(30);
        f.put(static_cast<char>(c ^ 0x04));
    }
    CHECK_THROWS(bitgask::db::open(d.path(), opts), BITGASK_E_CORRUPT);
    auto before = bitgask::validate(d.path());
    CHECK(!before.clean && !before.problems.empty());
    CHECK(before.problems[0].kind == "corrupt_record" && before.problems[0].file == "data/000000001.data");
    auto after = bitgask::repair(d.path());
    CHECK(after.clean && after.counts.bytes_quarantined > 0);
    CHECK(after.json.find("\"clean\":true") != std::string::npos && !after.text.empty());
    CHECK(bitgask::db::open(d.path(), opts).is_open());
}

TEST(repair_of_an_open_database_throws_locked) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path());
    CHECK_THROWS(bitgask::repair(d.path()), BITGASK_E_LOCKED);
}

// While set, bitgask::db's close reports BITGASK_E_POISONED after closing for real (check.hpp).
struct poisoned_closes {
    poisoned_closes() { t::poison_closes = true; }
    ~poisoned_closes() { t::poison_closes = false; }
};

TEST(close_of_a_poisoned_handle_throws_once_and_releases_the_lock) {
    t::tmpdir d;
    poisoned_closes poison;
    auto db = bitgask::db::open(d.path());
    db.put("k", "v");
    CHECK_THROWS(db.close(), BITGASK_E_POISONED);
    CHECK(!db.is_open());
    db.close();  // closed already: nothing to throw
    CHECK_THROWS(db.get("k"), BITGASK_E_CLOSED);
    auto again = bitgask::db::open(d.path());  // the LOCK was released
    CHECK(again.get("k") == std::string("v"));
}

TEST(the_destructor_of_a_poisoned_handle_swallows_the_error_and_releases_the_lock) {
    t::tmpdir d;
    {
        poisoned_closes poison;
        auto db = bitgask::db::open(d.path());
        db.put("k", "v");
        auto other = bitgask::db::open(d.path("other"));
        other = std::move(db);  // move assignment closes "other" quietly too
    }
    auto db = bitgask::db::open(d.path());
    CHECK(db.contains("k"));
}

// A directory as the Go bitgask leaves it after opening and closing an empty database: its meta
// layout, an empty data file and an empty hint file, names six digits wide.
static void go_empty_dir(const std::string &root) {
    auto data = std::filesystem::path(root) / "data";
    std::filesystem::create_directories(data);
    std::ofstream(data / "bitgask.meta") << "{\n  \"version\": 1,\n  \"created\": \"2026-01-01T00:00:00Z\"\n}";
    std::ofstream(data / "000001.data");
    std::ofstream(data / "000001.hint");
}

TEST(adopt_converts_a_go_directory_that_open_refuses) {
    t::tmpdir d;
    go_empty_dir(d.path());
    CHECK_THROWS(bitgask::db::open(d.path()), BITGASK_E_FORMAT_VERSION);
    CHECK(bitgask::validate(d.path()).problems.at(0).kind == "foreign");
    auto r = bitgask::adopt(d.path(), bitgask::options().adopt_discard_original(true));
    CHECK(r.clean && r.adopt && !r.adopt->already_bitgask && r.adopt->file_id_width == 6);
    CHECK(!std::filesystem::exists(std::filesystem::path(d.path()) / "go-original"));
    CHECK(bitgask::db::open(d.path()).stats().keys == 0);
    auto again = bitgask::adopt(d.path());
    CHECK(again.adopt && again.adopt->already_bitgask);
    CHECK(!bitgask::validate(d.path()).adopt);
}
