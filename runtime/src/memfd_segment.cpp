#include <kin/runtime/memfd_segment.hpp>
#include <kin/runtime/syscall.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

namespace kin::detail {

namespace {
void* map_shared(int fd, std::size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw_errno("mmap");
  return p;
}
}  // namespace

MemfdSegment MemfdSegment::create(std::size_t size, const char* name) {
  if (size == 0) throw ValueError("kin: a shared-memory segment needs a size > 0");
  unique_fd fd{check(::memfd_create(name, MFD_CLOEXEC), "memfd_create")};
  check(::ftruncate(fd.get(), static_cast<off_t>(size)), "ftruncate");
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
