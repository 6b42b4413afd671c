// MemfdSegment: an anonymous shared-memory segment (memfd) mapped into this process.
// Queues, Values, Arrays and locks live in these: the segment has no name in /dev/shm, so it
// cannot leak — the kernel frees it when the last fd and mapping go, crashes included. It
// reaches a child by fork inheritance or as an fd (SCM_RIGHTS, see handover.hpp).
#pragma once

#include <kin/runtime/unique_fd.hpp>

#include <cstddef>
#include <span>

namespace kin::detail {

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
