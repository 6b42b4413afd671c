// Seed 000: 60 processes, each with its own Queue, send one number back; the parent collects.
//   main: final data=[0, 1, ..., 59]
#include <kin/kin.hpp>

#include <cstdio>
#include <vector>

void add_data(kin::Queue<int> queue, int data) {
  queue.put(data);
  std::printf("put %d in %s\n", data, kin::current_process().name.c_str());
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::vector<kin::Queue<int>> queue_list;
  std::vector<kin::Process> process_list;
  for (int i = 0; i < 60; ++i) {
    queue_list.emplace_back();
    process_list.emplace_back(add_data, queue_list.back(), i).start();
  }
  std::vector<int> data_list;
  for (auto& queue : queue_list) data_list.push_back(queue.get());
  for (auto& p : process_list) p.join();
  std::printf("main: final data=[");
  for (std::size_t i = 0; i < data_list.size(); ++i) std::printf("%s%d", i ? ", " : "", data_list[i]);
  std::printf("]\n");
}
