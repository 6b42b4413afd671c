// Seed 004: a Process subclass overriding run() (NewProcess), here as Python docs' Clock:
// each child prints its number and pid every interval; the parent stops them after a while
// with terminate() (the seed's loop never ends on its own).
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

struct Clock : kin::Process {
  explicit Clock(int num) : num(num) {}
  void run() override {
    for (;;) {
      std::printf("我是进程 %d , 我的pid是: %d\n", num, ::getpid());
      std::fflush(stdout);
      std::this_thread::sleep_for(300ms);
    }
  }
  int num;
};

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::vector<std::unique_ptr<Clock>> clocks;
  for (int i = 0; i < 2; ++i) {
    clocks.push_back(std::make_unique<Clock>(i));
    clocks.back()->start();
  }
  std::this_thread::sleep_for(1s);
  for (auto& c : clocks) {
    c->terminate();
    c->join();
    std::printf("clock %d exitcode %d\n", c->num, *c->exitcode());
  }
}
