// Seed 000's print-and-lock programs of "multiprocessing" and "进程同步(Lock, RLock)", one by
// one: four processes print under a Lock; a function run in the parent and in a child prints
// each one's parent pid and pid; four children joined right after each start (in order)
// against started together and then joined (in any order); ten children that print under an
// RLock and sleep while holding it (one at a time, in any order).
//
// Python (shortened):
//   def func(i, lock):
//       with lock: print(f'process-{i}')
//   def printInfo(myStr): print(myStr, os.getppid(), os.getpid())
//   printInfo("main"); p1 = Process(target=printInfo, args=("p1",)); p1.start(); p1.join()
//   for process in process_list: process.start(); process.join()      # 有序进行
//   for process in process_list: process.start()
//   for process in process_list: process.join()                       # 主线程等待
//   def printInfo(myStr, lock):
//       with lock: print(myStr, os.getppid(), os.getpid()); time.sleep(1)
//   lock = multiprocessing.RLock(); ... 10 processes
//
// The seed's sleep(1) under the RLock is 100 ms here. The seed's conclusion holds: processes
// alone run in parallel and in any order; under a lock, one at a time in any order; started and
// joined one by one, one at a time in order.
#include <kin/kin.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

void func(int i, kin::Lock lock) {
  std::lock_guard g{lock};
  std::printf("process-%d\n", i);
  std::fflush(stdout);
}

void print_info(std::string my_str) {
  std::printf("%s %d %d\n", my_str.c_str(), ::getppid(), ::getpid());
  std::fflush(stdout);
}

void print_info_locked(std::string my_str, kin::RLock lock) {
  std::lock_guard g{lock};  // without it, all ten print at once
  std::printf("%s %d %d\n", my_str.c_str(), ::getppid(), ::getpid());
  std::fflush(stdout);
  std::this_thread::sleep_for(100ms);
}

std::vector<kin::Process> four_print_infos() {
  std::vector<kin::Process> ps;
  for (int i = 0; i < 4; ++i) ps.emplace_back(print_info, "subprocess-" + std::to_string(i));
  return ps;
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);

  std::printf("-- 用lock进程同步 --\n");
  kin::Lock lock;
  std::vector<kin::Process> locked;
  for (int i = 0; i < 4; ++i) locked.emplace_back(func, i, lock);
  for (auto& p : locked) p.start();
  for (auto& p : locked) p.join();

  std::printf("-- the parent and a child --\n");
  print_info("main");
  kin::Process p1{print_info, std::string("p1")};
  p1.start();
  p1.join();  // 等待子进程完成，主进程再执行后面的代码

  std::printf("-- start(); join() one by one: in order --\n");
  for (auto& process : four_print_infos()) {
    process.start();
    process.join();
  }

  std::printf("-- all started, then all joined: any order --\n");
  auto process_list = four_print_infos();
  for (auto& process : process_list) process.start();
  for (auto& process : process_list) process.join();

  std::printf("-- 进程同步: ten processes under an RLock --\n");
  kin::RLock rlock;
  std::vector<kin::Process> ten;
  for (int i = 0; i < 10; ++i) ten.emplace_back(print_info_locked, "subprocess-" + std::to_string(i), rlock);
  for (auto& process : ten) process.start();
  for (auto& process : ten) process.join();
}
