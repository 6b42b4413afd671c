// Seed 001 "daemon属性", its three thread programs, each run as a program of its own (a child
// process whose body returns, so the end of "the program" is the end of that child):
//   daemon=False  the program's end waits for the thread: all three lines print;
//   daemon=True   the program ends with the main thread: the thread's later lines are lost;
//   daemon=None   a thread started by a daemon thread is a daemon too (inherited), and the
//                 endless bar threads die with the program.
//
// Python (shortened):
//   def foo():
//       for i in range(3): print(f"i={i},foo thread daemon is {current_thread().isDaemon()}"); sleep(1)
//   t = threading.Thread(target=foo, daemon=False); t.start()
//   print(f"Main thread daemon is {threading.current_thread().isDaemon()}"); print("Main thread Exit")
//   ... daemon=True ...
//   def bar(): while True: print('【bar】 daemon is {}'.format(current_thread().isDaemon())); sleep(1)
//   def foo(): for i in range(3): t1 = threading.Thread(target=bar, daemon=None); t1.start()
//   t = threading.Thread(target=foo, daemon=True); t.start(); time.sleep(2); print("Main Thread Exit.")
//
// kin::ThreadOptions{.daemon} left unset is Python's daemon=None. A kin child process joins its
// non-daemon threads before it exits and abandons its daemon threads, as a Python program
// does at its end. The 1 s sleeps are 100 ms here.
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

using namespace std::chrono_literals;

namespace {

const char* is_daemon() { return kin::current_thread().daemon() ? "True" : "False"; }

void foo(const char* who) {
  for (int i = 0; i < 3; ++i) {
    std::printf("i=%d,%s thread daemon is %s\n", i, who, is_daemon());
    std::fflush(stdout);
    std::this_thread::sleep_for(100ms);
  }
}

void main_exit(const char* text) {
  std::printf("Main thread daemon is %s\n%s\n", is_daemon(), text);
  std::fflush(stdout);
}

void daemon_false() {
  kin::Thread t{kin::ThreadOptions{.daemon = false}, foo, "foo"};
  t.start();
  main_exit("Main thread Exit");
}  // the child's end waits for t

void daemon_true() {
  kin::Thread t{kin::ThreadOptions{.daemon = true}, foo, "foo1"};
  t.start();
  main_exit("Main thread Exit");
}  // t is abandoned: at most its first line is printed

void bar() {
  for (;;) {
    std::printf("【bar】 daemon is %s\n", is_daemon());
    std::fflush(stdout);
    std::this_thread::sleep_for(100ms);
  }
}

void spawn_bars() {
  for (int i = 0; i < 3; ++i) {
    std::printf("i=%d,【foo】 thread daemon is %s\n", i, is_daemon());
    std::fflush(stdout);
    kin::Thread{bar}.start();  // daemon unset: inherits foo's True
  }
}

void daemon_none() {
  kin::Thread t{kin::ThreadOptions{.daemon = true}, spawn_bars};
  t.start();
  main_exit("");
  std::this_thread::sleep_for(200ms);
  std::printf("Main Thread Exit.\n");
}  // the bar threads are daemons: they end with the child

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  struct Part {
    const char* title;
    void (*body)();
  };
  for (const Part& part : {Part{"-- daemon=False --", daemon_false}, Part{"-- daemon=True --", daemon_true},
                           Part{"-- daemon=None --", daemon_none}}) {
    std::printf("%s\n", part.title);
    std::fflush(stdout);
    kin::Process program{part.body};  // one "program" per part
    program.start();
    program.join();
  }
}
