// Seed 001 "Threading module", program by program (after the introduction's "Threading"
// program: one function in two threads, started then joined): starting a named thread, how a thread ends,
// passing arguments, the module functions (active_count, current_thread, get_ident,
// enumerate, main_thread), the thread object's methods (start, is_alive, join), then the
// sections 锁 (add1/add2: each loop runs whole under the Lock) and join() (the main thread
// prints "==end==" only once the thread is done). The section's bank account is
// examples/rlock_bank_account.cpp, its daemon programs thread_daemon.cpp, its threading.local
// programs thread_local_school.cpp.
//
// Python (the seed's cells, shortened):
//   t = threading.Thread(target=jobs, name="worker"); t.start()          # 线程启动
//   t = threading.Thread(target=worker, name="thread"); t.start(); print('==end==')   # 线程的退出
//   t = threading.Thread(target=re_seq, args=('atcgatcg',), name="chenzhi"); t.start()
//   print(threading.current_thread())                                      # 线程的传参
//   print(threading.active_count()); print(threading.current_thread())
//   print(threading.get_ident())
//   for thread in threading.enumerate(): print(thread)
//   print(threading.main_thread())
//
// Python prints a thread as <Thread(name, started [daemon] ident)>; kin::ThreadHandle has no
// repr, so show_thread() below prints the same fields. Where Python's program ends while the
// "thread" worker still prints (it is not a daemon, so the interpreter waits for it), the end
// of main here waits for it too (kin joins non-daemon threads at exit); its loop is shortened
// from five 2 s sleeps to three of 100 ms.
#include <kin/kin.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iterator>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// The introduction's func(number): the product of `number` distinct random numbers below
// 1000000 (Python's integers have no limit; here the product wraps modulo 2^64).
std::uint64_t func(int number) {
  std::vector<std::uint64_t> all(1000000);
  std::iota(all.begin(), all.end(), std::uint64_t{0});
  std::vector<std::uint64_t> sample;
  std::sample(all.begin(), all.end(), std::back_inserter(sample), number, std::mt19937_64{std::random_device{}()});
  return std::accumulate(sample.begin(), sample.end(), std::uint64_t{1}, std::multiplies<>());
}

int num = 1;
kin::Lock lock;

void add1() {
  std::lock_guard g{lock};  // lock.acquire() ... lock.release()
  for (int i = 0; i < 10; ++i) {
    num += 1;
    std::printf("add1 %d\n", num);
  }
}

void add2() {
  std::lock_guard g{lock};
  for (int i = 0; i < 10; ++i) {
    num += 10;
    std::printf("add2 %d\n", num);
  }
}

void job() {
  for (int i = 0; i < 3; ++i) {  // the seed's ten 1 s steps, shortened
    std::printf("hello world\n");
    std::this_thread::sleep_for(50ms);
  }
}

void show_thread(const kin::ThreadHandle& t) {
  const bool is_main = t == kin::main_thread();
  std::printf("<%s(%s, %s%s %llu)>\n", is_main ? "_MainThread" : "Thread", t.name().c_str(),
              t.is_alive() ? "started" : "stopped", t.daemon() ? " daemon" : "",
              static_cast<unsigned long long>(t.ident().value_or(0)));
}

// 线程启动: def jobs(): print('i am working'); print('finished')
void jobs() {
  std::printf("i am working\n");
  std::printf("finished\n");
}

// 线程的退出: a thread ends when its function returns (or throws); Python has no way to stop
// it from outside, nor does kin (stop it with an Event it checks, as thread_search does).
void worker() {
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(100ms);
    std::printf("i am a thread\n");
  }
}

// 线程的传参: the reverse complement of a DNA string, then the thread it ran in.
void re_seq(std::string seq) {
  std::reverse(seq.begin(), seq.end());
  for (char& c : seq) {
    switch (c) {
      case 'A': c = 'T'; break;
      case 'T': c = 'A'; break;
      case 'C': c = 'G'; break;
      case 'G': c = 'C'; break;
      case 'a': c = 't'; break;
      case 't': c = 'a'; break;
      case 'c': c = 'g'; break;
      case 'g': c = 'c'; break;
      default: break;
    }
  }
  std::printf("%s\n", seq.c_str());
  show_thread(kin::current_thread());
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);

  std::printf("-- Threading --\n");
  const int number = 50000;
  kin::Thread thread1{func, number};
  kin::Thread thread2{func, number};
  thread1.start();  // start() 异步地开启线程
  thread2.start();
  thread1.join();  // join() 等待线程终止然后执行主线程
  thread2.join();

  std::printf("-- 线程启动 --\n");
  kin::Thread t{kin::ThreadOptions{.name = "worker"}, jobs};
  t.start();
  t.join();

  std::printf("-- 线程的退出 --\n");
  kin::Thread looping{kin::ThreadOptions{.name = "thread"}, worker};
  looping.start();
  std::printf("==end==\n");  // printed first: the thread is still sleeping
  std::fflush(stdout);

  std::printf("-- 线程的传参 --\n");
  kin::Thread seq{kin::ThreadOptions{.name = "chenzhi"}, re_seq, std::string("atcgatcg")};
  seq.start();
  seq.join();
  show_thread(kin::current_thread());

  std::printf("-- threading的属性和方法 --\n");
  std::printf("active_count: %zu\n", kin::active_count());  // main + "thread", still looping
  std::printf("current_thread: ");
  show_thread(kin::current_thread());
  std::printf("get_ident: %llu\n", static_cast<unsigned long long>(kin::get_ident()));
  std::printf("enumerate:\n");
  for (const auto& th : kin::enumerate_threads()) show_thread(th);
  std::printf("main_thread: ");
  show_thread(kin::main_thread());

  std::printf("-- 线程对象的方法 --\n");
  std::printf("is_alive before join: %s\n", looping.is_alive() ? "True" : "False");
  looping.join();  // the main thread waits for it here
  std::printf("is_alive after join: %s\n", looping.is_alive() ? "True" : "False");

  std::printf("-- 锁 --\n");
  kin::Thread t1{add1};
  kin::Thread t2{add2};
  t1.start();
  t2.start();
  t1.join();
  t2.join();

  std::printf("-- join() --\n");
  kin::Thread tj{job};
  tj.start();
  tj.join();  // 调用谁的join方法，就要等谁
  std::printf("==end==\n");
}
