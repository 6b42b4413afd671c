// Port of seed 000's "threads share the pid" program (threads half). Python:
//
//   def worker(sign, mutex):
//       with mutex:
//           print(sign, os.getpid())
//   print('main process', os.getpid())
//   for i in range(4):
//       t = threading.Thread(target=worker, args=(f't-{i}', thread_lock)); t.start()
//
// Output: every thread prints the main program's pid. Each thread also prints its own kernel
// thread id (native_id), which differs. The multiprocessing half of the seed (each Process has
// its own pid) is in the Process examples.
#include <kin/lock.hpp>
#include <kin/thread.hpp>

#include <unistd.h>

#include <iostream>
#include <mutex>
#include <string>
#include <vector>

namespace {
void worker(const std::string& sign, kin::Lock& mutex) {
  std::lock_guard g{mutex};
  std::cout << sign << " " << ::getpid() << "  (thread " << kin::current_thread().name()
            << ", native_id " << *kin::current_thread().native_id() << ")\n";
}
}  // namespace

int main() {
  std::cout << "main process " << ::getpid() << "\n";
  kin::Lock thread_lock;
  std::vector<kin::Thread> thread_list;
  for (int i = 0; i < 4; ++i) {
    thread_list.emplace_back(worker, "t-" + std::to_string(i), std::ref(thread_lock));
    thread_list.back().start();
  }
  for (auto& t : thread_list) t.join();
}
