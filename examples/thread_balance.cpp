// Seed 002 §2 多线程, program by program: §2.1 a thread named LoopThread counting to five
// while the main thread waits for it; §2.2 two threads that deposit and withdraw on a shared
// balance without a lock, so updates get lost and the balance ends off zero; §2.3 the same
// under a threading.Lock, which ends at 0.
//
// Python (shortened):
//   def loop(): ... print('thread %s >>> %s' % (threading.current_thread().name, n)); time.sleep(1)
//   t = threading.Thread(target=loop, name='LoopThread'); t.start(); t.join()
//   balance = 0
//   def change_it(n): global balance; balance = balance + n; balance = balance - n
//   def run_thread(n): for i in range(1000000): change_it(n)
//   t1 = threading.Thread(target=run_thread, args=(5,)); t2 = ...(8,) ...; print(balance)
//   def run_thread(n): for i in range(1000000): lock.acquire(); try: change_it(n) finally: lock.release()
//
// In C++ two threads writing a plain int at once is undefined behaviour, not just a wrong
// sum, so the unlocked balance is a std::atomic<int> read and written in separate steps
// (`balance.store(balance.load() + n)`): defined, and it loses updates exactly as the seed's
// interleaving table shows. The loop's 1 s sleeps are 100 ms here.
#include <kin/kin.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

void loop() {
  const std::string me = kin::current_thread().name();
  std::printf("thread %s is running...\n", me.c_str());
  for (int n = 1; n <= 5; ++n) {
    std::printf("thread %s >>> %d\n", me.c_str(), n);
    std::this_thread::sleep_for(100ms);
  }
  std::printf("thread %s ended.\n", me.c_str());
}

std::atomic<int> balance{0};  // 这是你银行的存款

void change_it(int n) {  // deposit then withdraw: should leave the balance as it was
  balance.store(balance.load() + n);
  balance.store(balance.load() - n);
}

void run_thread(int n) {
  for (int i = 0; i < 1000000; ++i) change_it(n);
}

kin::Lock lock;

void run_thread_locked(int n) {
  for (int i = 0; i < 1000000; ++i) {
    std::lock_guard g{lock};  // lock.acquire() ... finally: lock.release()
    change_it(n);
  }
}

int run_two(void (*f)(int)) {
  balance = 0;
  kin::Thread t1{f, 5};
  kin::Thread t2{f, 8};
  t1.start();
  t2.start();
  t1.join();
  t2.join();
  return balance.load();
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);

  std::printf("-- 2.1 thread --\n");
  std::printf("thread %s is running...\n", kin::current_thread().name().c_str());
  kin::Thread t{kin::ThreadOptions{.name = "LoopThread"}, loop};
  t.start();
  t.join();
  std::printf("thread %s ended.\n", kin::current_thread().name().c_str());

  std::printf("-- 2.2 no lock --\n");
  const int unlocked = run_two(run_thread);
  std::printf("%d%s\n", unlocked, unlocked == 0 ? "  (0 by luck this time: the steps can interleave)" : "");

  std::printf("-- 2.3 threading.Lock --\n");
  std::printf("%d\n", run_two(run_thread_locked));
}
