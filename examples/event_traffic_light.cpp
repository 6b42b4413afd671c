// Port of seed 004's Event example: ten cars (threads) print their number and wait at a red
// light; typing 1 at the ">>>" prompt turns it green and each prints number + 100. The light is a
// kin::Event, so the cars could just as well be processes.
// Without a terminal (stdin at end of file) the light turns green too; any other answer keeps it
// red and the cars go home.
#include <kin/event.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

int main() {
  kin::Event event;
  std::atomic<bool> stays_red{false};
  std::mutex out;
  std::vector<std::thread> cars;
  for (int i = 0; i < 10; ++i) {
    cars.emplace_back([&, i] {
      {
        std::lock_guard g{out};
        std::printf("%d\n", i);
      }
      while (!event.wait(std::chrono::milliseconds(100))) {
        if (stays_red.load()) return;  // the light will not change: go home
      }
      std::lock_guard g{out};
      std::printf("%d\n", i + 100);
    });
  }
  event.clear();  // red
  {
    std::lock_guard g{out};
    std::printf(">>>");
    std::fflush(stdout);
  }
  std::string inp;
  bool got = static_cast<bool>(std::getline(std::cin, inp));
  if (!got || inp == "1") {
    event.set();  // green
  } else {
    std::lock_guard g{out};
    std::printf("the light stays red\n");
    stays_red = true;
  }
  for (auto& c : cars) c.join();
  return 0;
}
