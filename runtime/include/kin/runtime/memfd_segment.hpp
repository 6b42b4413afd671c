// MemfdSegment: an anonymous shared-memory segment (memfd) mapped into this process.
// Queues, Values, Arrays and locks live in these: the segment has no name in /dev/shm, so it
// cannot leak — the kernel frees it when the last fd and mapping go, crashes included. It
// reaches a child by fork inheritance or as an fd (SCM_RIGHTS, see handover.hpp).
//
//   auto seg = MemfdSegment::create(4096, "kin-value");   // OSError when memory is short
//
// Every page is reserved at creation (reserve_shm below), so a write to the mapping never dies
// of SIGBUS; a shortage is an OSError at the constructor. A crash frees the segment with the
// process's last fd and mapping.
#pragma once

#include <kin/runtime/unique_fd.hpp>

#include <cstddef>
#include <span>

namespace kin::detail {

/// Sizes the shared-memory file `fd` (a memfd or a /dev/shm segment) from `old_size` to
/// `new_size` bytes with every new page reserved (fallocate), so that touching the mapping
/// never dies of SIGBUS: a full /dev/shm, tmpfs or memory cgroup is OSError(ENOSPC/ENOMEM)
/// here instead. Past RLIMIT_FSIZE it is OSError(EFBIG) — SIGXFSZ is blocked in the calling
/// thread for the call and the one it raised consumed, so it never ends the process. On
/// failure the file keeps `old_size` bytes. `what` names the object in the error message.
/// The one way kin creates or grows a segment: MemfdSegment, SharedMemory and the Queue's ring
/// (shm_ring.cpp, at creation and growth) all call it.
void reserve_shm(int fd, std::size_t old_size, std::size_t new_size, const char* what);

class MemfdSegment {
 public:
  MemfdSegment() noexcept = default;
  /// Creates a zero-filled segment of `size` bytes; `name` shows in /proc/<pid>/maps only.
  static MemfdSegment create(std::size_t size, const char* name = "kin");
  /// Maps an existing segment (size taken from fstat); takes ownership of `fd`.
  static MemfdSegment attach(unique_fd fd);

  MemfdSegment(MemfdSegment&& other) noexcept;
  MemfdSegment& operator=(MemfdSegment&& other) noexcept;
  MemfdSegment(const MemfdSegment&) = delete;
  MemfdSegment& operator=(const MemfdSegment&) = delete;
  ~MemfdSegment();

  /// Another mapping of the same segment with its own fd (for a second owner).
  [[nodiscard]] MemfdSegment duplicate() const;

  [[nodiscard]] void* data() const noexcept { return addr_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] bool valid() const noexcept { return addr_ != nullptr; }
  [[nodiscard]] std::span<std::byte> bytes() const noexcept {
    return {static_cast<std::byte*>(addr_), size_};
  }
  /// Unmaps and closes now.
  void reset() noexcept;

 private:
  MemfdSegment(unique_fd fd, void* addr, std::size_t size) noexcept
      : fd_(std::move(fd)), addr_(addr), size_(size) {}
  unique_fd fd_;
  void* addr_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace kin::detail
