// Seed 004's concurrent.futures programs: ThreadPoolExecutor's submit, map and a result, and
// p16_deadlock.py — two tasks on a two-thread executor, each waiting for the other's result.
// In Python the program hangs forever (the docs' own warning). kin cannot make a cycle of
// waits finish, but a wait can have a bound: result(timeout) raises kin::TimeoutError, the
// program learns of the cycle, breaks it (here: an Event the tasks also watch) and ends.
// The seed sleeps 5 s before the waits; here it is 100 ms.
#include <kin/kin.hpp>
#include <kin/thread_pool_executor.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

void func(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += a;
  std::printf("call func %s\n", s.c_str());
}

kin::Future<int>* a = nullptr;
kin::Future<int>* b = nullptr;
kin::Event submitted;  // both futures exist: the tasks may look at them
kin::Event give_up;    // the way out of the cycle: the waits below watch it

int wait_on(kin::Future<int>* other, int mine) {
  std::this_thread::sleep_for(100ms);
  submitted.wait();
  while (!give_up.is_set()) {
    try {
      std::printf("got %d\n", other->result(50ms));  // Python: other.result(), forever
      return mine;
    } catch (const kin::TimeoutError&) {
    }
  }
  return -mine;  // gave up: the other result never came
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  const std::vector<std::string> seed{"a", "b", "c", "d"};
  {
    kin::ThreadPoolExecutor executor{3};
    executor.submit(func, seed);
  }  // `with ThreadPoolExecutor(3) as executor:` waits here
  {
    kin::ThreadPoolExecutor executor2{3};
    for (auto _ : executor2.map([](const std::string& s) { func({s}); return 0; }, seed)) (void)_;
  }
  {
    kin::ThreadPoolExecutor executor{1};
    auto future = executor.submit([](double x, double y) { return std::pow(x, y); }, 2.0, 3.0);
    std::printf("%g\n", future.result());
  }

  std::printf("p16_deadlock: a waits for b, b waits for a\n");
  kin::ThreadPoolExecutor executor{2};
  kin::Future<int> fa, fb;
  a = &fa;
  b = &fb;
  fa = executor.submit(wait_on, b, 5);
  fb = executor.submit(wait_on, a, 6);
  submitted.set();
  try {
    std::printf("%d\n", fa.result(1s));
  } catch (const kin::TimeoutError&) {
    std::printf("a is not done after 1 s: its wait is a cycle; breaking it\n");
    give_up.set();
  }
  std::printf("a -> %d, b -> %d (negative: gave up waiting)\n", fa.result(5s), fb.result(5s));
}
