// SharedBlock: the storage handle of every shared-state object (Value, Array, Lock ...): a
// reference-counted mapping of an anonymous memfd segment plus the offset of the object's
// state inside it. Copying a handle shares the mapping (same lock, same value); a fork child
// inherits it; under spawn/forkserver the handle travels through its `inspect` overload as a
// handed-over fd (handover.hpp) and is mapped again on the other side (once per segment: a
// child that receives many objects of one segment maps it once).
//
//   auto b = SharedBlock::create(sizeof(State), "kin.Event");   // zero-filled, reserved
//
// Small objects (up to 1 KiB: Lock, Event, Value<int> ...) are cut, 64-byte aligned, from a
// shared arena segment of this process (4 KiB, doubling up to 1 MiB), so a thousand Locks cost
// a handful of fds and pages, not a thousand of each; larger ones get a segment of their own.
// Arena slots are never reused (another process may still use an object this one dropped); an
// arena's memory is freed by the kernel when every object cut from it is gone in every process,
// crash included. A child handed one arena object maps the whole arena: objects of one program
// are not isolated from each other (as under fork). An object that needs several parts (a
// Value and its lock) puts them in one block at different offsets.
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
  /// A fresh zero-filled block of `size` bytes, reserved (OSError rather than a later SIGBUS);
  /// `name` shows in /proc/<pid>/maps for a block with its own segment.
  static SharedBlock create(std::size_t size, const char* name);

  /// The same segment `offset` bytes further into this block (e.g. the lock inside a Value).
  [[nodiscard]] SharedBlock at(std::size_t offset) const;

  [[nodiscard]] bool valid() const noexcept { return seg_ != nullptr; }
  [[nodiscard]] std::byte* data() const noexcept {
    return static_cast<std::byte*>(seg_->data()) + offset_;
  }
  template <class T>
  [[nodiscard]] T* as() const noexcept {
    return reinterpret_cast<T*>(data());
  }
  /// Bytes from the block's start to the end of its segment (at least the size it was made with).
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
