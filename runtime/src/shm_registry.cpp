#include <kin/runtime/shm_registry.hpp>
#include <kin/runtime/process_table.hpp>
#include <kin/runtime/memfd_segment.hpp>
#include <kin/runtime/syscall.hpp>
#include <kin/runtime/fault_point.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

namespace kin::detail {

namespace {

std::mutex g_mutex;  // serialises this process's appends and reclaims

// The mount namespace this process sees /dev/shm through (0 when /proc is not there).
std::uint64_t mount_namespace() {
  struct stat st {};
  if (::stat("/proc/self/ns/mnt", &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_ino);
}

// "<pid>.<start time>.m<mount namespace>": whose file, and which /dev/shm its names live in.
std::string own_file_name() {
  auto pid = static_cast<std::int32_t>(::getpid());
  return std::to_string(pid) + "." + std::to_string(process_start_time(pid)) + ".m" +
         std::to_string(mount_namespace());
}

struct FileName {
  std::int32_t pid = 0;
  std::uint64_t start = 0;
  std::optional<std::uint64_t> mntns;  // absent in files of older kin builds
};

// "<pid>.<start>[.m<ns>]"; nullopt for anything else.
std::optional<FileName> parse_file_name(const std::string& s) {
  FileName f;
  const char* p = s.c_str();
  char* end = nullptr;
  errno = 0;
  long pid = std::strtol(p, &end, 10);
  if (end == p || *end != '.' || pid <= 0 || errno != 0) return std::nullopt;
  p = end + 1;
  unsigned long long start = std::strtoull(p, &end, 10);
  if (end == p) return std::nullopt;
  if (*end == '.' && end[1] == 'm') {
    p = end + 2;
    unsigned long long ns = std::strtoull(p, &end, 10);
    if (end == p) return std::nullopt;
    f.mntns = ns;
  }
  if (*end != '\0') return std::nullopt;
  f.pid = static_cast<std::int32_t>(pid);
  f.start = start;
  return f;
}

std::string registry_path() {
  if (const char* d = std::getenv("KIN_SHM_REGISTRY_DIR"); d != nullptr && *d != '\0') return d;
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x != nullptr && *x != '\0' && ::access(x, W_OK) == 0)
    return std::string(x) + "/kin-shm-registry";
  return "/tmp/kin-shm-registry-" + std::to_string(::geteuid());
}

// Opens the registry directory, refusing one that is a symlink, not ours, or open to others:
// its files say which segments to unlink, so whoever can write there could make us unlink (or
// append to) anything we can. nullopt when it does not exist and `create` is false.
std::optional<unique_fd> open_registry(bool create) {
  const std::string dir = registry_path();
  if (create && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throw_errno(("mkdir(" + dir + ")").c_str());
  unique_fd fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
  if (!fd) {
    const int err = errno;
    if (err == ENOENT && !create) return std::nullopt;
    if (err == ELOOP || err == ENOTDIR)
      throw OSError(err, "kin: the shared-memory registry " + dir +
                             " is not a plain directory (a symlink?): refusing it; remove it or set "
                             "KIN_SHM_REGISTRY_DIR to a private directory");
    throw_errno(("open(" + dir + ")").c_str(), err);
  }
  struct stat st {};
  check(::fstat(fd.get(), &st), "fstat(shm registry)");
  if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw OSError(EACCES, "kin: the shared-memory registry " + dir + " is owned by uid " +
                              std::to_string(st.st_uid) + " with mode " + mode + " (it must be this user's, uid " +
                              std::to_string(::geteuid()) + ", mode 0700): refusing it; remove it or set "
                              "KIN_SHM_REGISTRY_DIR to a private directory");
  }
  return fd;
}

void append_line(int dirfd, const std::string& file, const std::string& line) {
  unique_fd fd{::openat(dirfd, file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (!fd) throw_errno("open(shm registry entry)");
  // A registry file past RLIMIT_FSIZE must fail (EFBIG), not end the process (SIGXFSZ).
  ThreadSignalBlock block{SIGXFSZ};
  // One write() of a short line with O_APPEND: never interleaved with another writer.
  ssize_t w = retry_eintr([&] { return ::write(fd.get(), line.data(), line.size()); });
  if (w < 0) {
    const int err = errno;
    if (err == EFBIG) block.consume();
    throw_errno("write(shm registry)", err);
  }
}

bool file_exists(int dirfd, const std::string& file) {
  struct stat st {};
  return ::fstatat(dirfd, file.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

// What a registry file still lists. Lines:
//   ~<C>             creating a segment under the temporary name C (it may exist, unnamed yet)
//   =<inode> <C> <N> C exists as segment `inode` and is being renamed N
//   -~<C>            the creation of C was abandoned (C unlinked)
//   -<N>             N was unlinked by its creator
//   +<inode> <N>     N exists as segment `inode` (files of older kin builds)
struct Entries {
  struct Live {
    std::string name;
    ino_t inode = 0;
    std::string creating_name;  // "" in older files
  };
  std::map<std::string, Live> live;   // keyed by the creating name (older files: the name)
  std::set<std::string> creating;     // temporary names of creations that may not have finished
  [[nodiscard]] bool empty() const { return live.empty() && creating.empty(); }
};

Entries read_entries(int dirfd, const std::string& file) {
  Entries e;
  unique_fd fd{::openat(dirfd, file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (!fd) return e;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) return e;
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t r = retry_eintr([&] { return ::read(fd.get(), buf, sizeof buf); });
    if (r <= 0) break;
    text.append(buf, static_cast<std::size_t>(r));
  }
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 2) continue;
    const std::string rest = line.substr(1);
    if (line[0] == '~') {
      e.creating.insert(rest);
    } else if (line[0] == '+' || line[0] == '=') {
      std::istringstream is(rest);
      unsigned long long ino = 0;
      std::string creating, name;
      is >> ino;
      is.get();
      if (line[0] == '=') {
        is >> creating;
        is.get();
        e.creating.erase(creating);
      }
      std::getline(is, name);
      if (!name.empty()) e.live[creating.empty() ? name : creating] = {name, static_cast<ino_t>(ino), creating};
    } else if (line[0] == '-' && rest.size() > 1 && rest[0] == '~') {
      e.creating.erase(rest.substr(1));
      e.live.erase(rest.substr(1));
    } else if (line[0] == '-') {
      std::erase_if(e.live, [&](const auto& kv) { return kv.second.name == rest; });
    }
  }
  return e;
}

// Unlinks /dev/shm/<name> if it is still the segment `inode` (0: any, for names only its
// creator could have made).
bool unlink_segment(const std::string& name, ino_t inode) {
  struct stat st {};
  const std::string path = "/dev/shm/" + name;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if (inode != 0 && st.st_ino != inode) return false;
  return ::shm_unlink(("/" + name).c_str()) == 0;
}

std::size_t unlink_listed(int dirfd, const std::string& file) {
  std::size_t n = 0;
  const Entries e = read_entries(dirfd, file);
  for (const auto& [key, seg] : e.live) {
    if (unlink_segment(seg.name, seg.inode)) ++n;
    if (!seg.creating_name.empty() && unlink_segment(seg.creating_name, seg.inode)) ++n;
  }
  for (const auto& creating : e.creating)
    if (unlink_segment(creating, 0)) ++n;
  ::unlinkat(dirfd, file.c_str(), 0);
  return n;
}

std::size_t reclaim_matching(std::int32_t only_pid) noexcept {
  std::size_t n = 0;
  try {
    std::lock_guard g{g_mutex};
    auto dirfd = open_registry(false);
    if (!dirfd) return 0;
    DIR* d = ::fdopendir(check(::fcntl(dirfd->get(), F_DUPFD_CLOEXEC, 0), "fcntl(F_DUPFD_CLOEXEC)"));
    if (d == nullptr) return 0;
    const std::uint64_t ns = mount_namespace();
    while (dirent* e = ::readdir(d)) {
      auto f = parse_file_name(e->d_name);
      if (!f) continue;
      if (only_pid != 0 && f->pid != only_pid) continue;
      // A file from another mount namespace lists segments of a /dev/shm we may not see:
      // dropping it would leak them for good. Its own namespace reclaims it.
      if (f->mntns && *f->mntns != ns) continue;
      if (!process_is_dead(f->pid, f->start)) continue;
      n += unlink_listed(dirfd->get(), e->d_name);
    }
    ::closedir(d);
  } catch (...) {
    // A registry we cannot use (refused, unreadable) reclaims nothing; creating a segment
    // reports why.
  }
  return n;
}

void at_exit_unlink_own() {
  try {
    std::lock_guard g{g_mutex};
    auto dirfd = open_registry(false);
    if (!dirfd) return;
    const std::string file = own_file_name();
    if (!file_exists(dirfd->get(), file)) return;
    auto e = read_entries(dirfd->get(), file);
    if (!e.live.empty())
      std::fprintf(stderr, "kin: %zu leaked SharedMemory segment(s) unlinked at exit (call unlink())\n",
                   e.live.size());
    unlink_listed(dirfd->get(), file);
  } catch (...) {
  }
}

void install_exit_hook() {
  static std::once_flag hook;
  std::call_once(hook, [] { std::atexit(at_exit_unlink_own); });
}

}  // namespace

std::string shm_name_prefix() {
  const char* p = std::getenv("KIN_SHM_PREFIX");
  return p != nullptr && *p != '\0' ? std::string(p) : std::string("kin_");
}

std::string shm_registry_dir() {
  (void)open_registry(true);
  return registry_path();
}

void shm_register(const std::string& name, ino_t inode) {
  install_exit_hook();
  std::lock_guard g{g_mutex};
  auto dirfd = open_registry(true);
  // Appended piecewise: `"+" + std::string` trips GCC 12's -Wrestrict at -O3 (a false positive).
  std::string line = "+";
  line += std::to_string(static_cast<unsigned long long>(inode));
  line += ' ';
  line += name;
  line += '\n';
  append_line(dirfd->get(), own_file_name(), line);
}

void shm_unregister(const std::string& name) {
  std::lock_guard g{g_mutex};
  auto dirfd = open_registry(false);
  if (!dirfd) return;
  const std::string file = own_file_name();
  if (!file_exists(dirfd->get(), file)) return;  // created by another process
  append_line(dirfd->get(), file, "-" + name + "\n");
  if (read_entries(dirfd->get(), file).empty()) ::unlinkat(dirfd->get(), file.c_str(), 0);
}

unique_fd shm_create(const std::string& name, std::size_t size) {
  static std::atomic<unsigned> counter{0};
  install_exit_hook();
  auto dirfd = open_registry(true);
  const std::string file = own_file_name();
  // Created under a name only this process could have chosen, recorded before it exists.
  const auto pid = static_cast<std::int32_t>(::getpid());
  const std::string creating = shm_name_prefix() + "creating_" + std::to_string(pid) + "_" +
                               std::to_string(process_start_time(pid)) + "_" + std::to_string(counter++);
  {
    std::lock_guard g{g_mutex};
    append_line(dirfd->get(), file, "~" + creating + "\n");
  }
  unique_fd fd{::shm_open(("/" + creating).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
  if (!fd) throw_errno(("shm_open(" + creating + ")").c_str());
  fault_point("shm.create.opened");
  auto give_up = [&] {
    ::shm_unlink(("/" + creating).c_str());
    try {
      std::lock_guard g{g_mutex};
      append_line(dirfd->get(), file, "-~" + creating + "\n");
      if (read_entries(dirfd->get(), file).empty()) ::unlinkat(dirfd->get(), file.c_str(), 0);
    } catch (...) {
    }
  };
  try {
    reserve_shm(fd.get(), 0, size, ("SharedMemory '" + name + "'").c_str());
    struct stat st {};
    check(::fstat(fd.get(), &st), "fstat");
    {
      std::lock_guard g{g_mutex};
      std::string line = "=";  // piecewise, as in shm_register (GCC 12 -Wrestrict at -O3)
      line += std::to_string(static_cast<unsigned long long>(st.st_ino));
      line += ' ';
      line += creating;
      line += ' ';
      line += name;
      line += '\n';
      append_line(dirfd->get(), file, line);
    }
    fault_point("shm.create.registered");
    // The segment takes its real name in one step, and only if the name is free (O_EXCL's rule).
    unique_fd shm{::open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (!shm) throw_errno("open(/dev/shm)");
    if (::renameat2(shm.get(), creating.c_str(), shm.get(), name.c_str(), RENAME_NOREPLACE) != 0)
      throw_errno(("shm_open(" + name + ")").c_str());
  } catch (...) {
    give_up();
    throw;
  }
  return fd;
}

std::size_t reclaim_segments_of(pid_t pid) {
  if (pid <= 0) return 0;
  return reclaim_matching(static_cast<std::int32_t>(pid));
}

std::size_t reclaim_dead_segments() { return reclaim_matching(0); }

void reclaim_dead_segments_once() {
  static std::once_flag once;
  std::call_once(once, [] { reclaim_dead_segments(); });
}

}  // namespace kin::detail
