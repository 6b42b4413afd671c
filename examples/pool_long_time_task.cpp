// Seed 002 §1.3 and seed 003's Pool programs: five long tasks on a Pool(4) (the fifth waits
// for a free worker), then imap over a list of (i, i + 1) tuples on a Pool(8).
//
// Python:
//   def long_time_task(name):
//       print('Run task %s (%s)...' % (name, os.getpid()))
//       start = time.time(); time.sleep(random.random() * 3); end = time.time()
//       print('Task %s runs %0.2f seconds.' % (name, (end - start)))
//   p = Pool(4)
//   for i in range(5): p.apply_async(long_time_task, args=(i,))
//   print('Waiting for all subprocesses done...'); p.close(); p.join()
//   print('All subprocesses done.')
//
//   def foo(param): arg1, arg2 = param
//   params = [(i, i + 1) for i in range(10)]
//   with Pool(8) as pool: pool.imap(foo, params)
//
// The sleeps are up to 300 ms instead of 3 s. The seed's imap result is never read (and the
// pool is closed by `with` before its tasks are sure to run); here each result is read, which
// is how imap is meant to be used: results come back in order, each as soon as it is ready.
#include <kin/kin.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <utility>
#include <vector>

namespace {

void long_time_task(int name) {
  std::printf("Run task %d (%d)...\n", name, ::getpid());
  std::fflush(stdout);
  std::mt19937 rng{static_cast<unsigned>(::getpid() * 7 + name)};
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 300)(rng)));
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::printf("Task %d runs %0.2f seconds.\n", name, took.count());
  std::fflush(stdout);
}

int foo(std::pair<int, int> param) {
  auto [arg1, arg2] = param;
  return arg1 * arg2;
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::printf("Parent process %d.\n", ::getpid());
  {
    kin::Pool p{4};
    for (int i = 0; i < 5; ++i) (void)p.apply_async(long_time_task, i);
    std::printf("Waiting for all subprocesses done...\n");
    std::fflush(stdout);
    p.close();
    p.join();
    std::printf("All subprocesses done.\n");
  }

  std::vector<std::pair<int, int>> params;
  for (int i = 0; i < 10; ++i) params.emplace_back(i, i + 1);
  kin::Pool pool{8};
  auto it = pool.imap(foo, params);
  std::printf("imap:");
  while (auto r = it.next()) std::printf(" %d", *r);
  std::printf("\n");
  pool.close();
  pool.join();
}
