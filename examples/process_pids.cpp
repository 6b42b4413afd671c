// Seed 002 §1.2: a parent starts one child, waits for it, and both print their pids.
//   Parent process 16351.
//   Child process will start.
//   Run child process test (16422)
//   Child process end.
#include <kin/kin.hpp>

#include <cstdio>
#include <string>
#include <unistd.h>

void run_proc(const std::string& name) { std::printf("Run child process %s (%d)\n", name.c_str(), ::getpid()); }

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::printf("Parent process %d.\n", ::getpid());
  kin::Process p{run_proc, std::string("test")};
  std::printf("Child process will start.\n");
  p.start();
  p.join();
  std::printf("Child process end.\n");
}
