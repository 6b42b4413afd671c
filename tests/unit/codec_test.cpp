#include <kin/codec.hpp>  // first: the header is self-contained

#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

namespace {

template <class T>
T round_trip(const T& x) {
  return kin::decode<T>(kin::encode(x));
}

kin::Bytes bytes(std::initializer_list<int> v) {
  kin::Bytes b;
  for (int x : v) b.push_back(static_cast<std::byte>(x));
  return b;
}

struct Pod {
  std::int32_t a;
  double b;
  char c[4];
  friend bool operator==(const Pod& x, const Pod& y) { return x.a == y.a && x.b == y.b && std::memcmp(x.c, y.c, 4) == 0; }
};

struct Job {
  int id = 0;
  std::string cmd;
  std::vector<std::string> args;
  std::optional<std::map<std::string, int>> env;
  friend bool operator==(const Job&, const Job&) = default;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Job& x) {
  return f(caf::meta::type_name("Job"), x.id, x.cmd, x.args, x.env);
}

struct Batch {
  std::vector<Job> jobs;
  std::variant<int, std::string, Job> tag;
  friend bool operator==(const Batch&, const Batch&) = default;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Batch& x) {
  return f(caf::meta::type_name("Batch"), x.jobs, x.tag);
}

// An inspect overload whose load callback validates the decoded value.
struct Percent {
  int value = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Percent& x) {
  return f(x.value, caf::meta::load_callback([&]() -> bool { return x.value < 0 || x.value > 100; }));
}

struct NoInspect {
  std::string s;
};

}  // namespace

static_assert(kin::serializable<int>);
static_assert(kin::serializable<std::map<std::string, std::vector<std::optional<std::variant<int, std::string>>>>>);
static_assert(kin::serializable<Job>);
static_assert(!kin::serializable<int*>, "raw pointers cannot travel");
static_assert(!kin::serializable<NoInspect>, "a struct with a string needs an inspect overload");
static_assert(!kin::serializable<std::vector<NoInspect>>);

TEST(Codec, TriviallyCopyableIsOneMemcpy) {
  Pod p{7, 2.5, {'a', 'b', 'c', 'd'}};
  EXPECT_EQ(kin::encode(p).size(), sizeof(Pod));
  EXPECT_EQ(round_trip(p), p);
  EXPECT_EQ(round_trip(-42), -42);
  EXPECT_EQ(round_trip(3.25), 3.25);
  EXPECT_EQ(round_trip(true), true);
  enum class Color : std::uint8_t { red, green };
  EXPECT_EQ(round_trip(Color::green), Color::green);
  EXPECT_EQ((round_trip(std::array<int, 3>{1, 2, 3})), (std::array<int, 3>{1, 2, 3}));
}

TEST(Codec, StandardContainers) {
  EXPECT_EQ(round_trip(std::string("héllo")), "héllo");
  EXPECT_EQ(round_trip(std::string()), "");
  EXPECT_EQ(round_trip(std::vector<int>{1, 2, 3}), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(round_trip(std::vector<bool>{true, false, true}), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(round_trip(std::deque<std::string>{"a", "b"}), (std::deque<std::string>{"a", "b"}));
  EXPECT_EQ(round_trip(std::list<int>{5, 6}), (std::list<int>{5, 6}));
  EXPECT_EQ(round_trip(std::set<std::string>{"x", "y"}), (std::set<std::string>{"x", "y"}));
  std::map<std::string, std::vector<int>> m{{"a", {1}}, {"b", {}}};
  EXPECT_EQ(round_trip(m), m);
  std::unordered_map<int, std::string> um{{1, "one"}, {2, "two"}};
  EXPECT_EQ(round_trip(um), um);
  std::unordered_set<int> us{1, 2, 3};
  EXPECT_EQ(round_trip(us), us);
  EXPECT_EQ(round_trip(std::optional<std::string>{}), std::nullopt);
  EXPECT_EQ(round_trip(std::optional<std::string>{"x"}), "x");
  std::variant<int, std::string> v = std::string("s");
  EXPECT_EQ(round_trip(v), v);
  auto t = std::make_tuple(1, std::string("two"), 3.0, std::vector<char>{'4'});
  EXPECT_EQ(round_trip(t), t);
  auto pr = std::make_pair(std::string("k"), std::optional<int>{5});
  EXPECT_EQ(round_trip(pr), pr);
}

TEST(Codec, UserTypesWithInspectNested) {
  Job j{1, "ls", {"-l", "/"}, std::map<std::string, int>{{"X", 1}}};
  EXPECT_EQ(round_trip(j), j);
  Batch b{{j, Job{2, "pwd", {}, std::nullopt}}, j};
  EXPECT_EQ(round_trip(b), b);
}

TEST(Codec, DeeplyNestedContainers) {
  using Deep = std::vector<std::map<std::string, std::vector<std::optional<std::variant<int, std::string>>>>>;
  Deep d(50);
  for (int i = 0; i < 50; ++i)
    d[static_cast<std::size_t>(i)]["k" + std::to_string(i)] = {std::nullopt, i, std::string(static_cast<std::size_t>(i), 'z')};
  EXPECT_EQ(round_trip(d), d);
  std::vector<std::vector<std::vector<std::vector<std::vector<std::vector<int>>>>>> six{{{{{{1, 2}}}}}};
  EXPECT_EQ(round_trip(six), six);
}

TEST(Codec, SixtyFourMiBPayloads) {
  std::string s(64u << 20, 'q');
  s[12345] = 'w';
  EXPECT_EQ(round_trip(s), s);
  std::vector<std::uint8_t> v(64u << 20, 7);
  v.back() = 9;
  EXPECT_EQ(round_trip(v), v);
}

TEST(Codec, TruncatedInputIsProtocolError) {
  auto b = kin::encode(std::string("hello"));
  b.pop_back();
  EXPECT_THROW((void)kin::decode<std::string>(b), kin::ProtocolError);
  EXPECT_THROW((void)kin::decode<int>(bytes({1, 2})), kin::ProtocolError);
  EXPECT_THROW((void)kin::decode<Job>(kin::Bytes{}), kin::ProtocolError);
}

TEST(Codec, TrailingBytesAreProtocolError) {
  auto b = kin::encode(5);
  b.push_back(std::byte{0});
  EXPECT_THROW((void)kin::decode<int>(b), kin::ProtocolError);
}

TEST(Codec, HostileLengthsAreRefusedBeforeAllocating) {
  // A vector<uint8_t> claiming 3 GiB with 3 bytes behind it (CAF 0.17 resized first: G10).
  EXPECT_THROW((void)kin::decode<std::vector<std::uint8_t>>(bytes({0x80, 0x80, 0x80, 0x80, 0x0c, 1, 2, 3})), kin::ProtocolError);
  // A length of 2^33: CAF 0.17 decoded it silently as 0 (32-bit varints, G10).
  EXPECT_THROW((void)kin::decode<std::string>(bytes({0x80, 0x80, 0x80, 0x80, 0x20})), kin::ProtocolError);
  // 2^64 and beyond: an overlong varint.
  EXPECT_THROW((void)kin::decode<std::string>(bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})), kin::ProtocolError);
  EXPECT_THROW((void)kin::decode<std::string>(bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})), kin::ProtocolError);
  // A map of strings claiming a million entries in five bytes.
  EXPECT_THROW((void)(kin::decode<std::map<std::string, std::string>>(bytes({0xc0, 0x84, 0x3d, 0, 0}))), kin::ProtocolError);
  // Containers of zero-size elements cannot be made endless.
  EXPECT_THROW((void)kin::decode<std::vector<std::tuple<>>>(bytes({0xff, 0xff, 0xff, 0xff, 0x0f})), kin::ProtocolError);
}

TEST(Codec, BadDiscriminatorsAreProtocolError) {
  EXPECT_THROW((void)kin::decode<bool>(bytes({2})), kin::ProtocolError);
  EXPECT_THROW((void)kin::decode<std::optional<int>>(bytes({7, 0, 0, 0, 0})), kin::ProtocolError);
  EXPECT_THROW((void)(kin::decode<std::variant<int, std::string>>(bytes({2, 0}))), kin::ProtocolError);
}

TEST(Codec, LoadCallbacksCanRejectAValue) {
  Percent ok{50}, bad{150};
  EXPECT_EQ(round_trip(ok).value, 50);
  EXPECT_THROW((void)kin::decode<Percent>(kin::encode(bad)), kin::ProtocolError);
}

TEST(Codec, EncodeIntoAppends) {
  kin::Bytes b(4, std::byte{0xaa});
  kin::encode_into(b, std::string("x"));
  EXPECT_EQ(b.size(), 4u + 1u + 1u);
  EXPECT_EQ(kin::decode<std::string>(std::span<const std::byte>(b).subspan(4)), "x");
}
