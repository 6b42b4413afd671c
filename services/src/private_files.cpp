#include "private_files.hpp"

#include <kin/errors.hpp>
#include <kin/runtime/auth.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace kin::services::detail {

void make_private_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path p{dir};
  if (p.has_parent_path() && !fs::exists(p.parent_path())) fs::create_directories(p.parent_path());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throw OSError(errno, "kin supervise: mkdir " + dir);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) throw OSError(errno, "kin supervise: " + dir);
  if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode))
    throw OSError(ENOTDIR, "kin supervise: " + dir + " is a symlink or not a directory; refusing it");
  if (st.st_uid != ::geteuid())
    throw OSError(EACCES, "kin supervise: " + dir + " belongs to uid " + std::to_string(st.st_uid) +
                              ", not to this user; refusing it (set [supervisor] runtime_dir)");
  if ((st.st_mode & 022) != 0)
    throw OSError(EACCES, "kin supervise: others can write " + dir + "; refusing it (chmod 700 it)");
}

std::string read_or_make_key(const std::string& path) {
  unique_fd fd{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
  if (!fd && errno == ENOENT) {
    make_private_dir(std::filesystem::path{path}.parent_path().string());
    const std::string key = kin::detail::random_hex(32);
    const std::string tmp = path + ".new." + std::to_string(::getpid());
    unique_fd out{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
    if (!out) throw OSError(errno, "kin supervise: cannot create the key file " + tmp);
    const std::string line = key + "\n";
    if (::write(out.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()) || ::fsync(out.get()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      throw OSError(err, "kin supervise: cannot write the key file " + tmp);
    }
    // link(), not rename(): a key another supervisor made meanwhile is kept, and read below.
    if (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
      int err = errno;
      ::unlink(tmp.c_str());
      throw OSError(err, "kin supervise: cannot create the key file " + path);
    }
    ::unlink(tmp.c_str());
    const int again = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    const int err = errno;
    fd.reset(again);
    errno = err;
  }
  if (!fd) throw OSError(errno, "kin supervise: cannot read the key file " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw OSError(errno, "kin supervise: " + path);
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0)
    throw OSError(EACCES, "kin supervise: the key file " + path +
                              " must be a regular file of this user that others cannot read (chmod 600)");
  std::string key;
  char buf[256];
  ssize_t n = 0;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 && key.size() < 4096) key.append(buf, static_cast<std::size_t>(n));
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.empty()) throw OSError(EACCES, "kin supervise: the key file " + path + " is empty");
  return key;
}

}  // namespace kin::services::detail
