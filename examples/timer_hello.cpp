// Port of seed 004's Timer example. Python:
//
//   from threading import Timer
//   def hello():
//       print("hello, world")
//   t = Timer(1, hello)   # call hello after 1 second
//   t.start()
//
// The program ends right after start(), yet "hello, world" is printed a second later: a
// non-daemon Timer is waited for at exit, as Python waits for non-daemon threads. A second
// Timer is cancelled before it fires and never prints.
#include <kin/timer.hpp>

#include <chrono>
#include <cstdio>

namespace {
void hello() { std::puts("hello, world"); }
}  // namespace

int main() {
  using namespace std::chrono_literals;
  kin::Timer t{1s, hello};
  t.start();

  kin::Timer never{500ms, [] { std::puts("this is never printed"); }};
  never.start();
  never.cancel();
}
