// Seed 001 "Multiprocessing", program by program (after the introduction's "Multiprocessing"
// program: one function in two processes, started then joined): Pool(5).map, cpu_count(), Process methods
// (is_alive) and attributes (authkey, name, pid, daemon), a process defined as a class, several
// targets with and without arguments, the exchange objects (Queue, Pipe), synchronisation with
// a Lock, shared memory (Value, Array) and a server process (Manager().list() against a plain
// list, which a child only copies).
//
// Python (the seed's cells, shortened):
//   with Pool(5) as p: print(p.map(f, [1, 2, 3]))                  # [1, 4, 9]
//   multiprocessing.cpu_count()
//   def fun2(): print('hello, i am a child process'); print(current_process().is_alive())
//   p = Process(target=fun2); p.start(); p.join(); print(p.is_alive())       # True / False
//   def foo(): print(f"父进程id: {os.getppid()}"); print(f"当前子进程id: {os.getpid()}")
//   class ClockProcess(Process): def run(self): ... print("the time is", time.ctime()) ...
//   p1 = Process(target=square, args=(7,)); p2 = Process(target=cube, args=(5,)); ...
//   def f(q): q.put([42, None, "hello"])                            # Queues
//   def f(conn): conn.send([24, "hello"]); conn.close()             # Pipes
//   def f(l, i): l.acquire(); try: print("hello", i) finally: l.release()
//   def f(n, a): n.value = 3.14; a[i] = -a[i] ...                   # 共享内存
//   def ap(list): list.append("c"); print(list)                     # 进程服务
//
// Differences: the seed's ClockProcess ticks five times every 3 s; here three times every
// 200 ms. Python's [42, None, "hello"] becomes a tuple with a std::optional for the None.
#include <kin/kin.hpp>
#include <kin/manager.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iterator>
#include <numeric>
#include <random>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
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
// A Process target's int result is its exit code, so the child drops the product, as
// Python's Process drops its target's return value.
void func_in_child(int number) { (void)func(number); }

int f_square(int x) { return x * x; }

void fun2() {
  std::printf("hello, i am a child process\n");
  std::printf("%s\n", kin::current_process().is_alive() ? "True" : "False");
  std::printf("%s\n", kin::current_process().name.c_str());
}

void foo() {
  std::printf("父进程id: %d\n当前子进程id: %d\n-----------------\n", ::getppid(), ::getpid());
}

// 进程定义为类: start() runs run() in the child.
struct ClockProcess : kin::Process {
  explicit ClockProcess(std::chrono::milliseconds interval) : interval(interval) {}
  void run() override {
    for (int n = 3; n > 0; --n) {
      const std::time_t now = std::time(nullptr);
      std::printf("the time is %s", std::ctime(&now));
      std::fflush(stdout);
      std::this_thread::sleep_for(interval);
    }
  }
  std::chrono::milliseconds interval;
};

void testing() { std::printf("works\n"); }
void square(int n) { std::printf("the number squares to %d\n", n * n); }
void cube(int n) { std::printf("the number cubes to %d\n", n * n * n); }
// def prin(string="asia"): a C++ default argument does not travel with a function pointer, so
// the target without arguments is its own function.
void prin(std::string string) { std::printf("the name of continent is: %s\n", string.c_str()); }
void prin_default() { prin("asia"); }

using Item = std::tuple<int, std::optional<int>, std::string>;  // [42, None, "hello"]
void put_item(kin::Queue<Item> q) { q.put({42, std::nullopt, "hello"}); }

void send_pair(kin::Connection<std::pair<int, std::string>> conn) {
  conn.send({24, "hello"});
  conn.close();
}

void hello_locked(kin::Lock l, int i) {
  std::lock_guard g{l};  // l.acquire() ... finally: l.release()
  std::printf("hello %d\n", i);
  std::fflush(stdout);
}

void hello(int i) { std::printf("hello %d\n", i); }

void negate(kin::Value<double> n, kin::Array<int> a) {
  n.store(3.14);
  std::lock_guard g{a.get_lock()};
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = -a[i];
}

void print_list(const std::vector<std::string>& list) {
  std::printf("[");
  for (std::size_t i = 0; i < list.size(); ++i) std::printf("%s'%s'", i ? ", " : "", list[i].c_str());
  std::printf("]\n");
}

std::vector<std::string> plain_list{"a", "b"};  // 普通list: each child has its own copy
void ap_plain() {
  plain_list.push_back("c");
  print_list(plain_list);
}

void ap_managed(kin::ListProxy<std::string> list) {
  list.append("c");
  print_list(list.to_vector());
}

void run_all(std::vector<kin::Process>& ps) {
  for (auto& p : ps) p.start();
  for (auto& p : ps) p.join();
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);

  std::printf("-- Multiprocessing --\n");
  const int number = 50000;
  kin::Process process1{func_in_child, number};
  kin::Process process2{func_in_child, number};
  process1.start();
  process2.start();
  process1.join();
  process2.join();
  std::printf("exitcodes %d %d\n", *process1.exitcode(), *process2.exitcode());

  std::printf("-- Pool(5).map --\n");
  {
    kin::Pool p{5};
    auto r = p.map(f_square, std::vector{1, 2, 3});
    std::printf("[%d, %d, %d]\n", r[0], r[1], r[2]);
    p.close();
    p.join();
  }
  std::printf("cpu_count: %d\n", kin::cpu_count());

  std::printf("-- Process: is_alive() --\n");
  kin::Process p{fun2};
  p.start();
  p.join();
  std::printf("%s\n", p.is_alive() ? "True" : "False");

  std::vector<kin::Process> four;
  for (int i = 0; i < 4; ++i) four.emplace_back(foo);
  run_all(four);

  std::printf("-- Process: authkey, name, pid, daemon --\n");
  std::printf("name=%s pid=%d daemon=%s authkey=%.16s... (the parent's: %s)\n", p.name().c_str(), p.pid(),
              p.daemon() ? "True" : "False", p.authkey().c_str(),
              p.authkey() == kin::current_process().authkey ? "same" : "different");

  std::printf("-- 进程定义为类 --\n");
  ClockProcess clock{200ms};
  clock.start();  // calls run() in the child
  clock.join();

  std::vector<kin::Process> three;
  three.emplace_back(square, 7);
  three.emplace_back(cube, 5);
  three.emplace_back(testing);
  run_all(three);
  std::printf("we are done\n");

  std::vector<kin::Process> pro;
  pro.emplace_back(prin_default);
  for (const char* ne : {"africa", "latein"}) pro.emplace_back(prin, std::string(ne));
  run_all(pro);

  std::printf("-- Queues --\n");
  kin::Queue<Item> q;
  kin::Process pq{put_item, q};
  pq.start();
  auto [n42, none, text] = q.get();
  std::printf("[%d, %s, '%s']\n", n42, none ? "?" : "None", text.c_str());
  pq.join();

  std::printf("-- Pipes --\n");
  auto [parent_conn, child_conn] = kin::Pipe<std::pair<int, std::string>>();
  kin::Process pp{send_pair, std::move(child_conn)};
  pp.start();
  auto [n24, word] = parent_conn.recv();
  std::printf("[%d, '%s']\nhello\n", n24, word.c_str());
  pp.join();

  std::printf("-- 进程间同步 --\n");
  kin::Lock lock;
  std::vector<kin::Process> ten;
  for (int num = 0; num < 10; ++num) ten.emplace_back(hello_locked, lock, num);
  run_all(ten);
  std::vector<kin::Process> unlocked;
  for (int num = 0; num < 4; ++num) unlocked.emplace_back(hello, num);
  run_all(unlocked);

  std::printf("-- 共享内存 --\n");
  kin::Value<double> num{0.0};
  std::printf("%g\n", num.load());
  kin::Array<int> arr{std::vector{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}};
  kin::Process pv{negate, num, arr};
  pv.start();
  pv.join();
  std::printf("%g\n[", num.load());
  for (std::size_t i = 0; i < arr.size(); ++i) std::printf("%s%d", i ? ", " : "", arr.load(i));
  std::printf("]\n");

  std::printf("-- 进程服务 --\n");
  kin::Process plain{ap_plain};  // the child appends to its copy
  plain.start();
  plain.join();
  print_list(plain_list);  // ['a', 'b']: unchanged here
  kin::Manager m;
  auto my_list = m.list<std::string>();
  my_list.extend(std::vector<std::string>{"a", "b"});
  kin::Process managed{ap_managed, my_list};
  managed.start();
  managed.join();
  print_list(my_list.to_vector());  // ['a', 'b', 'c']: the server's list, changed by the child
}
