// Codec figures (no peer in the kit; research/caf-0.17-cheatsheet.md §4 measured CAF's own
// binary serializer at 11.9 M/s for {int32, enum} and 0.81 M/s for a 75-byte struct):
//   kin.codec.pod16      encode+decode of a 16-byte POD (ops/s)
//   kin.codec.struct75   encode+decode of a struct with strings, a map and a vector (ops/s)
//   kin.codec.bulk1m     encode+decode of a 1 MiB std::vector<uint8_t> (GB/s)
#include "bench_util.hpp"

#include <kin/codec.hpp>

#include <caf/meta/type_name.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace {

struct Pod16 {
  std::int64_t a, b;
};

struct Req {
  std::int32_t id = 0;
  std::string cmd;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::int64_t deadline = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Req& x) {
  return f(caf::meta::type_name("Req"), x.id, x.cmd, x.args, x.env, x.deadline);
}

template <class T>
double ops_per_second(const T& value, long n) {
  volatile std::size_t sink = 0;
  auto t0 = std::chrono::steady_clock::now();
  // As a channel does: one encode buffer and one decoded value, reused (so the figure is the
  // codec's, not the allocator's and the page faults of a fresh 1 MiB buffer each time).
  kin::Bytes b;
  T back{};
  for (long i = 0; i < n; ++i) {
    b.clear();
    kin::encode_into(b, value);
    kin::decode_into(b, back);
    sink = sink + b.size();
  }
  return static_cast<double>(n) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main() {
  if (kin::bench::enabled("kin.codec.pod16"))
    kin::bench::emit("kin.codec.pod16", ops_per_second(Pod16{1, 2}, kin::bench::scaled(5000000, 1000)), "ops/s");
  if (kin::bench::enabled("kin.codec.struct75")) {
    Req r{7, "run", {"-v", "input.txt"}, {{"HOME", "/root"}, {"LANG", "C"}}, 123456789};
    kin::bench::emit("kin.codec.struct75", ops_per_second(r, kin::bench::scaled(1000000, 1000)), "ops/s");
  }
  if (kin::bench::enabled("kin.codec.bulk1m")) {
    std::vector<std::uint8_t> v(1 << 20, 3);
    double ops = ops_per_second(v, kin::bench::scaled(2000, 10));
    kin::bench::emit("kin.codec.bulk1m", ops * (1 << 20) / 1e9, "GB/s");
  }
}
