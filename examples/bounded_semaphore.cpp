// Port of seed 004's semaphore example: 20 workers, a kin::BoundedSemaphore lets at most 5 run
// at once (each "runs" 1 s, so the program takes about 4 s). Python prints "run the thread: n"
// for n = 0..19, five at a time, in an order that varies from run to run.
#include <kin/bounded_semaphore.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

int main() {
  kin::BoundedSemaphore semaphore{5};  // at most 5 workers at the same time
  std::vector<std::thread> workers;
  for (int i = 0; i < 20; ++i) {
    workers.emplace_back([&semaphore, i] {
      std::lock_guard g{semaphore};
      std::printf("run the thread: %d\n", i);
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::seconds(1));
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}
