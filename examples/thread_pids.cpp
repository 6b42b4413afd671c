// Port of seed 000's "threads share the pid, processes do not" program. Python:
//
//   def worker(sign, mutex):
//       with mutex:
//           print(sign, os.getpid())
//   if __name__ == '__main__':
//       print('main process', os.getpid())
//       for i in range(4):   # threads, with a threading.Lock
//           t = threading.Thread(target=worker, args=(f't-{i}', thread_lock)); t.start()
//       for i in range(4):   # processes, with a multiprocessing.Lock
//           p = multiprocessing.Process(target=worker, args=(f'p-{i}', process_lock)); p.start()
//
// Output: every thread prints the main program's pid, every process its own. (The seed appends
// `t` instead of `p` to process_list, so it never joins its processes; this port does.)
// A kin::Lock works for both: it is shared by threads and by processes.
#include <kin/init.hpp>
#include <kin/lock.hpp>
#include <kin/process.hpp>
#include <kin/thread.hpp>

#include <unistd.h>

#include <iostream>
#include <mutex>
#include <string>
#include <vector>

namespace {
void worker(const std::string& sign, kin::Lock& mutex) {
  std::lock_guard g{mutex};
  std::cout << sign << " " << ::getpid() << std::endl;  // endl: a child's output is flushed
}
}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::cout << "main process " << ::getpid() << std::endl;

  // multithreads
  kin::Lock thread_lock;
  std::vector<kin::Thread> thread_list;
  for (int i = 0; i < 4; ++i) {
    thread_list.emplace_back(worker, "t-" + std::to_string(i), std::ref(thread_lock));
    thread_list.back().start();
  }
  for (auto& t : thread_list) t.join();

  // multiprocess
  kin::Lock process_lock;
  std::vector<kin::Process> process_list;
  for (int i = 0; i < 4; ++i) {
    process_list.emplace_back([](const std::string& sign, kin::Lock mutex) { worker(sign, mutex); },
                              "p-" + std::to_string(i), process_lock);
    process_list.back().start();
  }
  for (auto& p : process_list) p.join();
}
