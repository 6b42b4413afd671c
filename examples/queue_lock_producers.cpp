// Seed 000 Queue(3): 5 producer processes put one item each, 4 consumer processes (A-D) get
// one each and print under a shared Lock so lines do not interleave.
//   process-B get: process-1's 1   (order varies)
#include <kin/kin.hpp>

#include <cstdio>
#include <string>
#include <vector>

void inputQ(int i, kin::Queue<std::string> q) { q.put("process-" + std::to_string(i) + "'s " + std::to_string(i)); }

void outputQ(char c, kin::Queue<std::string> q, kin::Lock lock) {
  auto info = q.get();
  std::lock_guard g{lock};
  std::printf("process-%c get: %s\n", c, info.c_str());
  std::fflush(stdout);
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::Lock lock;
  kin::Queue<std::string> q{3};
  std::vector<kin::Process> input_processes, output_processes;
  for (int i = 0; i < 5; ++i) input_processes.emplace_back(inputQ, i, q).start();
  for (char c : std::string("ABCD")) output_processes.emplace_back(outputQ, c, q, lock).start();
  for (auto& p : input_processes) p.join();
  q.close();
  for (auto& p : output_processes) p.join();
}
