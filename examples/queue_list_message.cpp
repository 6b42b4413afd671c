// Seed 004: a child puts [42, None, 'hello'] on a Queue; the parent prints it.
//   [42, None, 'hello']
#include <kin/kin.hpp>

#include <cstdio>
#include <optional>
#include <string>
#include <tuple>

using Item = std::tuple<int, std::optional<int>, std::string>;

void f(kin::Queue<Item> q) { q.put(Item{42, std::nullopt, "hello"}); }

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::Queue<Item> q;
  kin::Process p{f, q};
  p.start();
  auto [n, none, s] = q.get();
  std::printf("[%d, %s, '%s']\n", n, none ? std::to_string(*none).c_str() : "None", s.c_str());
  p.join();
}
