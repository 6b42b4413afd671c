#include <kin/runtime/shared_block.hpp>
#include <kin/errors.hpp>

namespace kin::detail {

SharedBlock SharedBlock::create(std::size_t size, const char* name) {
  SharedBlock b;
  b.seg_ = std::make_shared<MemfdSegment>(MemfdSegment::create(size, name));
  return b;
}

SharedBlock SharedBlock::at(std::size_t offset) const {
  if (!valid() || offset >= seg_->size()) throw ValueError("kin: offset outside the shared segment");
  SharedBlock b;
  b.seg_ = seg_;
  b.offset_ = offset;
  return b;
}

std::uint32_t SharedBlock::export_slot() const {
  if (!valid()) throw ValueError("kin: cannot hand over an empty shared-state handle");
  return handover_export(seg_->fd());
}

SharedBlock SharedBlock::import_slot(std::uint32_t slot, std::uint64_t offset) {
  SharedBlock b;
  b.seg_ = std::make_shared<MemfdSegment>(MemfdSegment::attach(handover_import(slot)));
  if (offset >= b.seg_->size()) throw ProtocolError("kin: shared-state offset outside its segment");
  b.offset_ = static_cast<std::size_t>(offset);
  return b;
}

}  // namespace kin::detail
