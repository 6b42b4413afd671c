#include <kin/runtime/runtime_resources.hpp>

#include <algorithm>
#include <mutex>
#include <new>

namespace kin::detail {

namespace {
struct Registry {
  std::mutex mu;
  std::vector<int> fds;
  std::vector<pid_t> pids;
};
Registry& registry() {
  static auto* r = new Registry;  // never destroyed: usable from atexit handlers and children
  return *r;
}
template <class T>
void erase_value(std::vector<T>& v, T x) {
  v.erase(std::remove(v.begin(), v.end(), x), v.end());
}
}  // namespace

void note_runtime_fd(int fd) {
  std::lock_guard g{registry().mu};
  registry().fds.push_back(fd);
}
void forget_runtime_fd(int fd) {
  std::lock_guard g{registry().mu};
  erase_value(registry().fds, fd);
}
void note_runtime_pid(pid_t pid) {
  std::lock_guard g{registry().mu};
  registry().pids.push_back(pid);
}
void forget_runtime_pid(pid_t pid) {
  std::lock_guard g{registry().mu};
  erase_value(registry().pids, pid);
}
std::vector<int> runtime_fds() {
  std::lock_guard g{registry().mu};
  return registry().fds;
}
void runtime_resources_after_fork() noexcept {
  auto* r = &registry();
  new (&r->mu) std::mutex;
  r->pids.clear();
}

std::vector<pid_t> runtime_pids() {
  std::lock_guard g{registry().mu};
  return registry().pids;
}

}  // namespace kin::detail
