// Seed 001 "queue模块", program by program — Queue(10), LifoQueue, PriorityQueue, SimpleQueue,
// the Empty and Full exceptions, qsize/empty/full, put and get with block and timeout,
// put_nowait/get_nowait — then seed 000's two thread-queue programs (a queue.Queue seen by a
// thread as a global and as an argument: one queue, one memory, unlike a process Queue).
//
// Python (seed 001, shortened):
//   q = queue.Queue(10); q.put({'name': 'chenzhi', 'age': 14}); q.put(['a', 'b', 'c'])
//   q1 = queue.LifoQueue(); ... 2 1 0      q2 = queue.PriorityQueue(); ... (1, 'python') first
//   q3 = queue.SimpleQueue(); ... 0 1 2
//   try: q = queue.Queue(3); q.put(...) x3; for i in range(4): print(q.get(block=False))
//   except queue.Empty: print('queue.Empty')
//   try: ... q.put('stay hungry, stay foolish', block=False) except queue.Full: print('queue.Full')
//   q5 = queue.Queue(1); q5.put(1); q5.put(2, block=True, timeout=2)      # Full
//   q6 = queue.Queue(); q6.get(block=True, timeout=1)                       # Empty
//
// kin's spelling: get(block=False) is get_nowait(), put(block=False) is put_nowait(); with a
// timeout, put returns false and get std::nullopt where Python raises Full / Empty (kin's
// timed calls report by value; the _nowait forms raise as Python does). A Python dict or list
// item becomes a C++ type: a std::map and a std::vector in a std::variant here.
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

using namespace std::chrono_literals;

namespace {

using Dict = std::map<std::string, std::string>;
using List = std::vector<std::string>;

void print_item(const std::variant<Dict, List>& item) {
  if (const auto* d = std::get_if<Dict>(&item)) {
    std::printf("{");
    bool comma = false;
    for (const auto& [k, v] : *d) {
      std::printf("%s'%s': %s", comma ? ", " : "", k.c_str(), v.c_str());
      comma = true;
    }
    std::printf("}\n");
  } else {
    const auto& l = std::get<List>(item);
    std::printf("[");
    for (std::size_t i = 0; i < l.size(); ++i) std::printf("%s'%s'", i ? ", " : "", l[i].c_str());
    std::printf("]\n");
  }
}

kin::thread::Queue<std::vector<int>> g_q;  // seed 000: the queue as a global the thread sees

void task_global() {
  std::printf("%s, %p, [", kin::current_thread().name().c_str(), static_cast<void*>(&g_q));
  auto v = g_q.get();
  for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s%d", i ? ", " : "", v[i]);
  std::printf("]\n");
}

void task_argument(kin::thread::Queue<std::vector<int>>* q) {
  std::printf("%s, %p\n", kin::current_thread().name().c_str(), static_cast<void*>(q));
  q->put({1, 2, 3});
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);

  std::printf("-- Queue --\n");
  kin::thread::Queue<std::variant<Dict, List>> q{10};
  q.put(Dict{{"name", "chenzhi"}, {"age", "14"}});
  q.put(List{"a", "b", "c"});
  print_item(q.get());
  print_item(q.get());

  std::printf("-- LifoQueue --\n");
  kin::thread::LifoQueue<int> q1;
  for (int i = 0; i < 3; ++i) q1.put(i);
  for (int i = 0; i < 3; ++i) std::printf("%d\n", q1.get());

  std::printf("-- PriorityQueue --\n");
  kin::thread::PriorityQueue<std::pair<int, std::string>> q2;
  const std::pair<int, std::string> data1{1, "python"}, data2{2, "-"}, data3{3, "100"};
  for (const auto& d : {data2, data3, data1}) q2.put(d);
  for (int i = 0; i < 3; ++i) {
    auto [prio, text] = q2.get();
    std::printf("(%d, '%s')\n", prio, text.c_str());
  }

  std::printf("-- SimpleQueue --\n");
  kin::thread::SimpleQueue<int> q3;
  for (int i = 0; i < 3; ++i) q3.put(i);
  for (int i = 0; i < 3; ++i) std::printf("%d\n", q3.get());

  std::printf("-- queue.Empty --\n");
  kin::thread::Queue<std::string> three{3};
  try {
    three.put("python");
    three.put("-");
    three.put("100");
    for (int i = 0; i < 4; ++i) std::printf("%s\n", three.get_nowait().c_str());  // get(block=False)
  } catch (const kin::Empty&) {
    std::printf("queue.Empty\n");
  }

  std::printf("-- queue.Full --\n");
  try {
    three.put("python");
    three.put("-");
    three.put("100");
    three.put_nowait("stay hungry, stay foolish");  // put(block=False)
  } catch (const kin::Full&) {
    std::printf("queue.Full\n");
  }

  std::printf("-- qsize, empty, full --\n");
  kin::thread::Queue<std::string> qs;
  qs.put("string");
  std::printf("%zu\n", qs.qsize());
  (void)qs.get();
  std::printf("%s\n", qs.empty() ? "True" : "False");
  kin::thread::Queue<std::string> q4{1};
  q4.put("a");
  std::printf("%s\n", q4.full() ? "True" : "False");

  std::printf("-- put / put_nowait on a full queue, get / get_nowait on an empty one --\n");
  kin::thread::Queue<int> q5{1};
  q5.put(1);
  if (!q5.put(2, 200ms)) std::printf("Full: put(2, timeout) gave up\n");  // Python: timeout=2
  try {
    q5.put_nowait(2);
  } catch (const kin::Full&) {
    std::printf("Full: put_nowait(2)\n");
  }
  kin::thread::Queue<int> q6;
  if (!q6.get(200ms)) std::printf("Empty: get(timeout) gave up\n");  // Python: timeout=1
  try {
    (void)q6.get_nowait();
  } catch (const kin::Empty&) {
    std::printf("Empty: get_nowait()\n");
  }

  std::printf("-- seed 000: a thread queue is one memory --\n");
  g_q.put({1, 2, 3});
  std::printf("%s, %p\n", kin::current_thread().name().c_str(), static_cast<void*>(&g_q));
  kin::Thread t{task_global};
  t.start();
  t.join();
  kin::thread::Queue<std::vector<int>> local;
  kin::Thread t2{task_argument, &local};
  t2.start();
  t2.join();
  auto v = local.get();
  std::printf("[%d, %d, %d] %p\n", v[0], v[1], v[2], static_cast<void*>(&local));  // the same address
}
