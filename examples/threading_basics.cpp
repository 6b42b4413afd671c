// Seed 004's threading programs not ported elsewhere, one by one: two threads on one function;
// a Thread subclass overriding run(); is_alive() before, during and after; five threads
// adding to a global under a Lock taken with a timeout; a re-entrant RLock taken twice by its
// holder; a Condition's wait_for() on a predicate that asks the user; a bounded Queue with
// task_done/qsize/empty/full; a PriorityQueue of (priority, text) tuples. (Its semaphore,
// event, timer and producer/consumer programs are bounded_semaphore, event_traffic_light,
// timer_hello and condition_producer_consumer.)
//
// Python (shortened):
//   t1 = threading.Thread(target=run, args=("thread 1",)); ...
//   class MyThread(threading.Thread): def run(self): print("current task：", self.n)
//   print(thread1.is_alive()); thread1.start(); print(thread1.getName()); print(thread1.is_alive())
//   if mutex.acquire(1): num = num + 1; print(f'{self.name} : num value is  {num}'); mutex.release()
//   mutex = threading.RLock(); if mutex.acquire(1): ...; mutex.acquire(); mutex.release(); mutex.release()
//   def condition(): return input(">>>") == "yes"
//   def func(conn, i): conn.acquire(); conn.wait_for(condition); print(i + 100); conn.release()
//   q = queue.Queue(5); q.put(111) ...; q.task_done(); print(q.qsize(), q.empty(), q.full())
//   q = queue.PriorityQueue(); q.put((1, "work")); q.put((-1, "life")); ... print(q.get()) x4
//
// The sleeps are shortened (5 s -> 200 ms, 1 s -> 100 ms). The condition program reads one
// answer per thread, as the seed's does; with no terminal (stdin at end of file) every
// predicate counts as "yes", and any other answer makes that thread give up after 1 s
// instead of waiting forever.
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

void run(std::string n) { std::printf("current task： %s\n", n.c_str()); }

struct MyThread : kin::Thread {
  explicit MyThread(std::string n) : n(std::move(n)) {}
  void run() override { std::printf("current task： %s\n", n.c_str()); }
  std::string n;
};

int num = 0;
kin::Lock mutex;

struct AddOne : kin::Thread {
  void run() override {
    std::this_thread::sleep_for(100ms);
    if (mutex.acquire(1s)) {  // mutex.acquire(1): wait at most a second
      num = num + 1;
      std::printf("%s : num value is  %d\n", name().c_str(), num);
      mutex.release();
    }
  }
};

kin::RLock rmutex;

struct Nested : kin::Thread {
  void run() override {
    if (rmutex.acquire(1s)) {
      std::printf("thread %s get mutex\n", name().c_str());
      std::fflush(stdout);
      std::this_thread::sleep_for(100ms);
      rmutex.acquire();  // the holder takes it again: an RLock counts, a Lock would deadlock
      rmutex.release();
      rmutex.release();
    }
  }
};

std::mutex stdin_mu;
bool condition() {  // input(">>>") == "yes"; end of input counts as yes
  std::lock_guard g{stdin_mu};
  std::printf(">>>");
  std::fflush(stdout);
  std::string r;
  if (!std::getline(std::cin, r)) {
    std::printf("\n");
    return true;
  }
  return r == "yes";
}

void func(kin::Condition conn, int i) {
  std::lock_guard g{conn};           // conn.acquire() ... conn.release()
  if (conn.wait_for(condition, 1s))  // Python waits without a bound
    std::printf("%d\n", i + 100);
  else
    std::printf("%d gave up\n", i);
}

template <class T>
void join_all(std::vector<std::unique_ptr<T>>& ts) {
  for (auto& t : ts) t->join();
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);

  std::printf("-- two threads, one function --\n");
  kin::Thread t1{run, std::string("thread 1")};
  kin::Thread t2{run, std::string("thread 2")};
  t1.start();
  t2.start();
  t1.join();
  t2.join();

  std::printf("-- a Thread subclass --\n");
  MyThread m1{"thread 1"}, m2{"thread 2"};
  m1.start();
  m2.start();
  m1.join();  // 将 t1 和 t2 加入到主线程中
  m2.join();

  std::printf("-- is_alive --\n");
  kin::Thread thread1{[] { std::this_thread::sleep_for(200ms); }};
  std::printf("%s\n", thread1.is_alive() ? "True" : "False");
  thread1.start();
  std::printf("%s\n", thread1.name().c_str());
  std::printf("%s\n", thread1.is_alive() ? "True" : "False");
  thread1.join();
  std::printf("%s\n", thread1.is_alive() ? "True" : "False");

  std::printf("-- Lock --\n");
  std::vector<std::unique_ptr<AddOne>> adders;
  for (int i = 0; i < 5; ++i) {
    adders.push_back(std::make_unique<AddOne>());
    adders.back()->start();
  }
  join_all(adders);  // a subclass overriding run() must outlive its thread

  std::printf("-- RLock --\n");
  std::vector<std::unique_ptr<Nested>> nested;
  for (int i = 0; i < 5; ++i) {
    nested.push_back(std::make_unique<Nested>());
    nested.back()->start();
  }
  join_all(nested);

  std::printf("-- Condition.wait_for --\n");
  kin::Condition c;
  std::vector<kin::Thread> waiters;
  for (int i = 0; i < 10; ++i) waiters.emplace_back(func, c, i);
  for (auto& t : waiters) t.start();
  for (auto& t : waiters) t.join();

  std::printf("-- Queue(5) --\n");
  kin::thread::Queue<int> q{5};
  q.put(111);
  q.put(222);
  q.put(333);
  std::printf("%d\n", q.get());
  std::printf("%d\n", q.get());
  q.task_done();  // one item handled: q.join() waits for the rest
  std::printf("%zu\n", q.qsize());
  std::printf("%s\n", q.empty() ? "True" : "False");
  std::printf("%s\n", q.full() ? "True" : "False");

  std::printf("-- PriorityQueue --\n");
  // Smallest first, whole tuples compared as in Python: (1, 'drink') comes before (1, 'work').
  kin::thread::PriorityQueue<std::pair<int, std::string>> pq;
  pq.put({1, "work"});
  pq.put({-1, "life"});
  pq.put({1, "drink"});
  pq.put({-2, "sleep"});
  for (int i = 0; i < 4; ++i) {
    auto [prio, what] = pq.get();
    std::printf("(%d, '%s')\n", prio, what.c_str());
  }
}
