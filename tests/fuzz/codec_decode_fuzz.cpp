// libFuzzer: decode arbitrary bytes as several types; whatever decodes must survive an
// encode/decode round trip unchanged (bytes may differ: maps reorder, varints may be
// non-minimal). Anything but kin::ProtocolError from decode is a bug.
#include <kin/codec.hpp>

#include <caf/meta/type_name.hpp>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

namespace {

struct Job {
  int id = 0;
  std::string cmd;
  std::vector<std::string> args;
  friend bool operator==(const Job&, const Job&) = default;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Job& x) {
  return f(caf::meta::type_name("Job"), x.id, x.cmd, x.args);
}

template <class T>
void check(std::span<const std::byte> in) {
  T x{};
  try {
    kin::decode_into(in, x);
  } catch (const kin::ProtocolError&) {
    return;
  }
  if (!(kin::decode<T>(kin::encode(x)) == x)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  switch (data[0] % 8) {
    case 0: check<std::int64_t>(in); break;
    case 1: check<std::string>(in); break;
    case 2: check<std::vector<std::int32_t>>(in); break;
    case 3: check<std::map<std::string, std::vector<std::string>>>(in); break;
    case 4: check<std::optional<std::variant<int, std::string, std::vector<bool>>>>(in); break;
    case 5: check<std::tuple<bool, std::string, std::vector<std::tuple<>>>>(in); break;
    case 6: check<Job>(in); break;
    default: check<std::vector<std::optional<Job>>>(in); break;
  }
  return 0;
}
