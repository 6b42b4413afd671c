// Decoding is bounded in memory by the frame (issue 9 item 9a, issue 14 item 2): a global
// operator new that counts live heap bytes measures the peak a decode allocates, per encoded
// byte. Ordinary values take about their own size; a valid frame of millions of empty strings
// (which used to decode 8 MiB into ~272 MiB) is refused before it allocates past the bound.
#include <kin/codec.hpp>

#include <gtest/gtest.h>

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <list>
#include <map>
#include <new>
#include <set>
#include <string>
#include <vector>

namespace {

std::atomic<std::size_t> g_live{0};
std::atomic<std::size_t> g_peak{0};

void* counted(std::size_t n, std::size_t align = 0) {
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align)
                                              : std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  std::size_t now = g_live.fetch_add(malloc_usable_size(p)) + malloc_usable_size(p);
  std::size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  return p;
}

void uncounted(void* p) noexcept {
  if (p == nullptr) return;
  g_live.fetch_sub(malloc_usable_size(p));
  std::free(p);
}

// Peak heap bytes allocated while decoding `bytes` as T, beyond what was live before.
template <class T>
std::size_t peak_of_decode(const kin::Bytes& bytes, bool& refused) {
  const std::size_t base = g_live.load();
  g_peak.store(base);
  refused = false;
  try {
    T x = kin::decode<T>(bytes);
    (void)x;
  } catch (const kin::ProtocolError&) {
    refused = true;
  }
  return g_peak.load() - base;
}

template <class T>
double ratio(const T& value) {
  const kin::Bytes bytes = kin::encode(value);
  bool refused = false;
  const std::size_t peak = peak_of_decode<T>(bytes, refused);
  EXPECT_FALSE(refused);
  return static_cast<double>(peak) / static_cast<double>(bytes.size());
}

}  // namespace

void* operator new(std::size_t n) { return counted(n); }
void* operator new[](std::size_t n) { return counted(n); }
void* operator new(std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { uncounted(p); }
void operator delete[](void* p) noexcept { uncounted(p); }
void operator delete(void* p, std::size_t) noexcept { uncounted(p); }
void operator delete[](void* p, std::size_t) noexcept { uncounted(p); }
void operator delete(void* p, std::align_val_t) noexcept { uncounted(p); }
void operator delete[](void* p, std::align_val_t) noexcept { uncounted(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { uncounted(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { uncounted(p); }

TEST(CodecMemory, OrdinaryValuesDecodeIntoAboutTheirOwnSize) {
  EXPECT_LE(ratio(std::vector<int>(2u << 20, 7)), 1.1);
  EXPECT_LE(ratio(std::string(8u << 20, 'x')), 1.1);
  EXPECT_LE(ratio(std::vector<std::vector<double>>(1000, std::vector<double>(1000, 1.5))), 1.2);
  EXPECT_LE(ratio(std::vector<std::string>(100000, std::string(80, 'w'))), 3.0);
  std::map<int, std::string> m;
  for (int i = 0; i < 50000; ++i) m[i] = std::string(100, 'v');
  EXPECT_LE(ratio(m), 3.0);
}

TEST(CodecMemory, AFrameOfEmptyStringsIsRefusedWithinTheBound) {
  // Valid: 8 Mi empty strings are 8 MiB on the wire and 256 MiB as a vector<std::string>.
  const std::vector<std::string> many(8u << 20);
  const kin::Bytes bytes = kin::encode(many);
  bool refused = false;
  const std::size_t peak = peak_of_decode<std::vector<std::string>>(bytes, refused);
  EXPECT_TRUE(refused);
  EXPECT_LE(peak, 17 * bytes.size() + (2u << 20)) << "peak " << peak << " for " << bytes.size() << " bytes";
  // So are empty vectors and a set of bytes' worth of nodes.
  EXPECT_THROW((void)kin::decode<std::vector<std::vector<int>>>(kin::encode(std::vector<std::vector<int>>(4u << 20))),
               kin::ProtocolError);
}

TEST(CodecMemory, AHostileCountCannotReserveMoreThanTheBound) {
  // A count of 4 Mi strings the input could hold (4 MiB of bytes follow), then one string that
  // eats them all: the decode fails on the second element. The reserve for 4 Mi strings
  // (128 MiB) must never have happened.
  kin::Bytes bytes;
  kin::detail::Writer w{bytes};
  const std::size_t n = 4u << 20;
  w.varint(n);
  w.varint(n);
  bytes.resize(bytes.size() + n, std::byte{'a'});
  bool refused = false;
  const std::size_t peak = peak_of_decode<std::vector<std::string>>(bytes, refused);
  EXPECT_TRUE(refused);
  EXPECT_LE(peak, 3 * bytes.size()) << "peak " << peak << " for " << bytes.size() << " bytes";
}

TEST(CodecMemory, LegitimateDenseContainersStayWithinTheBound) {
  std::set<int> s;
  for (int i = 0; i < 200000; ++i) s.insert(i);
  EXPECT_EQ(kin::decode<std::set<int>>(kin::encode(s)).size(), s.size());
  std::list<std::int64_t> l(100000, 3);
  EXPECT_EQ(kin::decode<std::list<std::int64_t>>(kin::encode(l)).size(), l.size());
  std::vector<bool> b(1u << 20, true);
  EXPECT_EQ(kin::decode<std::vector<bool>>(kin::encode(b)), b);
  std::vector<std::string> words(200000, "word");
  EXPECT_EQ(kin::decode<std::vector<std::string>>(kin::encode(words)).size(), words.size());
}
