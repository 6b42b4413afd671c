// Seed 000 "multiprocess global variable": a child gets a copy of the globals, not a share.
//   ====================
//   110
//   200
#include <kin/kin.hpp>

#include <cstdio>

int global_num = 100;

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
}
