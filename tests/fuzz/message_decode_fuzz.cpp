// libFuzzer: decode arbitrary bytes as a kin::Message. Only kin::ProtocolError may come out;
// what decodes must survive an encode/decode round trip unchanged.
#include <kin/message.hpp>

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  kin::Message m;
  try {
    kin::decode_into(in, m);
  } catch (const kin::ProtocolError&) {
    return 0;
  }
  if (!(kin::decode<kin::Message>(kin::encode(m)) == m)) std::abort();
  return 0;
}
