// libFuzzer: feed arbitrary byte streams, in arbitrary chunks, to the incremental frame
// reader with a small maximum frame. It may only return frames that fit, or throw
// kin::ProtocolError for an oversized header; it must never crash or over-allocate.
#include <kin/runtime/framing.hpp>

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t max_frame = data[0] * 16u;
  const std::size_t chunk = 1 + data[1] % 17;
  kin::detail::FrameReader fr{max_frame};
  std::size_t consumed = 0;
  try {
    for (std::size_t at = 2; at < size; at += chunk) {
      std::size_t n = std::min(chunk, size - at);
      fr.feed(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data + at), n));
      while (auto f = fr.next()) {
        if (f->size() > max_frame) std::abort();
        consumed += kin::detail::kFrameHeaderSize + f->size();
      }
    }
  } catch (const kin::ProtocolError&) {
    return 0;
  }
  if (consumed > size - 2) std::abort();
  return 0;
}
