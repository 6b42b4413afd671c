// threading.local in C++: a `thread_local` variable (seed 002 §3 ThreadLocal, seed 001
// "threading.local"). Each kin::Thread binds its own student, and every function the thread
// calls reads it without passing it down. Prints:
//   Hello, Alice (in Thread-A)
//   Hello, Bob (in Thread-B)
// Then seed 001's three programs of its threading.local section: ten threads add to a global
// under a Lock (10001); ten threads count in a local variable passed to show(); the same
// count kept in a threading.local (`data.num`), here a thread_local int — each prints 1000.
//
// Python:
//   local_school = threading.local()
//   def process_student():
//       std = local_school.student
//       print('Hello, %s (in %s)' % (std, threading.current_thread().name))
//   def process_thread(name):
//       local_school.student = name
//       process_student()
//   t1 = threading.Thread(target=process_thread, args=('Alice',), name='Thread-A')
//   t2 = threading.Thread(target=process_thread, args=('Bob',), name='Thread-B')
//   t1.start(); t2.start(); t1.join(); t2.join()
//
// C++ needs no kin type for this: `thread_local` gives each thread its own copy, created on
// first use in that thread and destroyed when the thread ends (Python's local() attributes
// live as long as the thread too). A thread that never assigns sees the initial value
// (Python: AttributeError), so the empty string stands for "not bound".
#include <kin/kin.hpp>

#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

namespace {

struct LocalSchool {
  std::string student;
};
thread_local LocalSchool local_school;  // one per thread, like threading.local()

void process_student() {
  const std::string& std_name = local_school.student;  // this thread's student
  std::printf("Hello, %s (in %s)\n", std_name.c_str(), kin::current_thread().name().c_str());
}

// seed 001: num = 1; l = threading.Lock(); def cal(): l.acquire(); num += 1 (x1000); l.release()
int num = 1;
kin::Lock l;
void cal() {
  std::lock_guard g{l};
  for (int i = 0; i < 1000; ++i) num += 1;
}

void show(int n) { std::printf("%s %d\n", kin::current_thread().name().c_str(), n); }

void thread_cal_local() {  // local_num = 0; ... show(local_num)
  int local_num = 0;
  for (int i = 0; i < 1000; ++i) local_num += 1;
  show(local_num);
}

thread_local int data_num = 0;  // data = threading.local(); data.num
void thread_cal_data() {
  data_num = 0;
  for (int i = 0; i < 1000; ++i) data_num += 1;
  show(data_num);
}

void ten_threads(void (*f)()) {
  std::vector<kin::Thread> threads;
  for (int i = 0; i < 10; ++i) threads.emplace_back(f);
  for (auto& t : threads) t.start();
  for (auto& t : threads) t.join();
}

void process_thread(std::string name) {
  local_school.student = std::move(name);  // binds the student of this thread only
  process_student();
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::Thread t1{kin::ThreadOptions{.name = "Thread-A"}, process_thread, std::string("Alice")};
  kin::Thread t2{kin::ThreadOptions{.name = "Thread-B"}, process_thread, std::string("Bob")};
  t1.start();
  t1.join();  // joined in turn so the two lines come in the seed's order
  t2.start();
  t2.join();
  // The main thread has its own, never bound, copy.
  std::printf("main thread's student: '%s'\n", local_school.student.c_str());

  ten_threads(cal);
  std::printf("%d\n", num);  // 10001
  ten_threads(thread_cal_local);
  ten_threads(thread_cal_data);
}
