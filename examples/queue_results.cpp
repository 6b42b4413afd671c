// Seed 001 "Queue进程间传递数据", program by program, with seed 004's p18_pvt.py (the same
// process-against-thread timing): children put their results on one Queue and the parent
// collects them; the same job run plainly, in two threads and in two processes; a Queue emptied
// with empty()/get(); a Pool's map and apply_async.
//
// Python (shortened):
//   def rand_num(queue): queue.put(random.random())
//   processes = [Process(target=rand_num, args=(queue,)) for x in range(4)] ... start, join
//   results = [queue.get() for p in processes]
//   def job(q): res = sum(i + i**2 + i**3 for i in range(N)); q.put(res)
//   normal(); multithread(); multicore()        # with the time each took
//   for cl in ['red', 'blue', 'green']: queue.put(cl)
//   while not queue.empty(): print(queue.get())
//   pool = mp.Pool(processes=2); pool.map(job, range(10)); pool.apply_async(job, (2,)).get()
//
// The seed's point about threads (the GIL makes two threads no faster than one) does not hold
// in C++: kin::Thread is an OS thread running C++ without an interpreter lock, so two threads
// use two cores as two processes do. The seed's loop (10^6 steps) takes C++ milliseconds, so
// the three times printed are all small and mostly start-up cost. The sums exceed 64 bits
// (Python's integers have no limit), so they are kept in 128 bits and sent as two halves.
#include <kin/kin.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

__extension__ typedef unsigned __int128 u128;  // GCC's 128-bit integer (no ISO spelling)
using Halves = std::pair<std::uint64_t, std::uint64_t>;  // how a u128 travels on a Queue

Halves split(u128 v) { return {static_cast<std::uint64_t>(v >> 64), static_cast<std::uint64_t>(v)}; }
u128 join(Halves h) { return (static_cast<u128>(h.first) << 64) | h.second; }

std::string to_string(u128 v) {
  if (v == 0) return "0";
  std::string s;
  while (v > 0) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return s;
}

void rand_num(kin::Queue<double> queue) {
  std::mt19937_64 rng{static_cast<std::uint64_t>(::getpid())};
  queue.put(std::uniform_real_distribution<double>(0.0, 1.0)(rng));
}

u128 sum_to(std::uint64_t n) {
  u128 res = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const u128 x = i;
    res += x + x * x + x * x * x;
  }
  return res;
}

// def job(q): ... q.put(res) — for a process (kin::Queue) and for a thread (the same Queue
// type works between threads, as the seed notes for mp.Queue).
void job(kin::Queue<Halves> q, std::uint64_t n) { q.put(split(sum_to(n))); }

constexpr std::uint64_t kN = 1000000;

void normal() {
  u128 res = 0;
  for (int r = 0; r < 2; ++r) res += sum_to(kN);
  std::printf("normal: %s\n", to_string(res).c_str());
}

void multithread() {
  kin::Queue<Halves> q;
  kin::Thread t1{job, q, kN};
  kin::Thread t2{job, q, kN};
  t1.start();
  t2.start();
  t1.join();
  t2.join();
  const u128 res1 = join(q.get()), res2 = join(q.get());
  std::printf("multithread: %s\n", to_string(res1 + res2).c_str());
}

void multicore() {
  kin::Queue<Halves> q;
  kin::Process p1{job, q, kN};
  kin::Process p2{job, q, kN};
  p1.start();
  p2.start();
  p1.join();
  p2.join();
  const u128 res1 = join(q.get()), res2 = join(q.get());
  std::printf("multicore: %s\n", to_string(res1 + res2).c_str());
}

int square(int x) { return x * x; }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void print_list(const std::vector<int>& v) {
  std::printf("[");
  for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s%d", i ? ", " : "", v[i]);
  std::printf("]\n");
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);

  std::printf("-- four processes put one number each --\n");
  kin::Queue<double> queue;
  std::vector<kin::Process> processes;
  for (int x = 0; x < 4; ++x) processes.emplace_back(rand_num, queue);
  for (auto& p : processes) p.start();
  for (auto& p : processes) p.join();
  std::printf("[");
  for (std::size_t i = 0; i < processes.size(); ++i) std::printf("%s%f", i ? ", " : "", queue.get());
  std::printf("]\n");

  std::printf("-- two processes, one job each --\n");
  {
    kin::Queue<Halves> q;
    kin::Process p1{job, q, std::uint64_t{1000}};
    kin::Process p2{job, q, std::uint64_t{1000}};
    p1.start();
    p2.start();
    p1.join();
    p2.join();
    const u128 res1 = join(q.get()), res2 = join(q.get());
    std::printf("%s\n%s\n%s\n", to_string(res1).c_str(), to_string(res2).c_str(), to_string(res1 + res2).c_str());
  }

  std::printf("-- normal, multithread, multicore --\n");
  auto st = std::chrono::steady_clock::now();
  normal();
  std::printf("normal time: %.3f\n", seconds_since(st));
  st = std::chrono::steady_clock::now();
  multithread();
  std::printf("multithread time: %.3f\n", seconds_since(st));
  st = std::chrono::steady_clock::now();
  multicore();
  std::printf("multicore time: %.3f\n", seconds_since(st));

  std::printf("-- push, then pop while not empty() --\n");
  kin::Queue<std::string> colours;
  std::printf("pushing items to queue:\n");
  int cnt = 1;
  for (const char* cl : {"red", "blue", "green"}) {
    std::printf("item no: %d %s\n", cnt++, cl);
    colours.put(cl);
  }
  std::printf("\npopping items from queue:\n");
  cnt = 0;
  while (!colours.empty()) std::printf("item no:  %d   %s\n", cnt++, colours.get().c_str());

  std::printf("-- Pool(processes=2): map, apply_async --\n");
  kin::Pool pool{2};
  std::vector<int> xs;
  for (int i = 0; i < 10; ++i) xs.push_back(i);
  print_list(pool.map(square, xs));
  std::printf("%d\n", pool.apply_async(square, 2).get());
  std::vector<kin::AsyncResult<int>> multi_res;
  for (int i = 0; i < 10; ++i) multi_res.push_back(pool.apply_async(square, i));
  std::vector<int> got;
  for (auto& r : multi_res) got.push_back(r.get());
  print_list(got);
}
