// Seed 004's p17_singleton.py: a singleton built with double-checked locking, asked for by
// the main thread twice and by ten threads; every caller gets the same object.
//
// Python:
//   class Singleton(object):
//       _instance_lock = threading.Lock()
//       def __new__(cls, *args, **kwargs):
//           if not hasattr(Singleton, "_instance"):
//               with Singleton._instance_lock:
//                   if not hasattr(Singleton, "_instance"):
//                       Singleton._instance = object.__new__(cls)
//           return Singleton._instance
//   obj1 = Singleton(); obj2 = Singleton(); print(obj1, obj2)
//   def task(arg): obj = Singleton(); print(obj)
//   for i in range(10): threading.Thread(target=task, args=[i,]).start()
//
// In C++ the first check must read an atomic (acquire), or a thread could see the pointer
// before the object it points to; the pattern is shown that way. The idiomatic C++ spelling
// needs no lock at all: a function-local static is initialised exactly once, thread-safely
// (C++11 "magic statics"), which the second half shows.
#include <kin/kin.hpp>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <vector>

namespace {

class Singleton {
 public:
  static Singleton* instance() {
    Singleton* p = instance_.load(std::memory_order_acquire);  // check 1, without the lock
    if (p == nullptr) {
      std::lock_guard g{instance_lock_};
      p = instance_.load(std::memory_order_relaxed);  // check 2, under the lock
      if (p == nullptr) {
        p = new Singleton;  // lives as long as the program, like the Python class attribute
        instance_.store(p, std::memory_order_release);
      }
    }
    return p;
  }

 private:
  Singleton() = default;
  static inline std::atomic<Singleton*> instance_{nullptr};
  static inline kin::Lock instance_lock_;
};

struct Magic {
  static Magic& instance() {
    static Magic m;  // initialised once, the first caller's thread, others wait
    return m;
  }
};

void task(int) { std::printf("%p\n", static_cast<void*>(Singleton::instance())); }
void magic_task(int) { std::printf("%p\n", static_cast<void*>(&Magic::instance())); }

void ten_threads(void (*f)(int)) {
  std::vector<kin::Thread> ts;
  for (int i = 0; i < 10; ++i) ts.emplace_back(f, i);
  for (auto& t : ts) t.start();
  for (auto& t : ts) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  Singleton* obj1 = Singleton::instance();
  Singleton* obj2 = Singleton::instance();
  std::printf("%p %p\n", static_cast<void*>(obj1), static_cast<void*>(obj2));
  ten_threads(task);  // ten times the same address

  std::printf("-- a function-local static --\n");
  ten_threads(magic_task);
}
