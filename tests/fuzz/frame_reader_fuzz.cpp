// libFuzzer: arbitrary byte streams, in arbitrary chunks, through the one frame reader that
// production uses (kin::detail::FrameReader: Connection, read_frame, event loops), with a small
// maximum frame. Pass 1 feeds them (feed/next); pass 2 writes them into a pipe and reads them
// back with fill_frame, buffered or exact, as Connection and read_frame do. The reader may only
// return frames that fit, or throw ProtocolError (oversized header, truncated frame) / EOFError
// (clean end); it must never crash, over-allocate, or return more bytes than were sent.
#include <kin/runtime/framing.hpp>
#include <kin/runtime/syscall.hpp>

#include <unistd.h>

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t max_frame = data[0] * 16u;
  const std::size_t chunk = 1 + data[1] % 17;
  const auto* stream = reinterpret_cast<const std::byte*>(data + 2);
  const std::size_t n = size - 2;
  {
    kin::detail::FrameReader fr{max_frame};
    std::size_t consumed = 0;
    try {
      for (std::size_t at = 0; at < n; at += chunk) {
        fr.feed(std::span<const std::byte>(stream + at, std::min(chunk, n - at)));
        while (auto f = fr.next()) {
          if (f->size() > max_frame) std::abort();
          consumed += kin::detail::kFrameHeaderSize + f->size();
        }
      }
    } catch (const kin::ProtocolError&) {
    }
    if (consumed > n) std::abort();
  }
  if (n > 60000) return 0;  // pass 2 writes it all into one pipe buffer (64 KiB)
  auto [r, w] = kin::detail::make_pipe();
  if (n > 0 && ::write(w.get(), stream, n) != static_cast<ssize_t>(n)) std::abort();
  w.reset();
  const auto mode = data[1] & 1 ? kin::detail::FrameReader::ReadAhead::exact : kin::detail::FrameReader::ReadAhead::buffered;
  kin::detail::FrameReader fr{max_frame};
  std::size_t consumed = 0;
  try {
    for (;;) {
      if (!fr.fill_frame(r.get(), kin::detail::Deadline::never(), mode)) std::abort();  // never cannot time out
      auto len = *fr.complete_frame();
      if (len > max_frame) std::abort();
      consumed += kin::detail::kFrameHeaderSize + len;
      fr.drop(len);
    }
  } catch (const kin::EOFError&) {
    if (consumed != n) std::abort();  // a clean end only at a frame boundary
  } catch (const kin::ProtocolError&) {
  }
  if (consumed > n) std::abort();
  return 0;
}
