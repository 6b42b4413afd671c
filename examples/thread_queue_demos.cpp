// Seed 001 queue module: LifoQueue, PriorityQueue, and the Empty / Full exceptions.
#include <kin/kin.hpp>

#include <cstdio>
#include <string>
#include <utility>

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::thread::LifoQueue<int> q1;
  for (int i = 0; i < 5; ++i) q1.put(i);
  std::printf("LifoQueue:");
  while (!q1.empty()) std::printf(" %d", q1.get());
  std::printf("\n");

  kin::thread::PriorityQueue<std::pair<int, std::string>> q2;
  q2.put({3, "three"});
  q2.put({1, "one"});
  q2.put({2, "two"});
  std::printf("PriorityQueue:");
  while (!q2.empty()) {
    auto [prio, name] = q2.get();
    std::printf(" (%d, '%s')", prio, name.c_str());
  }
  std::printf("\n");

  kin::thread::Queue<int> q3{1};
  try {
    (void)q3.get_nowait();
  } catch (const kin::Empty&) {
    std::printf("queue.Empty raised by get_nowait() on an empty queue\n");
  }
  q3.put(1);
  try {
    q3.put_nowait(2);
  } catch (const kin::Full&) {
    std::printf("queue.Full raised by put_nowait() on a full queue (maxsize=%zu)\n", q3.maxsize());
  }
}
