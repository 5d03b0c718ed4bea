// bitgask::txn, db.begin and db.update: commit, conflicts, use after the end, transfers.
#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "check.hpp"

using namespace std::chrono_literals;
using namespace std::string_literals;

static_assert(!std::is_copy_constructible_v<bitgask::txn> && std::is_nothrow_move_constructible_v<bitgask::txn>);
static_assert(std::is_base_of_v<bitgask::error, bitgask::conflict>);

TEST(commit_writes_everything_at_once) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    db.put("n", "1");
    auto t = db.begin();
    t.put("n", *t.get("n") + "1");
    t.put("m", "x", 1min);
    CHECK(db.get("n") == "1"s && !db.contains("m"));
    t.commit();
    CHECK(!t.active());
    CHECK(db.get("n") == "11"s && db.get("m") == "x"s);
}

TEST(reads_see_the_transactions_own_writes_first) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    db.put("a", "db");
    db.put("b", "db");
    auto t = db.begin();
    t.put("a", "mine");
    t.erase("b");
    t.put("c\0"s, "new");
    CHECK(t.get("a") == "mine"s && !t.get("b") && !t.contains("b") && t.contains("c\0"s));
    std::vector<std::string> keys;
    for (auto &&[k, v] : t.scan()) keys.emplace_back(k);
    CHECK((keys == std::vector<std::string>{"a", "c\0"s}));
    t.commit();
    CHECK(!db.contains("b"));
}

TEST(a_conflicting_commit_throws_conflict_and_writes_nothing) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    db.put("k", "1");
    auto t = db.begin();
    (void)t.get("k");
    db.put("k", "changed");
    t.put("k", "mine");
    t.put("other", "x");
    bool thrown = false;
    try {
        t.commit();
    } catch (const bitgask::conflict &e) {
        thrown = e.status() == BITGASK_E_CONFLICT;
    }
    CHECK(thrown && !t.active());
    CHECK(db.get("k") == "changed"s && !db.contains("other"));
}

TEST(a_read_that_found_nothing_conflicts_too) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    auto t = db.begin();
    CHECK(!t.contains("k"));
    db.put("k", "v");
    t.put("flag", "1");
    CHECK_THROWS(t.commit(), BITGASK_E_CONFLICT);
}

TEST(blind_writes_never_conflict) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    auto t = db.begin();
    t.put("k", "mine");
    db.put("k", "theirs");
    t.commit();
    CHECK(db.get("k") == "mine"s);
}

TEST(the_destructor_and_discard_write_nothing) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    {
        auto t = db.begin();
        t.put("a", "v");
    }
    auto t = db.begin();
    t.put("b", "v");
    t.discard();
    t.discard();
    CHECK(!db.contains("a") && !db.contains("b"));
}

TEST(use_after_commit_discard_conflict_or_move_throws_closed) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    std::vector<bitgask::txn> ended;
    for (int how = 0; how < 4; how++) {
        auto t = db.begin();
        (void)t.get("k");
        if (how == 0) t.commit();
        if (how == 1) t.discard();
        if (how == 2) {
            db.put("k", "x");
            CHECK_THROWS(t.commit(), BITGASK_E_CONFLICT);
        }
        if (how == 3) {
            auto other = std::move(t);
            other.discard();
        }
        CHECK(!t.active());  // NOLINT(bugprone-use-after-move): specified
        CHECK_THROWS(t.get("k"), BITGASK_E_CLOSED);
        CHECK_THROWS(t.contains("k"), BITGASK_E_CLOSED);
        CHECK_THROWS(t.put("k", "v"), BITGASK_E_CLOSED);
        CHECK_THROWS(t.erase("k"), BITGASK_E_CLOSED);
        CHECK_THROWS(t.scan(), BITGASK_E_CLOSED);
        CHECK_THROWS(t.commit(), BITGASK_E_CLOSED);
        t.discard();
    }
    bitgask::txn none;
    CHECK_THROWS(none.commit(), BITGASK_E_CLOSED);
}

TEST(use_after_the_db_closed_throws_closed) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    auto t = db.begin();
    t.put("k", "v");
    auto c = t.scan();
    db.close();
    CHECK_THROWS(t.get("k"), BITGASK_E_CLOSED);
    CHECK_THROWS(c.next(), BITGASK_E_CLOSED);
    CHECK_THROWS(t.commit(), BITGASK_E_CLOSED);  // frees it all the same
    CHECK_THROWS(db.begin(), BITGASK_E_CLOSED);
    db = bitgask::db::open(d.path(), t::fast());
    CHECK(!db.contains("k"));
}

TEST(update_runs_again_after_a_conflict) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    db.put("n", "0");
    std::vector<std::string> runs;
    int got = db.update([&](bitgask::txn &t) {
        std::string v = *t.get("n");
        runs.push_back(v);
        if (runs.size() == 1) db.put("n", "10");  // the first run conflicts
        t.put("n", std::to_string(std::stoi(v) + 1));
        return std::stoi(v) + 1;
    });
    CHECK(got == 11 && (runs == std::vector<std::string>{"0", "10"}) && db.get("n") == "11"s);
}

TEST(update_gives_up_and_passes_exceptions_through) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    int runs = 0;
    CHECK_THROWS(db.update(
                     [&](bitgask::txn &t) {
                         runs++;
                         (void)t.get("k");
                         db.put("k", std::to_string(runs));
                         t.put("mine", "x");
                     },
                     3),
                 BITGASK_E_CONFLICT);
    CHECK(runs == 3 && !db.contains("mine"));
    bool passed = false;
    try {
        db.update([](bitgask::txn &t) {
            t.put("mine", "x");
            throw std::out_of_range("mine");
        });
    } catch (const std::out_of_range &) {
        passed = true;
    }
    CHECK(passed && !db.contains("mine"));
    CHECK_THROWS(db.update([](bitgask::txn &) {}, 0), BITGASK_E_INVALID_ARG);
}

// Eight threads move amounts between ten accounts with update(); an auditor's read-only
// transactions (committed, so their reads were all current at once) always find the same total.
TEST(transfers_under_threads_keep_the_total) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    const int accounts = 10, start = 100;
    auto name = [](int i) { return "acct:" + std::to_string(i); };
    bitgask::batch b;
    for (int i = 0; i < accounts; i++) b.put(name(i), std::to_string(start));
    db.write(b);
    std::atomic<bool> stop{false}, bad{false};
    std::atomic<int> runs{0};
    std::thread auditor([&] {
        while (!stop) {
            int total = db.update(
                [](bitgask::txn &t) {
                    int sum = 0;
                    for (auto &&[k, v] : t.scan("acct:")) sum += std::stoi(std::string(v));
                    return sum;
                },
                1000);
            if (total != accounts * start) bad = true;
        }
    });
    std::vector<std::thread> movers;
    for (int g = 0; g < 8; g++) {
        movers.emplace_back([&, g] {
            std::mt19937 rng(g);
            for (int i = 0; i < 100; i++) {
                std::string src = name(rng() % accounts), dst = name(rng() % accounts);
                int amount = static_cast<int>(rng() % 5) + 1;
                db.update(
                    [&](bitgask::txn &t) {
                        runs++;
                        int s = std::stoi(*t.get(src));
                        std::this_thread::yield();  // another thread in between the read and the write
                        t.put(src, std::to_string(s - amount));
                        t.put(dst, std::to_string(std::stoi(*t.get(dst)) + amount));  // src == dst: its own write
                    },
                    1000);
            }
        });
    }
    for (auto &m : movers) m.join();
    stop = true;
    auditor.join();
    CHECK(!bad);
    int total = 0;
    for (int i = 0; i < accounts; i++) total += std::stoi(*db.get(name(i)));
    CHECK(total == accounts * start);
    CHECK(runs > 800);  // some transfers conflicted and ran again
}
