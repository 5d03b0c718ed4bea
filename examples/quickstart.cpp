// The C++ quickstart (README): build with c++ -std=c++17 quickstart.cpp $(pkg-config --cflags --libs bitgask)
#include <bitgask.hpp>
#include <chrono>
#include <iostream>

int main(int argc, char **argv) try {
    auto db = bitgask::db::open(argc > 1 ? argv[1] : "demo-db", bitgask::options().sync_on_put(false));
    db.put("user:1", "ada");
    db.put("session:9", "token", std::chrono::seconds(30));
    if (auto name = db.get("user:1")) std::cout << "user:1 = " << *name << "\n";
    for (auto &&[key, value] : db.scan("user:")) std::cout << key << " -> " << value << "\n";
    std::cout << "erased: " << db.erase("user:1") << ", left: " << db.contains("user:1") << "\n";
    return 0;
} catch (const bitgask::error &e) {
    std::cerr << "bitgask: " << e.what() << " (status " << e.status() << ")\n";
    return 1;
}
