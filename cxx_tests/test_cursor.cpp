// scan and range: order, prefixes, bounds, range-for with structured bindings, use after close.
#include <string>
#include <utility>
#include <vector>

#include "check.hpp"

using namespace std::string_view_literals;

namespace {

using pairs = std::vector<std::pair<std::string, std::string>>;

bitgask::db filled(const t::tmpdir &d) {
    auto db = bitgask::db::open(d.path(), t::fast());
    for (auto k : {"d", "c", "ba", "b", "a"}) db.put(k, std::string(k) + "!");
    db.put("b\0x"sv, "nul");
    return db;
}

pairs collect(bitgask::cursor &&c) {
    pairs out;
    for (auto &&[k, v] : c) out.emplace_back(k, v);
    return out;
}

}  // namespace

TEST(range_for_over_scan_is_in_byte_order) {
    t::tmpdir d;
    auto db = filled(d);
    pairs got;
    for (auto &&[k, v] : db.scan()) got.emplace_back(k, v);
    CHECK((got == pairs{{"a", "a!"}, {"b", "b!"}, {std::string("b\0x", 3), "nul"}, {"ba", "ba!"}, {"c", "c!"},
                        {"d", "d!"}}));
}

TEST(scan_with_a_prefix) {
    t::tmpdir d;
    auto db = filled(d);
    CHECK((collect(db.scan("b")) == pairs{{"b", "b!"}, {std::string("b\0x", 3), "nul"}, {"ba", "ba!"}}));
    CHECK(collect(db.scan("z")).empty());
}

TEST(range_is_start_inclusive_end_exclusive) {
    t::tmpdir d;
    auto db = filled(d);
    CHECK((collect(db.range("b", "c")) == pairs{{"b", "b!"}, {std::string("b\0x", 3), "nul"}, {"ba", "ba!"}}));
    CHECK((collect(db.range("c")) == pairs{{"c", "c!"}, {"d", "d!"}}));
    CHECK((collect(db.range("", "b")) == pairs{{"a", "a!"}}));
    CHECK(collect(db.range("a", ""sv)).empty());  // an empty end is a bound, not "none"
}

TEST(next_key_value_without_iterators) {
    t::tmpdir d;
    auto db = filled(d);
    auto c = db.scan("c");
    CHECK(c.next() && c.key() == "c" && c.value() == "c!");
    CHECK(!c.next());
    CHECK(!c.next());
}

TEST(begin_after_a_partial_loop_resumes) {
    t::tmpdir d;
    auto db = filled(d);
    auto c = db.scan();
    auto it = c.begin();
    CHECK(it->first == "a");
    ++it;
    CHECK(c.begin()->first == "b");
    int rest = 0;
    for (auto it2 = c.begin(); it2 != c.end(); ++it2) rest++;
    CHECK(rest == 5);
    CHECK(c.begin() == c.end());
}

TEST(a_cursor_used_after_close_throws_closed) {
    t::tmpdir d;
    auto db = filled(d);
    auto c = db.scan();
    CHECK(c.next());
    db.close();
    CHECK_THROWS(c.next(), BITGASK_E_CLOSED);
}

TEST(a_moved_cursor_keeps_its_place) {
    t::tmpdir d;
    auto db = filled(d);
    auto a = db.scan();
    CHECK(a.next() && a.key() == "a");
    bitgask::cursor b = std::move(a);
    CHECK(b.next() && b.key() == "b");
}
