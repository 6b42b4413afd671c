#include <kin/shared_memory.hpp>
#include <kin/errors.hpp>
#include <kin/runtime/shm_registry.hpp>
#include <kin/runtime/syscall.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <utility>

namespace kin {

namespace {

std::string checked_name(std::string name) {
  // shm_open takes a C string, which ends at the first NUL: "seg\0x" would name "seg".
  if (name.find('\0') != std::string::npos) throw ValueError("kin::SharedMemory: embedded null byte in the name");
  if (!name.empty() && name.front() == '/') name.erase(0, 1);
  if (name.empty()) throw ValueError("kin::SharedMemory: empty name");
  if (name.find('/') != std::string::npos || name.size() > 250 || name == "." || name == "..")
    throw ValueError("kin::SharedMemory: bad segment name '" + name + "' (no '/', at most 250 chars)");
  return name;
}

std::string generated_name() {
  static std::atomic<unsigned> counter{0};
  return detail::shm_name_prefix() + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

void* map(int fd, std::size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) detail::throw_errno("mmap");
  return p;
}

}  // namespace

SharedMemory::SharedMemory(std::string name, std::size_t size) {
  if (size == 0) throw ValueError("kin::SharedMemory: size must be > 0 when creating");
  detail::reclaim_dead_segments_once();
  bool generated = name.empty() || name == "/";
  for (int attempt = 0;; ++attempt) {
    std::string n = generated ? generated_name() : checked_name(name);
    unique_fd fd;
    try {
      // Registered before it exists and reserved in full: a crash at any point leaks nothing,
      // and a full /dev/shm is this OSError, not a SIGBUS at the first write.
      fd = detail::shm_create(n, size);
    } catch (const OSError& e) {
      if (e.error_code() == EEXIST && generated && attempt < 100) continue;
      throw;
    }
    try {
      addr_ = map(fd.get(), size);
    } catch (...) {
      ::shm_unlink(("/" + n).c_str());
      try {
        detail::shm_unregister(n);
      } catch (...) {
      }
      throw;
    }
    name_ = std::move(n);
    size_ = size;
    return;
  }
}

SharedMemory SharedMemory::attach(std::string name) {
  detail::reclaim_dead_segments_once();
  SharedMemory m;
  std::string n = checked_name(std::move(name));
  unique_fd fd{::shm_open(("/" + n).c_str(), O_RDWR | O_CLOEXEC, 0)};
  if (!fd) detail::throw_errno(("shm_open(" + n + ")").c_str());
  struct stat st {};
  detail::check(::fstat(fd.get(), &st), "fstat");
  if (st.st_size <= 0) throw ValueError("kin::SharedMemory: segment '" + n + "' is empty");
  m.size_ = static_cast<std::size_t>(st.st_size);
  m.addr_ = map(fd.get(), m.size_);
  m.name_ = std::move(n);
  return m;
}

SharedMemory::SharedMemory(SharedMemory&& o) noexcept
    : name_(std::move(o.name_)), addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& o) noexcept {
  if (this != &o) {
    close();
    name_ = std::move(o.name_);
    addr_ = std::exchange(o.addr_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

SharedMemory::~SharedMemory() { close(); }

void SharedMemory::close() noexcept {
  if (addr_ != nullptr) ::munmap(addr_, size_);
  addr_ = nullptr;
}

void SharedMemory::unlink() {
  if (name_.empty()) throw ValueError("kin::SharedMemory: unlink() of an empty handle");
  if (::shm_unlink(("/" + name_).c_str()) != 0) detail::throw_errno(("shm_unlink(" + name_ + ")").c_str());
  detail::shm_unregister(name_);
}

}  // namespace kin
