// db::multi_get: the values get() gives, for many keys in one call; a damaged record throws.
#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

using namespace std::chrono_literals;
using namespace std::string_view_literals;

TEST(multi_get_answers_as_get_does) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    std::vector<std::string> names;
    for (int i = 0; i < 50; i++) {
        names.push_back("key" + std::to_string(i));
        if (i % 4 != 3) db.put(names.back(), "value " + std::to_string(i));
    }
    db.erase("key5");
    db.put("brief", "v", 1ms);
    std::this_thread::sleep_for(5ms);
    names.push_back("brief");
    names.push_back("key1");
    std::vector<std::string_view> keys(names.begin(), names.end());
    keys.push_back("\0x"sv);
    auto got = db.multi_get(keys);
    CHECK(got.size() == keys.size());
    for (size_t i = 0; i < keys.size(); i++) CHECK(got[i] == db.get(keys[i]));
    CHECK(got[1] == std::optional<std::string>("value 1") && !got[3] && !got[5] && got[51] == got[1]);
}

TEST(multi_get_of_no_keys_is_empty_and_bad_keys_throw) {
    t::tmpdir d;
    auto db = bitgask::db::open(d.path(), t::fast());
    CHECK(db.multi_get({}).empty());
    CHECK_THROWS(db.multi_get({"k", ""}), BITGASK_E_INVALID_ARG);
    bitgask::db closed;
    CHECK_THROWS(closed.multi_get({"k"}), BITGASK_E_CLOSED);
}

TEST(multi_get_throws_corruption_for_a_flipped_bit) {
    t::tmpdir d;
    {
        auto db = bitgask::db::open(d.path(), t::fast());
        for (int i = 0; i < 10; i++) db.put("key" + std::to_string(i), "value number " + std::to_string(i));
    }
    std::string file = d.path() + "/data/000000001.data";
    std::string raw;
    {
        std::ifstream in(file, std::ios::binary);
        raw.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    size_t at = raw.find("value number 4");
    CHECK(at != std::string::npos);
    raw[at + 13] ^= 1;
    {
        std::ofstream out(file, std::ios::binary | std::ios::trunc);
        out.write(raw.data(), static_cast<std::streamsize>(raw.size()));
    }
    auto db = bitgask::db::open(d.path(), t::fast());
    CHECK_THROWS(db.multi_get({"key3", "key4", "key5"}), BITGASK_E_CORRUPT);
    auto got = db.multi_get({"key3", "key5"});
    CHECK(got[0] == std::optional<std::string>("value number 3") && got[1] == std::optional<std::string>("value number 5"));
}
