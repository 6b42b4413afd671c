// Seed 004's first multiprocessing programs (the official docs' demos): a child puts
// [42, None, 'hello'] on a Queue and the parent prints it; the same through a Pipe; a target
// with an argument (hello john); a parent that starts a child and joins it (父进程启动 /
// 子进程开启 / 子进程结束 / 父进程结束); and the number of CPUs.
//   [42, None, 'hello']
//   [42, None, 'hello']
//   hello john
//   ...
//
// Python:
//   def f(q): q.put([42, None, 'hello'])
//   q = Queue(); p = Process(target=f, args=(q,)); p.start(); print(q.get()); p.join()
//   def f(conn): conn.send([42, None, 'hello']); conn.close()
//   parent_conn, child_conn = Pipe(); ... print(parent_conn.recv())
//   def f(name): print(f'hello {name}')
//   def run(): print("子进程开启"); time.sleep(2); print("子进程结束")
//   print(f'CPU核心数量: { str(multiprocessing.cpu_count()) }')
//
// A Python list of mixed types becomes a tuple; None is an empty std::optional. The 2 s sleep
// is 200 ms here.
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <tuple>

using Item = std::tuple<int, std::optional<int>, std::string>;

void f(kin::Queue<Item> q) { q.put(Item{42, std::nullopt, "hello"}); }

void f_pipe(kin::Connection<Item> conn) {
  conn.send(Item{42, std::nullopt, "hello"});
  conn.close();
}

void hello(std::string name) { std::printf("hello %s\n", name.c_str()); }

void run() {
  std::printf("子进程开启\n");
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::printf("子进程结束\n");
}

void print_item(const Item& item) {
  const auto& [n, none, s] = item;
  std::printf("[%d, %s, '%s']\n", n, none ? std::to_string(*none).c_str() : "None", s.c_str());
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::Queue<Item> q;
  kin::Process p{f, q};
  p.start();
  print_item(q.get());
  p.join();

  auto [parent_conn, child_conn] = kin::Pipe<Item>();
  kin::Process pp{f_pipe, std::move(child_conn)};
  pp.start();
  print_item(parent_conn.recv());
  pp.join();

  kin::Process pj{hello, std::string("john")};
  pj.start();
  pj.join();

  std::printf("父进程启动\n");
  std::fflush(stdout);
  kin::Process pr{run};
  pr.start();
  pr.join();
  std::printf("父进程结束\n");

  std::printf("CPU核心数量: %d\n", kin::cpu_count());
}
