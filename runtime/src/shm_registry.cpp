#include <kin/runtime/shm_registry.hpp>
#include <kin/runtime/futex.hpp>
#include <kin/runtime/syscall.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

namespace kin::detail {

namespace {

std::mutex g_mutex;  // serialises this process's appends and reclaims

std::string own_file() {
  auto pid = static_cast<std::int32_t>(::getpid());
  return shm_registry_dir() + "/" + std::to_string(pid) + "." + std::to_string(process_start_time(pid));
}

void append_line(const std::string& file, const std::string& line) {
  unique_fd fd{::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)};
  if (!fd) throw_errno("open(shm registry)");
  // One write() of a short line with O_APPEND: never interleaved with another writer.
  if (retry_eintr([&] { return ::write(fd.get(), line.data(), line.size()); }) < 0)
    throw_errno("write(shm registry)");
}

// The segments a registry file still lists: name -> inode.
std::map<std::string, ino_t> live_entries(const std::string& file) {
  std::map<std::string, ino_t> live;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 2) continue;
    if (line[0] == '+') {
      std::istringstream is(line.substr(1));
      unsigned long long ino = 0;
      std::string name;
      is >> ino;
      is.get();
      std::getline(is, name);
      if (!name.empty()) live[name] = static_cast<ino_t>(ino);
    } else if (line[0] == '-') {
      live.erase(line.substr(1));
    }
  }
  return live;
}

std::size_t unlink_listed(const std::string& file) {
  std::size_t n = 0;
  for (const auto& [name, ino] : live_entries(file)) {
    struct stat st {};
    std::string path = "/dev/shm/" + name;
    if (::stat(path.c_str(), &st) == 0 && st.st_ino == ino) {
      if (::shm_unlink(("/" + name).c_str()) == 0) ++n;
    }
  }
  ::unlink(file.c_str());
  return n;
}

// "<pid>.<start>" -> {pid, start}; false for foreign files.
bool parse_file_name(const std::string& s, std::int32_t& pid, std::uint64_t& start) {
  auto dot = s.find('.');
  if (dot == std::string::npos || dot == 0) return false;
  char* end = nullptr;
  long p = std::strtol(s.c_str(), &end, 10);
  if (end != s.c_str() + dot || p <= 0) return false;
  unsigned long long st = std::strtoull(s.c_str() + dot + 1, &end, 10);
  if (*end != '\0') return false;
  pid = static_cast<std::int32_t>(p);
  start = st;
  return true;
}

std::size_t reclaim_matching(std::int32_t only_pid) {
  std::lock_guard g{g_mutex};
  std::string dir = shm_registry_dir();
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  std::size_t n = 0;
  while (dirent* e = ::readdir(d)) {
    std::int32_t pid = 0;
    std::uint64_t start = 0;
    if (!parse_file_name(e->d_name, pid, start)) continue;
    if (only_pid != 0 && pid != only_pid) continue;
    if (!process_is_dead(pid, start)) continue;
    n += unlink_listed(dir + "/" + e->d_name);
  }
  ::closedir(d);
  return n;
}

void at_exit_unlink_own() {
  try {
    std::lock_guard g{g_mutex};
    std::string file = own_file();
    if (::access(file.c_str(), F_OK) != 0) return;
    auto live = live_entries(file);
    if (!live.empty())
      std::fprintf(stderr, "kin: %zu leaked SharedMemory segment(s) unlinked at exit (call unlink())\n",
                   live.size());
    unlink_listed(file);
  } catch (...) {
  }
}

}  // namespace

std::string shm_name_prefix() {
  const char* p = std::getenv("KIN_SHM_PREFIX");
  return p != nullptr && *p != '\0' ? std::string(p) : std::string("kin_");
}

std::string shm_registry_dir() {
  std::string dir;
  if (const char* d = std::getenv("KIN_SHM_REGISTRY_DIR"); d != nullptr && *d != '\0') {
    dir = d;
  } else if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x != nullptr && *x != '\0' && ::access(x, W_OK) == 0) {
    dir = std::string(x) + "/kin-shm-registry";
  } else {
    dir = "/tmp/kin-shm-registry-" + std::to_string(::getuid());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("mkdir(shm registry)");
  return dir;
}

void shm_register(const std::string& name, ino_t inode) {
  static std::once_flag hook;
  std::call_once(hook, [] { std::atexit(at_exit_unlink_own); });
  std::lock_guard g{g_mutex};
  append_line(own_file(), "+" + std::to_string(static_cast<unsigned long long>(inode)) + " " + name + "\n");
}

void shm_unregister(const std::string& name) {
  std::lock_guard g{g_mutex};
  std::string file = own_file();
  if (::access(file.c_str(), F_OK) != 0) return;  // created by another process
  append_line(file, "-" + name + "\n");
  if (live_entries(file).empty()) ::unlink(file.c_str());
}

std::size_t reclaim_segments_of(pid_t pid) {
  if (pid <= 0) return 0;
  return reclaim_matching(static_cast<std::int32_t>(pid));
}

std::size_t reclaim_dead_segments() { return reclaim_matching(0); }

void reclaim_dead_segments_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      reclaim_dead_segments();
    } catch (...) {
      // A registry we cannot read must not stop the program from using shared memory.
    }
  });
}

}  // namespace kin::detail
