// Port of seed 004's process-lock example, plus the lost-update demonstration it describes.
//
// Part 1 (as in the tutorial): two processes add 1 and 3 to a shared value five times each,
// printing the running total. Without a lock their steps interleave ("1|4|5|8|..."); with a
// kin::Lock held around the loop, one process runs all its steps before the other:
//   1|2|3|4|5|8|11|14|17|20|
//
// Part 2: four processes each increment a counter 1000000 times, starting together. On a kin::RawValue (no lock,
// read-modify-write from several processes) updates are lost and the total falls short of
// 400000; on a kin::Value under its lock the total is exact.
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

void job(kin::Value<int> v, int num) {
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    int now = 0;
    {
      auto g = v.locked();
      *g += num;
      now = *g;
    }
    std::printf("%d|", now);
    std::fflush(stdout);
  }
}

void job_locked(kin::Value<int> v, int num, kin::Lock l) {
  std::lock_guard g{l};  // the whole loop: one process at a time
  job(v, num);
}

void raw_increments(kin::RawValue<long> counter, int n, kin::Event go) {
  go.wait();  // all start together, so they really overlap
  for (int i = 0; i < n; ++i) {
    long x = counter.load();  // read ...
    counter.store(x + 1);     // ... then write: another process may have written in between
  }
}

void locked_increments(kin::Value<long> counter, int n, kin::Event go) {
  go.wait();
  for (int i = 0; i < n; ++i) {
    auto g = counter.locked();
    *g += 1;
  }
}

template <class F, class... Args>
void run_all(int count, F f, Args... args) {
  kin::Event go;
  std::vector<kin::Process> ps;
  ps.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    ps.emplace_back(f, args..., go);
    ps.back().start();
  }
  go.set();
  for (auto& p : ps) p.join();
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::setvbuf(stdout, nullptr, _IONBF, 0);

  std::printf("without a lock: ");
  {
    kin::Value<int> v{0};
    kin::Process p1{job, v, 1}, p2{job, v, 3};
    p1.start();
    p2.start();
    p1.join();
    p2.join();
  }
  std::printf("\nwith a lock:    ");
  {
    kin::Value<int> v{0};
    kin::Lock l;
    kin::Process p1{job_locked, v, 1, l}, p2{job_locked, v, 3, l};
    p1.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // p1 takes the lock first
    p2.start();
    p1.join();
    p2.join();
  }
  std::printf("\n");

  constexpr int kProcs = 4, kN = 1000000;
  kin::RawValue<long> raw{0};
  run_all(kProcs, raw_increments, raw, kN);
  std::printf("RawValue, no lock: %ld of %d (%ld updates lost)\n", raw.load(), kProcs * kN,
              kProcs * kN - raw.load());
  kin::Value<long> locked{0};
  run_all(kProcs, locked_increments, locked, kN);
  std::printf("Value with lock:   %ld of %d\n", locked.load(), kProcs * kN);
  return 0;
}
