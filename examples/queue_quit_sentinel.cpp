// Seed 003 Queue template: 2 putter processes and 3 getter processes; each putter ends with a
// 'quit' sentinel, and a getter that sees it puts it back for the others and exits.
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

void func_input(kin::Queue<std::string> input_queue, std::vector<std::string> name_list, int i) {
  for (auto& name : name_list) {
    std::printf("process %d put data %s\n", i, name.c_str());
    std::fflush(stdout);
    input_queue.put(name);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  input_queue.put("quit");
  std::printf("exit input.\n");
  std::fflush(stdout);
}

void func_get(kin::Queue<std::string> get_queue, int i) {
  for (;;) {
    auto name = get_queue.get();
    if (name == "quit") {
      get_queue.put("quit");
      std::printf("exit get.\n");
      std::fflush(stdout);
      return;
    }
    std::printf("process %d get data %s\n", i, name.c_str());
    std::fflush(stdout);
  }
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::Queue<std::string> queue;
  std::vector<std::vector<std::string>> name_lists{{"a", "b", "c"}, {"d", "e", "f"}, {"g", "h"}};
  const int num_put_jobs = 2, num_get_jobs = 3;
  std::vector<kin::Process> process_list;
  for (int i = 0; i < num_put_jobs; ++i) process_list.emplace_back(func_input, queue, name_lists[static_cast<std::size_t>(i)], i).start();
  for (int i = 0; i < num_get_jobs; ++i) process_list.emplace_back(func_get, queue, i + num_put_jobs).start();
  for (auto& p : process_list) p.join();
  std::printf("Done.\n");
}
