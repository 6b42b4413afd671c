// Seed 000 "常见问题", its last program: a Lock holds back only the code inside `with mutex:`.
// Three threads (a kin::Thread subclass overriding run(), as the seed's MyThread) walk their
// list side by side; each then takes the lock, prints a row of stars and sleeps holding it, so
// the starred sections come one at a time while the loops before them overlapped.
//
// Python:
//   class MyThread(threading.Thread):
//       def run(self):
//           print(self.getName(), "start")
//           for item in self.mylist: time.sleep(2); print(self.getName(), item)
//           print(self.getName(), "finish loop")
//           with mutex: print(self.getName(), '*' * 20); time.sleep(10)
//           print(self.getName(), "end")
//   mutex = threading.Lock(); data_list = ['a', 'b']
//   for i in range(3): thread_list.append(MyThread(data_list)); thread_list[i].start()
//
// The sleeps are 100 ms and 300 ms here instead of 2 s and 10 s. A subclass that overrides
// run() must outlive its thread (kin/thread.hpp), so main joins them.
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

kin::Lock mutex;  // threading.Lock()

void say(const std::string& who, const std::string& what) {
  std::printf("%s %s\n", who.c_str(), what.c_str());
  std::fflush(stdout);
}

struct MyThread : kin::Thread {
  explicit MyThread(std::vector<std::string> mylist) : mylist(std::move(mylist)) {}
  void run() override {
    say(name(), "start");
    for (const auto& item : mylist) {
      std::this_thread::sleep_for(100ms);
      say(name(), item);
    }
    say(name(), "finish loop");
    {
      std::lock_guard g{mutex};  // only this block is one thread at a time
      say(name(), std::string(20, '*'));
      std::this_thread::sleep_for(300ms);
    }
    say(name(), "end");
  }
  std::vector<std::string> mylist;
};

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  const std::vector<std::string> data_list{"a", "b"};
  std::vector<std::unique_ptr<MyThread>> thread_list;
  for (int i = 0; i < 3; ++i) {
    thread_list.push_back(std::make_unique<MyThread>(data_list));
    thread_list.back()->start();
  }
  for (auto& t : thread_list) t->join();
}
