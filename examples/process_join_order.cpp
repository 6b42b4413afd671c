// Seed 003: start several children, then join them all ("started then joined"), against
// joining each right after starting it ("one after the other"). The first run interleaves;
// the second runs the children strictly in order.
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

void run_proc(const std::string& name) {
  std::printf("Run child process %s (%d)...\n", name.c_str(), ::getpid());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::printf("Parent process %d.\n", ::getpid());
  std::vector<kin::Process> process_list;
  for (int i = 0; i < 4; ++i) {
    process_list.emplace_back(run_proc, "test-" + std::to_string(i));
    std::printf("%dth Child process will start.\n", i);
    std::fflush(stdout);
    process_list.back().start();
  }
  for (auto& p : process_list) p.join();
  std::printf("Done.\n");

  std::printf("-- one after the other --\n");
  for (int i = 0; i < 4; ++i) {
    kin::Process p{run_proc, "seq-" + std::to_string(i)};
    p.start();
    p.join();
  }
  std::printf("Done.\n");
}
