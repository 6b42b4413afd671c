// The seeds' Pool programs in one: a map of squares, apply_async with callbacks, get(timeout),
// close/join, and a worker killed mid-map (kin reports WorkerLost instead of Python's hang).
#include <kin/kin.hpp>
#include <kin/pool.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

int square(int x) { return x * x; }
int slow(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  return x;
}
int crash_on_7(int x) {
  if (x == 7) ::kill(::getpid(), SIGKILL);
  return x;
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::Pool pool{4};

  std::vector<int> sq = pool.map(square, std::vector{1, 2, 3, 4, 5});
  for (int v : sq) std::printf("%d ", v);
  std::printf("\n");

  auto r = pool.apply_async(square, 12, kin::callbacks{[](int& v) { std::printf("callback got %d\n", v); },
                                                       [](const std::exception& e) { std::printf("error: %s\n", e.what()); }});
  std::printf("apply_async -> %d\n", r.get());

  auto late = pool.apply_async(slow, 1);
  try {
    late.get(std::chrono::milliseconds(10));
  } catch (const kin::TimeoutError&) {
    std::printf("get(10ms): not ready yet (TimeoutError)\n");
  }
  std::printf("get() -> %d\n", late.get());

  try {
    pool.map(crash_on_7, std::vector{1, 2, 3, 4, 5, 6, 7, 8}, 1);
  } catch (const kin::WorkerLost& e) {
    std::printf("map: %s (pid %d, exitcode %d)\n", e.what(), static_cast<int>(e.pid()), e.status().exitcode());
  }
  std::printf("the pool still serves: %d\n", pool.apply(square, 9));

  pool.close();
  pool.join();
}
