// Runs the C++ binding's tests: all, or those named on the command line.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "check.hpp"

namespace t {

std::vector<std::pair<const char *, test_fn>> &registry() {
    static std::vector<std::pair<const char *, test_fn>> tests;
    return tests;
}

bool add(const char *name, test_fn fn) {
    registry().emplace_back(name, fn);
    return true;
}

std::atomic<bool> poison_closes{false};

bitgask_status close_for_test(bitgask_db *db, bitgask_error **err) noexcept {
    bitgask_status s = bitgask_close(db, err);
    return s == BITGASK_OK && db && poison_closes ? BITGASK_E_POISONED : s;
}

tmpdir::tmpdir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bitgask-cxx-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw failure{T_WHERE, "mkdtemp failed"};
    dir_ = tmpl;
}

tmpdir::~tmpdir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

}  // namespace t

static bool selected(int argc, char **argv, const char *name) {
    if (argc < 2) return true;
    for (int i = 1; i < argc; i++)
        if (std::strcmp(argv[i], name) == 0) return true;
    return false;
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    for (const auto &[name, fn] : t::registry()) {
        if (!selected(argc, argv, name)) continue;
        try {
            fn();
            passed++;
        } catch (const t::failure &f) {
            std::printf("FAIL %s: %s: %s\n", name, f.where.c_str(), f.what.c_str());
            failed++;
        } catch (const std::exception &e) {
            std::printf("FAIL %s: unexpected exception: %s\n", name, e.what());
            failed++;
        }
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed || passed == 0 ? 1 : 0;
}
