// Daemon vs non-daemon children (seed 001's daemon section, for processes): when main
// returns, kin joins non-daemon children — their work finishes — and terminates daemon ones.
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

using namespace std::chrono_literals;

void count(const char* who) {
  for (int i = 0; i < 3; ++i) {
    std::printf("i=%d, %s daemon is %s\n", i, who, kin::current_process().daemon ? "True" : "False");
    std::fflush(stdout);
    std::this_thread::sleep_for(200ms);
  }
  std::printf("%s finished\n", who);
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::Process worker{kin::ProcessOptions{.name = "worker"}, count, "worker"};
  kin::Process helper{kin::ProcessOptions{.name = "helper", .daemon = true}, count, "helper"};
  worker.start();
  helper.start();
  std::this_thread::sleep_for(300ms);
  std::printf("Main process daemon is %s; main returns now\n", kin::current_process().daemon ? "True" : "False");
  std::fflush(stdout);
  // At exit kin terminates "helper" (it never prints "finished") and joins "worker".
}
