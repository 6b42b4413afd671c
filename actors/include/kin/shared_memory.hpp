// kin::SharedMemory — Python's multiprocessing.shared_memory.SharedMemory: a named POSIX
// segment (/dev/shm/<name>) that unrelated processes can attach to by name.
//     kin::SharedMemory shm{"", 1024};              // creates; "" = a generated name
//     auto other = kin::SharedMemory::attach(shm.name());
//     std::span<std::byte> b = shm.buf();
//     shm.close(); shm.unlink();                    // unlink once, by the owner
// The destructor closes (unmaps) but does not unlink, as in Python. A segment is never left
// behind by its creator: the creator's normal exit unlinks what it did not (with a warning, like
// Python's resource_tracker), and a crashed creator's segments are unlinked by the parent that
// reaps it or by the next kin program (see kin/runtime/shm_registry.hpp). So a segment lives at
// most as long as the process that created it — attach from other processes while it runs.
// Passed to a spawn/forkserver child, a SharedMemory travels by name and is attached there.
#pragma once

#include <kin/errors.hpp>

#include <cstddef>
#include <span>
#include <string>

namespace kin {

class SharedMemory {
 public:
  /// An empty handle (to move into or decode into).
  SharedMemory() noexcept = default;
  /// Creates a new segment of `size` > 0 bytes, zero-filled. `name` "" generates one
  /// ($KIN_SHM_PREFIX or "kin_", then pid and a counter); a leading '/' is accepted. Throws
  /// ValueError for a bad name or size, OSError (EEXIST) when the name is taken.
  SharedMemory(std::string name, std::size_t size);
  /// Maps an existing segment; OSError (ENOENT) when there is none.
  static SharedMemory attach(std::string name);

  SharedMemory(SharedMemory&& other) noexcept;
  SharedMemory& operator=(SharedMemory&& other) noexcept;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  ~SharedMemory();

  /// The mapped bytes (empty after close()).
  [[nodiscard]] std::span<std::byte> buf() const noexcept {
    return addr_ != nullptr ? std::span<std::byte>{static_cast<std::byte*>(addr_), size_} : std::span<std::byte>{};
  }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// Unmaps this process's view; the segment stays for others.
  void close() noexcept;
  /// Removes the name (existing mappings stay valid). OSError (ENOENT) if already gone.
  void unlink();

  template <class Inspector>
  friend void inspect(Inspector& f, SharedMemory& x) {
    std::string name = x.name_;
    f(name);
    if constexpr (Inspector::writes_state) x = attach(name);
  }

 private:
  std::string name_;
  void* addr_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace kin
