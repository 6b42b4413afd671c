// The seeds' os.fork() demos (seed 000 "in linux的fork()" and "multiprocess global variable",
// seed 002 §1.1, seed 004 "区分父子进程"), in C++, where os.fork() is ::fork() itself. Four
// parts, each printing from the parent and the child(ren):
//   1. fork returns twice: 0 in the child, the child's pid in the parent;
//   2. what follows fork runs in both: getppid(), getpid(), fork's result;
//   3. a global is copied, not shared: the parent adds 10 (110), the child 100 (200);
//   4. two forks in a row make four processes (A/B from the first, C/D from the second).
//
// Python (part 3):
//   global_num = 100
//   sub_pid = os.fork()
//   if sub_pid == 0: global_num += 100; print(global_num)
//   else:            global_num += 10;  print(global_num)
//
// The seeds note that with os.fork the parent does not wait for its child, while
// multiprocessing joins its children before the program ends. A C++ parent must still reap a
// raw-forked child (else it stays a zombie until the parent exits), so every parent here waits
// for its children with waitpid(); a raw child leaves with _exit so that it runs none of the
// parent's exit handlers a second time. For anything beyond these demos use kin::Process
// (StartMethod::fork), which does the reaping, exit codes and daemon handling for you.
#include <kin/kin.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace {

int global_num = 100;

pid_t fork_or_die() {
  std::fflush(stdout);  // or the child would print the parent's buffered output again
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    std::exit(1);
  }
  return pid;
}

void reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

void part1_fork_returns_twice() {
  std::printf("this is mainprocess %d\n====================\n", ::getpid());
  pid_t sub_pid = fork_or_die();
  if (sub_pid == 0) {
    std::printf("This is subprocess %d sub_pid=%d (my parent is %d)\n", ::getpid(), sub_pid, ::getppid());
    std::fflush(stdout);
    ::_exit(0);
  }
  std::printf("This is mainprocess %d sub_pid=%d\n", ::getpid(), sub_pid);
  reap(sub_pid);
}

void part2_both_run_what_follows() {
  std::printf("\n%d\n====================\n", ::getpid());
  pid_t sub_pid = fork_or_die();
  std::printf("%d %d %d\n", ::getppid(), ::getpid(), sub_pid);  // printed twice
  if (sub_pid == 0) {
    std::fflush(stdout);
    ::_exit(0);
  }
  reap(sub_pid);
}

void part3_globals_are_copied() {
  std::printf("\n====================\n");
  pid_t sub_pid = fork_or_die();
  if (sub_pid == 0) {
    global_num += 100;
    std::printf("%d\n", global_num);  // 200: the child's copy
    std::fflush(stdout);
    ::_exit(0);
  }
  global_num += 10;
  std::printf("%d\n", global_num);  // 110: the parent's copy
  reap(sub_pid);
}

void part4_two_forks_four_processes() {
  std::printf("\n====================\n");
  const pid_t top = ::getpid();
  pid_t sub_pid1 = fork_or_die();
  std::printf(sub_pid1 == 0 ? "%d's A\n" : "%d's B\n", ::getpid());
  pid_t sub_pid2 = fork_or_die();  // both processes fork again
  std::printf(sub_pid2 == 0 ? "%d's C\n" : "%d's D\n", ::getpid());
  std::fflush(stdout);
  // A process reaps only the children it forked itself: a child of the second fork inherited
  // sub_pid1 but is not that process's parent.
  if (sub_pid2 != 0) {
    reap(sub_pid2);
    if (sub_pid1 != 0) reap(sub_pid1);
  }
  if (::getpid() != top) ::_exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  part1_fork_returns_twice();
  part2_both_run_what_follows();
  part3_globals_are_copied();
  part4_two_forks_four_processes();
  std::printf("global_num in the main process: %d\n", global_num);  // 110
}
