// The tiny harness of the C++ binding's tests: TEST(name) registers a test, CHECK(cond) fails it
// with file:line, CHECK_THROWS(expr, status) expects a bitgask::error with that status. main()
// runs every test (or those named on the command line) and ends with "N passed, M failed".
#ifndef BITGASK_CXX_TESTS_CHECK_HPP
#define BITGASK_CXX_TESTS_CHECK_HPP

#include <atomic>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "bitgask.h"

namespace t {
// What bitgask::db's close calls in these tests: bitgask_close, whose status becomes
// BITGASK_E_POISONED while poison_closes is set (a poisoned handle cannot be made from outside
// the release library; the C library frees it and releases the LOCK all the same).
extern std::atomic<bool> poison_closes;
bitgask_status close_for_test(bitgask_db *db, bitgask_error **err) noexcept;
}  // namespace t
#define BITGASK_HPP_CLOSE t::close_for_test

#include "bitgask.hpp"

namespace t {

struct failure {
    std::string where, what;
};

using test_fn = void (*)();
std::vector<std::pair<const char *, test_fn>> &registry();
bool add(const char *name, test_fn fn);

// A fresh directory for one test (removed when the test ends); path() names a database in it.
class tmpdir {
   public:
    tmpdir();
    ~tmpdir();
    tmpdir(const tmpdir &) = delete;
    tmpdir &operator=(const tmpdir &) = delete;
    std::string path(const std::string &name = "db") const { return (dir_ / name).string(); }

   private:
    std::filesystem::path dir_;
};

// Per-write sync off: the tests are about the binding, not the disk.
inline bitgask::options fast() { return bitgask::options().sync_on_put(false).sync_on_delete(false); }

}  // namespace t

#define T_STR2(x) #x
#define T_STR(x) T_STR2(x)
#define T_WHERE __FILE__ ":" T_STR(__LINE__)

#define TEST(name)                                                  \
    static void test_##name();                                      \
    static const bool t_registered_##name = t::add(#name, test_##name); \
    static void test_##name()

#define CHECK(cond)                                                    \
    do {                                                               \
        if (!(cond)) throw t::failure{T_WHERE, "CHECK(" #cond ")"};    \
    } while (0)

#define CHECK_THROWS(expr, want)                                                                   \
    do {                                                                                           \
        try {                                                                                      \
            (void)(expr);                                                                          \
        } catch (const bitgask::error &e_) {                                                       \
            if (e_.status() != (want))                                                             \
                throw t::failure{T_WHERE, #expr " threw status " + std::to_string(e_.status()) +  \
                                              " (" + e_.what() + "), wanted " #want};             \
            break;                                                                                 \
        }                                                                                          \
        throw t::failure{T_WHERE, #expr " did not throw " #want};                                 \
    } while (0)

#endif
