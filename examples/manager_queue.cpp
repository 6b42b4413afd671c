// A Queue shared through a manager (Python's manager.Queue(), which unlike multiprocessing.Queue
// can be handed to processes that were not started by the one that made it): two producers put
// numbers, one consumer sums them until it has seen both producers' sentinels.
//
//   m = Manager(); q = m.Queue(8)
//   producers: for i in range(100): q.put(i); q.put(-1)
//   consumer: total += q.get() until two -1
//
// Output:
//   total 9900 from 200 items
#include <kin/kin.hpp>
#include <kin/manager.hpp>

#include <cstdio>

void produce(kin::QueueProxy<int> q) {
  for (int i = 0; i < 100; ++i) q.put(i);
  q.put(-1);
}

int consume(kin::QueueProxy<int> q, kin::ValueProxy<long> total, kin::ValueProxy<long> items) {
  for (int done = 0; done < 2;) {
    int x = q.get();
    if (x < 0) {
      ++done;
      continue;
    }
    total.add(x);
    items.add(1);
  }
  return 0;
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::Manager m;
  auto q = m.Queue<int>(8);  // bounded: producers wait on the server when it is full
  auto total = m.Value<long>(0);
  auto items = m.Value<long>(0);
  kin::Process consumer{consume, q, total, items};
  kin::Process p1{produce, q};
  kin::Process p2{produce, q};
  consumer.start();
  p1.start();
  p2.start();
  p1.join();
  p2.join();
  consumer.join();
  std::printf("total %ld from %ld items\n", total.get(), items.get());
}
