// Port of seed 000's "60 Values" example: 60 processes, each adds 1 to its own kin::Value<int>
// (created with its index); the parent then prints them all.
//
// Python prints:
//   1,2,3,...,59,60,
#include <kin/kin.hpp>

#include <cstdio>
#include <vector>

void func(kin::Value<int> num) {
  auto v = num.locked();
  *v += 1;
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::vector<kin::Value<int>> num_list;
  std::vector<kin::Process> process_list;
  num_list.reserve(60);
  process_list.reserve(60);
  for (int i = 0; i < 60; ++i) {
    num_list.emplace_back(i);
    process_list.emplace_back(func, num_list[static_cast<std::size_t>(i)]);
    process_list.back().start();
  }
  for (auto& process : process_list) process.join();
  for (auto& num : num_list) std::printf("%d,", num.load());
  std::printf("\n");
  return 0;
}
