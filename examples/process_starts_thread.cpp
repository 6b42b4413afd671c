// Seed 000's "process start thread": four processes, each starting a thread that prints the
// process's name and the thread's ident. Prints, e.g.:
//   6448
//   6450:Process-1, Parent PID=6448
//   Process-1,thread No.140213787965120
//   ...
//
// Python:
//   def go():
//       print(f'{mp.current_process().name},thread No.{threading.get_ident()}')
//   def task():
//       print(f'{os.getpid()}:{mp.current_process().name}, Parent PID={os.getppid()}')
//       threading.Thread(target=go).start()
//   if __name__ == "__main__":
//       print(os.getpid())
//       for i in range(4): mp.Process(target=task).start()
//
// As in Python, each child waits for its non-daemon thread before it exits, and the main
// program waits for its children.
#include <kin/kin.hpp>

#include <unistd.h>

#include <cstdio>
#include <vector>

namespace {

void go() {
  std::printf("%s,thread No.%llu\n", kin::current_process().name.c_str(),
              static_cast<unsigned long long>(kin::get_ident()));
  std::fflush(stdout);
}

void task() {
  std::printf("%d:%s, Parent PID=%d\n", ::getpid(), kin::current_process().name.c_str(), ::getppid());
  std::fflush(stdout);
  kin::Thread{go}.start();  // not joined here: the child joins it before exiting
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::printf("%d\n", ::getpid());
  std::fflush(stdout);
  std::vector<kin::Process> ps;
  for (int i = 0; i < 4; ++i) ps.emplace_back(task);
  for (auto& p : ps) p.start();
  for (auto& p : ps) p.join();
}
