// Seed 001 "Pools", program by program: apply_async without waiting (then close/join),
// apply_async with a callback collecting results, map_async with get() and with a callback,
// a callback printing what another task returned, apply (blocking) against apply_async
// (non-blocking), a list of AsyncResults, and map.
//
// Python (the seed's cells, shortened):
//   pool = Pool(9); for i in range(10): pool.apply_async(test, args=(i,)); pool.close(); pool.join()
//   [p.apply_async(func=fun, args=(i,), callback=callback) for i in range(6)]   # li: any order
//   res = p.map_async(fun, [3, 4, 5, 1]); print(res.get())                      # [9, 16, 25, 1]
//   p.map_async(func=fun, iterable=[3, 4, 5, 1], callback=callback)
//   for i in range(10): p.apply_async(b, args=(i,), callback=a)                 # a prints b's result
//   for _ in range(7): pool.apply_async(fun, ("mark",)) ... / pool.apply(fun, ("mark",))
//   l = [pool.apply_async(func=job, args=(10,)) for i in range(6)]; print([x.get() for x in l])
//   print(pool.map(func, range(10)))                                            # x**x
//
// Differences: the seed's tasks sleep up to 1-3 s; here up to 300 ms. A callback runs on the
// pool's result thread in kin (in Python's main process too, on its result-handler thread), so
// the vector it appends to is guarded by a mutex.
#include <kin/kin.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

void test(int n) {
  std::printf("This is fun%d running\nMy id is %d\n", n, ::getpid());
  std::fflush(stdout);
  std::this_thread::sleep_for(100ms);
  std::printf("This is fun%d ending\n", n);
  std::fflush(stdout);
}

int fun(int x) { return x * x; }
int b(int num) { return num; }
int job(int n) { return n - 1; }
std::int64_t power_of_itself(int x) {  // x**x
  std::int64_t r = 1;
  for (int i = 0; i < x; ++i) r *= x;
  return r;
}

void timed(std::string name) {
  std::printf("running %s, pid=%d, parent=%d\n", name.c_str(), ::getpid(), ::getppid());
  std::fflush(stdout);
  std::mt19937 rng{static_cast<unsigned>(std::hash<std::string>{}(name) + static_cast<std::size_t>(::getpid()))};
  const auto t = std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 300)(rng));
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(t);
  std::printf("time is %.3f\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  std::fflush(stdout);
}

template <class T>
void print_list(const std::vector<T>& v) {
  std::printf("[");
  for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s%lld", i ? ", " : "", static_cast<long long>(v[i]));
  std::printf("]\n");
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);

  std::printf("-- apply_async, then close() and join() --\n");
  {
    kin::Pool pool{9};
    for (int i = 0; i < 10; ++i) (void)pool.apply_async(test, i);  // not waited for here
    pool.close();
    pool.join();  // every task has ended
  }

  std::printf("-- apply_async with a callback --\n");
  std::mutex mu;
  std::vector<int> li;
  auto callback = [&](int& x) {
    std::lock_guard g{mu};
    li.push_back(x);
  };
  {
    kin::Pool p{4};
    for (int i = 0; i < 6; ++i) (void)p.apply_async(fun, i, kin::callbacks{callback});
    p.close();
    p.join();
  }
  print_list(li);  // in the order the tasks finished

  std::printf("-- map_async --\n");
  {
    kin::Pool p{4};
    auto res = p.map_async(fun, std::vector{3, 4, 5, 1});
    print_list(res.get());  // in the order of the arguments
    std::vector<int> got;
    auto with_cb = p.map_async(fun, std::vector{3, 4, 5, 1}, kin::callbacks{[&](std::vector<int>& v) { got = v; }});
    with_cb.wait();
    print_list(got);
    p.close();
    p.join();
  }

  std::printf("-- apply_async(b, callback=a) --\n");
  {
    kin::Pool p{5};
    auto a = [](int& x) {  // runs in this process with b's result
      std::printf("this is a start\n%d\nthis is a stop\n", x);
    };
    for (int i = 0; i < 10; ++i) (void)p.apply_async(b, i, kin::callbacks{a});
    p.close();
    p.join();
  }

  std::printf("-- apply_async (non-blocking) against apply (blocking) --\n");
  {
    kin::Pool pool{4};
    for (int i = 0; i < 7; ++i) (void)pool.apply_async(timed, std::string("mark") + std::to_string(i));
    std::printf("--start1--\n");  // printed at once: nothing waited yet
    std::fflush(stdout);
    pool.close();
    pool.join();
    std::printf("--end1--\n");
  }
  {
    kin::Pool pool{4};
    for (int i = 0; i < 7; ++i) pool.apply(timed, std::string("mark") + std::to_string(i));  // one at a time
    std::printf("--start2--\n");  // printed after all seven
    pool.close();
    pool.join();
    std::printf("--end2--\n");
  }

  std::printf("-- a list of AsyncResults --\n");
  {
    kin::Pool pool{4};
    std::vector<kin::AsyncResult<int>> l;
    for (int i = 0; i < 6; ++i) l.push_back(pool.apply_async(job, 10));
    std::vector<int> values;
    for (auto& x : l) values.push_back(x.get());
    print_list(values);  // [9, 9, 9, 9, 9, 9]
  }

  std::printf("-- map --\n");
  {
    kin::Pool pool{2};
    std::vector<int> xs;
    for (int i = 0; i < 10; ++i) xs.push_back(i);
    print_list(pool.map(power_of_itself, xs));  // [1, 1, 4, 27, ..., 387420489]
  }
}
