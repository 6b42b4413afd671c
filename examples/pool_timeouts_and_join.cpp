// Seed 004's Pool programs and its "join dead lock", one by one: apply_async then
// get(timeout=1), which times out for a task that sleeps 10 s; map against imap with next()
// and next(timeout=1); and a child that puts a 1 MB string on a Queue while the parent joins it
// before getting.
//
// Python:
//   with Pool(processes=4) as pool:
//       result = pool.apply_async(f, (10,)); print(result.get(timeout=1))       # 100
//       result = pool.apply_async(time.sleep, (10,)); print(result.get(timeout=1))  # TimeoutError
//   with Pool(processes=4) as pool:
//       print(pool.map(f, range(10))); it = pool.imap(f, range(10))
//       print(next(it)); print(next(it)); print(it.next(timeout=1))           # 0 1 4
//   def f(q): q.put('X' * 1000000)
//   p = Process(target=f, args=(queue,)); p.start(); p.join()   # this deadlocks
//   obj = queue.get()
//
// The last program deadlocks in Python: the child's feeder thread cannot finish writing the
// item into the queue's pipe until someone reads it, so the child never exits. A kin::Queue
// has no feeder thread: put() returns once the item is in shared memory (the ring grows for a
// large item), so the child ends and the join returns. The join has a bound anyway.
// Leaving the `with Pool` block terminates the pool, as Python's __exit__ does, which also
// ends the task still sleeping (its 10 s are 3 s here).
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

int f(int x) { return x * x; }

int sleep_seconds(int s) {
  std::this_thread::sleep_for(std::chrono::seconds(s));
  return 0;
}

void put_big(kin::Queue<std::string> q) { q.put(std::string(1000000, 'X')); }

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);

  std::printf("-- apply_async, get(timeout=1) --\n");
  {
    kin::Pool pool{4};
    auto result = pool.apply_async(f, 10);
    std::printf("%d\n", result.get(1s));
    auto slow = pool.apply_async(sleep_seconds, 3);
    try {
      (void)slow.get(1s);
    } catch (const kin::TimeoutError& e) {
      std::printf("TimeoutError: %s\n", e.what());
    }
    pool.terminate();  // the end of Python's `with Pool(...)`
  }

  std::printf("-- map, imap --\n");
  {
    kin::Pool pool{4};
    std::vector<int> xs;
    for (int i = 0; i < 10; ++i) xs.push_back(i);
    auto all = pool.map(f, xs);
    std::printf("[");
    for (std::size_t i = 0; i < all.size(); ++i) std::printf("%s%d", i ? ", " : "", all[i]);
    std::printf("]\n");
    auto it = pool.imap(f, xs);  // an iterator over results, computed ahead
    std::printf("%d\n", *it.next());
    std::printf("%d\n", *it.next());
    std::printf("%d\n", *it.next(1s));
    pool.terminate();
  }

  std::printf("-- join before get --\n");
  kin::Queue<std::string> queue;
  kin::Process p{put_big, queue};
  p.start();
  if (p.join(20s))
    std::printf("joined: the child ended with its item already in the queue\n");
  else
    std::printf("the child is still running after 20 s\n");
  auto obj = queue.get(5s);
  std::printf("got %zu bytes\n", obj ? obj->size() : 0);
  if (p.is_alive()) p.join();
}
