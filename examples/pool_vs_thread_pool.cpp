// Port of seed 000's "ThreadPool vs ProcessPool": the same task run by a process pool started
// with an initializer, by apply_async on part of a pool, by ProcessPoolExecutor.submit, and
// by the thread versions of each. The seed sleeps 1 s per step; here a step is 50 ms.
//
// Python:                                       kin:
//   Pool(8, initializer=func); close(); join()    kin::Pool{{.processes = 8, .initializer = func}}
//   Pool(8); apply_async(func) x4                 pool.apply_async(func) x4
//   ProcessPoolExecutor(8).submit(func) x8        kin::ProcessPoolExecutor{8}.submit(func) x8
//   pool.ThreadPool(8, initializer=func)          kin::ThreadPool{{.processes = 8, .initializer = func}}
//   ThreadPoolExecutor(8).submit(func) x8         kin::ThreadPoolExecutor{8}.submit(func) x8
//
// Processes print their pid (every worker has its own), threads print the program's pid and
// their thread name: the seed's point is that a process pool runs on several interpreters, a
// thread pool inside one.
#include <kin/kin.hpp>
#include <kin/pool.hpp>
#include <kin/process_pool_executor.hpp>
#include <kin/thread_pool.hpp>
#include <kin/thread_pool_executor.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

void func_in_process() {
  for (int j = 11; j < 16; ++j) {
    std::printf("%s pid %d: %d\n", kin::current_process().name.c_str(), static_cast<int>(::getpid()), j);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void func_in_thread() {
  for (int j = 11; j < 16; ++j) {
    std::printf("%s pid %d: %d\n", kin::current_thread().name().c_str(), static_cast<int>(::getpid()), j);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);

  std::printf("== Pool(8, initializer=func): every worker runs func once at its start\n");
  {
    kin::Pool po{kin::PoolOptions{.processes = 8, .initializer = func_in_process}};
    po.close();
    po.join();
  }

  std::printf("== Pool(8), apply_async(func) four times: four workers busy, four idle\n");
  {
    kin::Pool po{8};
    std::vector<kin::AsyncResult<void>> results;
    for (int i = 0; i < 4; ++i) results.push_back(po.apply_async(func_in_process));
    po.close();
    po.join();
  }

  std::printf("== ProcessPoolExecutor(8).submit(func) eight times\n");
  {
    kin::ProcessPoolExecutor executor{8};
    for (int i = 0; i < 8; ++i) executor.submit(func_in_process);
    executor.shutdown();  // Python's interpreter exit waits the same way
  }

  std::printf("== ThreadPool(8, initializer=func): eight threads, one pid\n");
  {
    kin::ThreadPool po{kin::PoolOptions{.processes = 8, .initializer = func_in_thread}};
    po.close();
    po.join();
  }

  std::printf("== ThreadPool(8), apply_async(func) four times\n");
  {
    kin::ThreadPool po{8};
    for (int i = 0; i < 4; ++i) po.apply_async(func_in_thread);
    po.close();
    po.join();
  }

  std::printf("== ThreadPoolExecutor(8).submit(func) eight times\n");
  {
    kin::ThreadPoolExecutor executor{8};
    for (int i = 0; i < 8; ++i) executor.submit(func_in_thread);
  }  // the destructor waits, as Python's `with` block does
}
