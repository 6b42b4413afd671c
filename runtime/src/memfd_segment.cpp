#include <kin/runtime/memfd_segment.hpp>
#include <kin/runtime/syscall.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>

namespace kin::detail {

namespace {
void* map_shared(int fd, std::size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw_errno("mmap");
  return p;
}
}  // namespace

void reserve_shm(int fd, std::size_t old_size, std::size_t new_size, const char* what) {
  if (new_size <= old_size) return;
  // Growing a file past RLIMIT_FSIZE raises SIGXFSZ (default: core dump) before failing EFBIG.
  ThreadSignalBlock block{SIGXFSZ};
  int rc;
  do rc = ::fallocate(fd, 0, static_cast<off_t>(old_size), static_cast<off_t>(new_size - old_size));
  while (rc != 0 && errno == EINTR);
  int err = rc == 0 ? 0 : errno;
  if (err == EOPNOTSUPP) {  // a file system without fallocate: size it, unreserved
    rc = ::ftruncate(fd, static_cast<off_t>(new_size));
    err = rc == 0 ? 0 : errno;
  }
  if (err == 0) return;
  if (err == EFBIG) block.consume();
  // shmem undoes a failed fallocate itself; shrink anyway in case a partial size stuck.
  struct stat st {};
  if (::fstat(fd, &st) == 0 && static_cast<std::size_t>(st.st_size) > old_size) {
    [[maybe_unused]] int ignored = ::ftruncate(fd, static_cast<off_t>(old_size));
  }
  std::string why = err == EFBIG    ? " (over the file-size limit, RLIMIT_FSIZE)"
                    : err == ENOSPC ? " (shared memory is full: /dev/shm or its tmpfs is too small)"
                                    : "";
  throw OSError(err, "kin: cannot reserve " + std::to_string(new_size) + " bytes of shared memory for " + what + why);
}

MemfdSegment MemfdSegment::create(std::size_t size, const char* name) {
  if (size == 0) throw ValueError("kin: a shared-memory segment needs a size > 0");
  unique_fd fd{check(::memfd_create(name, MFD_CLOEXEC), "memfd_create")};
  reserve_shm(fd.get(), 0, size, name);
  void* addr = map_shared(fd.get(), size);
  return MemfdSegment{std::move(fd), addr, size};
}

MemfdSegment MemfdSegment::attach(unique_fd fd) {
  struct stat st {};
  check(::fstat(fd.get(), &st), "fstat");
  if (st.st_size <= 0) throw ValueError("kin: shared-memory segment is empty");
  auto size = static_cast<std::size_t>(st.st_size);
  void* addr = map_shared(fd.get(), size);
  return MemfdSegment{std::move(fd), addr, size};
}

MemfdSegment MemfdSegment::duplicate() const {
  if (!valid()) throw ValueError("kin: duplicate of an empty segment");
  return attach(unique_fd{check(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0), "fcntl(F_DUPFD_CLOEXEC)")});
}

MemfdSegment::MemfdSegment(MemfdSegment&& other) noexcept
    : fd_(std::move(other.fd_)),
      addr_(std::exchange(other.addr_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

MemfdSegment& MemfdSegment::operator=(MemfdSegment&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = std::move(other.fd_);
    addr_ = std::exchange(other.addr_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MemfdSegment::~MemfdSegment() { reset(); }

void MemfdSegment::reset() noexcept {
  if (addr_ != nullptr) ::munmap(addr_, size_);
  addr_ = nullptr;
  size_ = 0;
  fd_.reset();
}

}  // namespace kin::detail
