// A child gets a copy of the globals, not a share: seed 000 "multiprocess global variable"
// (global_num: the parent adds 10, the child 100), seed 000's Pipe-section data_list (five
// children each append to their own copy of a global list) and seed 004's 全局变量在多个进程中
// 不能共享 (the child's num += 1 leaves the parent's num at 100).
//   ====================
//   110
//   200
//   ...
//   ['subprocess-0'] 0x...  (each child's list has its own item only; the address is the
//                            same in every forked child, the memory behind it is not)
//   ...
//   父进程结束。num：100
//
// Python (seed 000, data_list):
//   data_list = []
//   def printInfo(myStr):
//       global data_list; data_list.append(myStr); print(data_list, id(data_list))
//   for i in range(5): multiprocessing.Process(target=printInfo, args=(f"subprocess-{i}",)).start()
//
// (The raw os.fork() versions of the first program are in examples/os_fork.cpp.)
#include <kin/kin.hpp>

#include <cstdio>
#include <string>
#include <vector>

int global_num = 100;
std::vector<std::string> data_list;
int num = 100;

namespace {

void print_info(std::string my_str) {
  data_list.push_back(std::move(my_str));
  std::printf("[");
  for (std::size_t i = 0; i < data_list.size(); ++i) std::printf("%s'%s'", i ? ", " : "", data_list[i].c_str());
  std::printf("] %p\n", static_cast<void*>(&data_list));
}

void run() {
  std::printf("子进程开始\n");
  num += 1;
  std::printf("子进程num：%d\n", num);
  std::printf("子进程结束\n");
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::printf("====================\n");
  kin::Process child{[] {
    global_num += 100;  // changes the child's copy only
    std::printf("%d\n", global_num);
  }};
  child.start();  // the child's memory is a copy of the parent's as of now
  global_num += 10;
  std::printf("%d\n", global_num);
  std::fflush(stdout);
  child.join();
  std::printf("parent still sees %d\n", global_num);

  std::vector<kin::Process> process_list;
  for (int i = 0; i < 5; ++i) process_list.emplace_back(print_info, "subprocess-" + std::to_string(i));
  for (auto& p : process_list) p.start();
  for (auto& p : process_list) p.join();
  std::printf("the parent's data_list has %zu items\n", data_list.size());

  std::printf("父进程开始\n");
  std::fflush(stdout);
  kin::Process p{run};
  p.start();
  p.join();
  std::printf("父进程结束。num：%d\n", num);
}
