// SharedBlock: the storage handle of every shared-state object (Value, Array, Lock ...): a
// reference-counted mapping of an anonymous memfd segment plus the offset of the object's
// state inside it. Copying a handle shares the mapping (same lock, same value); a fork child
// inherits it; under spawn/forkserver the handle travels through its `inspect` overload as a
// handed-over fd (handover.hpp) and is mapped again on the other side.
//
// One segment per object costs an fd and a page each — the price of segments that the kernel
// reclaims by itself when the last holder goes, crash included. An object that needs several
// parts (a Value and its lock) puts them in one segment at different offsets.
#pragma once

#include <kin/runtime/handover.hpp>
#include <kin/runtime/memfd_segment.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace kin::detail {

class SharedBlock {
 public:
  SharedBlock() noexcept = default;
  /// A fresh zero-filled segment of `size` bytes; `name` shows in /proc/<pid>/maps.
  static SharedBlock create(std::size_t size, const char* name);

  /// The same segment at another offset (e.g. the lock inside a Value's segment).
  [[nodiscard]] SharedBlock at(std::size_t offset) const;

  [[nodiscard]] bool valid() const noexcept { return seg_ != nullptr; }
  [[nodiscard]] std::byte* data() const noexcept {
    return static_cast<std::byte*>(seg_->data()) + offset_;
  }
  template <class T>
  [[nodiscard]] T* as() const noexcept {
    return reinterpret_cast<T*>(data());
  }
  /// Bytes from the offset to the end of the segment.
  [[nodiscard]] std::size_t size() const noexcept { return seg_->size() - offset_; }
  [[nodiscard]] bool same_segment(const SharedBlock& o) const noexcept { return seg_ == o.seg_; }

  /// Encode side of inspect: records the segment's fd for the child; returns its slot.
  [[nodiscard]] std::uint32_t export_slot() const;
  [[nodiscard]] std::uint64_t offset() const noexcept { return offset_; }
  /// Decode side: maps the fd handed over in `slot`.
  static SharedBlock import_slot(std::uint32_t slot, std::uint64_t offset);

 private:
  std::shared_ptr<MemfdSegment> seg_;
  std::size_t offset_ = 0;
};

/// The `inspect` body shared by all shared-state handles: a slot and an offset on the wire.
template <class Inspector>
void inspect_block(Inspector& f, SharedBlock& b) {
  std::uint32_t slot = 0;
  std::uint64_t offset = 0;
  if constexpr (Inspector::reads_state) {
    slot = b.export_slot();
    offset = b.offset();
  }
  f(slot, offset);
  if constexpr (Inspector::writes_state) b = SharedBlock::import_slot(slot, offset);
}

}  // namespace kin::detail
