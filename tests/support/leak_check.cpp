#include "leak_check.hpp"

#include <kin/runtime/runtime_resources.hpp>

#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

namespace kin::testing {

namespace {

std::set<int> open_fds() {
  std::set<int> fds;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return fds;
  const int own = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd != own) fds.insert(fd);
  }
  ::closedir(d);
  return fds;
}

std::string fd_target(int fd) {
  char buf[512];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("?");
}

struct Child {
  pid_t pid;
  char state;
  std::string comm;
};

// Every process whose parent is us, read from /proc/<pid>/stat.
std::vector<Child> children() {
  std::vector<Child> out;
  const pid_t me = ::getpid();
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    auto open = line.find('(');
    auto close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = '?';
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == me) out.push_back({std::atoi(e->d_name), state, line.substr(open + 1, close - open - 1)});
  }
  ::closedir(d);
  return out;
}

std::set<std::string> shm_entries() {
  std::set<std::string> names;
  DIR* d = ::opendir("/dev/shm");
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind(shm_prefix(), 0) == 0) names.insert(n);
  }
  ::closedir(d);
  return names;
}

std::set<int> fds_before;

template <class T>
bool contains(const std::vector<T>& v, T x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

struct Leaks {
  std::vector<Child> kids;
  std::vector<int> fds;
  std::vector<std::string> shm;
  bool empty() const { return kids.empty() && fds.empty() && shm.empty(); }
};

Leaks find_leaks() {
  Leaks l;
  auto runtime_pids = kin::detail::runtime_pids();
  for (auto& c : children())
    if (!contains(runtime_pids, c.pid)) l.kids.push_back(c);
  auto runtime_fds = kin::detail::runtime_fds();
  for (int fd : open_fds())
    if (!fds_before.count(fd) && !contains(runtime_fds, fd)) l.fds.push_back(fd);
  for (auto& n : shm_entries()) l.shm.push_back(n);
  return l;
}

}  // namespace

const std::string& shm_prefix() {
  static const std::string prefix = [] {
    if (const char* p = std::getenv("KIN_SHM_PREFIX")) return std::string(p);
    std::string p = "kin_t" + std::to_string(::getpid()) + "_";
    ::setenv("KIN_SHM_PREFIX", p.c_str(), 1);
    return p;
  }();
  return prefix;
}

std::string shm_name(const std::string& suffix) { return shm_prefix() + suffix; }

void LeakCheck::OnTestStart(const ::testing::TestInfo&) { fds_before = open_fds(); }

void LeakCheck::OnTestEnd(const ::testing::TestInfo&) {
  // The runtime may still be finishing a reap or a close on another thread: allow a moment.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  Leaks l = find_leaks();
  while (!l.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    l = find_leaks();
  }
  for (auto& c : l.kids) {
    ADD_FAILURE() << "leak check: child process " << c.pid << " (" << c.comm << ") left "
                  << (c.state == 'Z' ? "as a zombie" : "running") << " after the test";
    ::kill(c.pid, SIGKILL);
    ::waitpid(c.pid, nullptr, 0);
  }
  for (int fd : l.fds) {
    ADD_FAILURE() << "leak check: fd " << fd << " (" << fd_target(fd) << ") left open after the test";
    ::close(fd);
  }
  for (auto& n : l.shm) {
    ADD_FAILURE() << "leak check: /dev/shm/" << n << " left after the test";
    ::shm_unlink(("/" + n).c_str());
  }
}

}  // namespace kin::testing
