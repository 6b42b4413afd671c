// kin's codec: `encode(x)` turns a value into bytes, `decode<T>(bytes)` turns them back.
//
// What can travel (the `kin::serializable<T>` concept):
//   - trivially copyable types (ints, floats, enums, PODs, std::array of them): one memcpy;
//   - std::string, and sequences/sets/maps of serializable types (vector, deque, list, set,
//     map, unordered_map, ...): a varint count, then the elements (one memcpy for a
//     contiguous range of trivially copyable elements);
//   - std::optional, std::variant, std::tuple, std::pair, std::array of serializable types;
//   - user types with a CAF 0.17 `inspect` overload, e.g.
//       template <class Inspector>
//       typename Inspector::result_type inspect(Inspector& f, Job& x) {
//         return f(caf::meta::type_name("Job"), x.id, x.cmd, x.args);
//       }
//
// The inspector that drives those overloads is kin's own (detail::Writer/Reader below): it
// speaks CAF 0.17's inspect protocol (annotations, save/load callbacks, reads_state /
// writes_state) without pulling CAF's serializer headers into every user TU, and it checks
// every length against the bytes that are really there before it allocates, so hostile input
// raises kin::ProtocolError — never a crash, an unbounded allocation, or a silent truncation
// (the holes of CAF's own binary_deserializer, cheatsheet G10/G18). Trailing bytes are an
// error too. Decoding is bounded in memory by the input's size: the containers and strings a
// value decodes into may take at most kDecodeExpansion (16) times the encoded bytes, plus
// 1 MiB; past that the value is refused (ProtocolError) before the allocation is made. Ordinary
// values stay far below (a vector<int> or a string takes ~1x, strings of 10+ chars ~3x); what
// the bound refuses is a frame of millions of empty strings or empty vectors, which would
// decode to 24-32x its size. The format is for kin peers of the same build on the same architecture: integers
// and trivially copyable values are in the machine's byte order.
#pragma once

#include <kin/errors.hpp>

#include <caf/meta/annotation.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/save_callback.hpp>

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace kin {

/// An encoded value.
using Bytes = std::vector<std::byte>;

namespace detail {

class Writer;
class Reader;

// ---- type classification ---------------------------------------------------------------

template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
struct is_variant : std::false_type {};
template <class... Ts>
struct is_variant<std::variant<Ts...>> : std::true_type {};

template <class T>
struct is_tuple_like : std::false_type {};
template <class... Ts>
struct is_tuple_like<std::tuple<Ts...>> : std::true_type {};
template <class A, class B>
struct is_tuple_like<std::pair<A, B>> : std::true_type {};

template <class T>
concept has_inspect = requires(Writer& w, T& x) { inspect(w, x); };

template <class T>
concept is_string = std::same_as<T, std::string>;

/// A container we can count, iterate and refill: vector, deque, list, set, map, ...
template <class T>
concept is_container = !is_string<T> && !is_std_array<T>::value && requires(T& c) {
  typename T::value_type;
  { c.size() } -> std::convertible_to<std::size_t>;
  c.begin();
  c.end();
  c.clear();
};

template <class T>
concept is_associative = is_container<T> && requires { typename T::key_type; };

/// Copied with one memcpy. A user type with an `inspect` overload is inspected instead.
template <class T>
concept is_memcpy_able = std::is_trivially_copyable_v<T> && !std::is_same_v<T, bool> &&
                         !std::is_pointer_v<T> && !has_inspect<T>;

template <class T>
concept is_contiguous_memcpy_range =
    is_container<T> && std::ranges::contiguous_range<T> && is_memcpy_able<typename T::value_type> &&
    requires(T& c, std::size_t n) { c.resize(n); };

template <class T>
struct serializable_impl;

template <class T>
inline constexpr bool serializable_v = serializable_impl<std::remove_cv_t<T>>::value;

template <class T>
struct serializable_impl {
  static constexpr bool compute() {
    if constexpr (std::is_same_v<T, bool> || is_string<T> || is_memcpy_able<T> || has_inspect<T>)
      return true;
    else if constexpr (is_std_array<T>::value || is_optional<T>::value)
      return serializable_v<typename T::value_type>;
    else if constexpr (is_variant<T>::value)
      return []<std::size_t... I>(std::index_sequence<I...>) {
        return (serializable_v<std::variant_alternative_t<I, T>> && ...);
      }(std::make_index_sequence<std::variant_size_v<T>>{});
    else if constexpr (is_tuple_like<T>::value)
      return []<std::size_t... I>(std::index_sequence<I...>) {
        return (serializable_v<std::tuple_element_t<I, T>> && ...);
      }(std::make_index_sequence<std::tuple_size_v<T>>{});
    else if constexpr (is_associative<T> && requires { typename T::mapped_type; })
      return serializable_v<typename T::key_type> && serializable_v<typename T::mapped_type>;
    else if constexpr (is_container<T>)
      return serializable_v<typename T::value_type>;
    else
      return false;
  }
  static constexpr bool value = compute();
};

/// The fewest bytes any value of T encodes to (0 when unknown, e.g. for inspect types).
template <class T>
constexpr std::size_t min_encoded_size() {
  if constexpr (std::is_same_v<T, bool>) return 1;
  else if constexpr (is_string<T> || is_container<T> || is_optional<T>::value || is_variant<T>::value)
    return 1;
  else if constexpr (is_memcpy_able<T>) return sizeof(T);
  else if constexpr (is_std_array<T>::value)
    return std::tuple_size_v<T> * min_encoded_size<typename T::value_type>();
  else if constexpr (is_tuple_like<T>::value)
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return (std::size_t{0} + ... + min_encoded_size<std::tuple_element_t<I, T>>());
    }(std::make_index_sequence<std::tuple_size_v<T>>{});
  else
    return 0;
}

// ---- writer ------------------------------------------------------------------------------

/// Appends the encoding of values to a byte vector. An Inspector in CAF 0.17's sense.
class Writer {
 public:
  using result_type = void;
  static constexpr bool reads_state = true;   // it reads the object's state (CAF naming)
  static constexpr bool writes_state = false;

  explicit Writer(Bytes& out) noexcept : out_(out) {}

  /// CAF inspector entry point: annotations are skipped, save callbacks run.
  template <class... Ts>
  void operator()(Ts&&... xs) {
    (one(std::forward<Ts>(xs)), ...);
  }

  void raw(const void* p, std::size_t n) {
    if (n == 0) return;
    const std::size_t at = out_.size();
    // Growth out of line: inlined into a caller that just made a small vector (a frame header,
    // a fresh encode()), GCC 12 follows the reallocation with the old, tiny size and reports a
    // false -Warray-bounds (-O2) or -Wstringop-overflow (-O3). After the opaque call the sizes
    // are unknown to it; then resize never reallocates.
    if (out_.capacity() - at < n) grow(out_, at + n);
    // One pass over the bytes (a resize first would zero them, then the copy write them again).
    const auto* b = static_cast<const std::byte*>(p);
    out_.insert(out_.end(), b, b + n);
  }

  void varint(std::uint64_t v) {
    std::byte buf[10];
    std::size_t n = 0;
    while (v >= 0x80) {
      buf[n++] = static_cast<std::byte>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    buf[n++] = static_cast<std::byte>(v);
    raw(buf, n);
  }

  template <class T>
  void apply(const T& x) {
    static_assert(serializable_v<T>,
                  "kin: this type cannot travel between processes. Make it trivially copyable, a "
                  "standard container/optional/variant/tuple of such types, or give it a CAF "
                  "`inspect` overload (see <kin/codec.hpp>).");
    if constexpr (std::is_same_v<T, bool>) {
      std::uint8_t b = x ? 1 : 0;
      raw(&b, 1);
    } else if constexpr (has_inspect<T>) {
      inspect(*this, const_cast<T&>(x));  // CAF's inspect takes T&; a Writer never modifies
    } else if constexpr (is_memcpy_able<T>) {
      raw(&x, sizeof(T));
    } else if constexpr (is_string<T>) {
      varint(x.size());
      raw(x.data(), x.size());
    } else if constexpr (is_std_array<T>::value) {
      for (const auto& e : x) apply(e);
    } else if constexpr (is_optional<T>::value) {
      apply(x.has_value());
      if (x) apply(*x);
    } else if constexpr (is_variant<T>::value) {
      if (x.valueless_by_exception()) throw ValueError("kin: cannot encode a valueless variant");
      varint(x.index());
      std::visit([this](const auto& alt) { apply(alt); }, x);
    } else if constexpr (is_tuple_like<T>::value) {
      std::apply([this](const auto&... es) { (apply(es), ...); }, x);
    } else if constexpr (is_contiguous_memcpy_range<T>) {
      varint(x.size());
      raw(std::ranges::data(x), x.size() * sizeof(typename T::value_type));
    } else if constexpr (is_container<T>) {
      varint(x.size());
      for (const auto& e : x) apply(e);
    }
  }

 private:
  template <class T>
  void one(T&& x) {
    using U = std::remove_cvref_t<T>;
    if constexpr (caf::meta::is_save_callback<U>::value) {
      run_callback(x.fun);
    } else if constexpr (caf::meta::is_load_callback<U>::value ||
                         std::is_base_of_v<caf::meta::annotation, U>) {
      // annotation or load-side callback: nothing to write
    } else {
      apply(static_cast<const U&>(x));
    }
  }

  template <class F>
  static void run_callback(F& f) {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
    } else if (auto err = f()) {  // CAF callbacks return caf::error
      throw ValueError("kin: an inspect save callback failed");
    }
  }

  [[gnu::noinline]] static void grow(Bytes& out, std::size_t need) {
    out.reserve(std::max(need, out.capacity() * 2));
  }

  Bytes& out_;
};

// ---- reader ------------------------------------------------------------------------------

/// Reads values back from bytes; every malformed input raises ProtocolError.
class Reader {
 public:
  using result_type = void;
  static constexpr bool reads_state = false;
  static constexpr bool writes_state = true;  // it writes into the object (CAF naming)

  explicit Reader(std::span<const std::byte> in) noexcept
      : in_(in), budget_(kDecodeSlack + kDecodeExpansion * in.size()) {}

  template <class... Ts>
  void operator()(Ts&&... xs) {
    (one(std::forward<Ts>(xs)), ...);
  }

  [[nodiscard]] std::size_t remaining() const noexcept { return in_.size() - pos_; }

  void raw(void* p, std::size_t n) {
    if (n > remaining()) fail("truncated input: need " + std::to_string(n) + " bytes, have " +
                              std::to_string(remaining()));
    if (n != 0) std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      std::uint8_t b;
      raw(&b, 1);
      if (shift == 63 && b > 1) break;  // would overflow 64 bits
      v |= std::uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return v;
    }
    fail("malformed length (varint longer than 64 bits)");
  }

  /// Accounts for `bytes` of memory the value being decoded is about to allocate: refused
  /// when the decode as a whole would pass its bound (see the top of this header).
  void charge(std::size_t bytes) {
    if (bytes > budget_)
      fail("the value would need more than " + std::to_string(kDecodeSlack + kDecodeExpansion * in_.size()) +
           " bytes of memory, " + std::to_string(kDecodeExpansion) + " times its " + std::to_string(in_.size()) +
           " encoded bytes plus 1 MiB (kin's decode memory bound)");
    budget_ -= bytes;
  }

  /// A count of elements that each take at least `min_size` bytes: refused when the input
  /// cannot possibly hold them, so a hostile count never drives an allocation.
  std::size_t count(std::size_t min_size) {
    std::uint64_t n = varint();
    std::uint64_t limit = min_size == 0 ? kMaxZeroSizeCount + remaining() : remaining() / min_size;
    if (n > limit)
      fail("length " + std::to_string(n) + " exceeds what the remaining " +
           std::to_string(remaining()) + " bytes can hold");
    return static_cast<std::size_t>(n);
  }

  template <class T>
  void apply(T& x) {
    static_assert(serializable_v<T>,
                  "kin: this type cannot travel between processes. Make it trivially copyable, a "
                  "standard container/optional/variant/tuple of such types, or give it a CAF "
                  "`inspect` overload (see <kin/codec.hpp>).");
    if constexpr (std::is_same_v<T, bool>) {
      std::uint8_t b;
      raw(&b, 1);
      if (b > 1) fail("invalid bool byte " + std::to_string(b));
      x = b == 1;
    } else if constexpr (has_inspect<T>) {
      inspect(*this, x);
    } else if constexpr (is_memcpy_able<T>) {
      raw(&x, sizeof(T));
    } else if constexpr (is_string<T>) {
      auto n = count(1);
      if (n >= sizeof(std::string)) charge(n + 1);  // longer than the small-string buffer
      x.assign(reinterpret_cast<const char*>(in_.data() + pos_), n);
      pos_ += n;
    } else if constexpr (is_std_array<T>::value) {
      for (auto& e : x) apply(e);
    } else if constexpr (is_optional<T>::value) {
      bool has = false;
      apply(has);
      if (has) {
        x.emplace();
        apply(*x);
      } else {
        x.reset();
      }
    } else if constexpr (is_variant<T>::value) {
      load_variant(x, std::make_index_sequence<std::variant_size_v<T>>{});
    } else if constexpr (is_tuple_like<T>::value) {
      std::apply([this](auto&... es) { (apply(es), ...); }, x);
    } else if constexpr (is_contiguous_memcpy_range<T>) {
      using E = typename T::value_type;
      auto n = count(sizeof(E));
      charge(n * sizeof(E));
      if constexpr (sizeof(E) == 1 && requires { x.assign(static_cast<const E*>(nullptr), static_cast<const E*>(nullptr)); }) {
        // Bytes: copied in one pass (resize would zero them first), reusing x's capacity.
        const auto* first = reinterpret_cast<const E*>(in_.data() + pos_);
        x.assign(first, first + n);
        pos_ += n;
      } else {
        x.resize(n);
        raw(std::ranges::data(x), n * sizeof(E));
      }
    } else if constexpr (is_container<T>) {
      load_container(x);
    }
  }

  [[noreturn]] static void fail(const std::string& what) {
    throw ProtocolError("kin: cannot decode: " + what);
  }

 private:
  // Element types that may encode to zero bytes (std::monostate-like inspect types) are
  // capped so that a hostile count cannot make us build an endless container of them.
  static constexpr std::uint64_t kMaxZeroSizeCount = 1u << 16;
  // The decode memory bound: kDecodeExpansion x the input, plus kDecodeSlack.
  static constexpr std::size_t kDecodeExpansion = 16;
  static constexpr std::size_t kDecodeSlack = std::size_t{1} << 20;
  // What a node-based container (list, set, map, unordered_map) adds to each element.
  static constexpr std::size_t kNodeOverhead = 32;

  template <class T>
  void one(T&& x) {
    using U = std::remove_cvref_t<T>;
    if constexpr (caf::meta::is_load_callback<U>::value) {
      if constexpr (std::is_void_v<decltype(x.fun())>) {
        x.fun();
      } else if (auto err = x.fun()) {
        fail("an inspect load callback rejected the value");
      }
    } else if constexpr (caf::meta::is_save_callback<U>::value ||
                         std::is_base_of_v<caf::meta::annotation, U>) {
      // nothing to read
    } else {
      static_assert(!std::is_const_v<std::remove_reference_t<T>>,
                    "kin: a decoding inspector needs mutable references");
      apply(x);
    }
  }

  template <class T, std::size_t... I>
  void load_variant(T& x, std::index_sequence<I...>) {
    auto index = varint();
    if (index >= sizeof...(I))
      fail("variant index " + std::to_string(index) + " out of range (" +
           std::to_string(sizeof...(I)) + " alternatives)");
    ((index == I ? (void)apply(x.template emplace<I>()) : void()), ...);
  }

  template <class T>
  void load_container(T& x) {
    using E = typename T::value_type;
    x.clear();
    auto n = count(min_encoded_size<E>());
    // Charged before anything is allocated, so the reserve below is bounded too: a count that
    // the input could hold but the memory bound could not is refused here, not after 32x.
    if constexpr (std::is_same_v<E, bool>) charge(n / 8 + 1);  // vector<bool>: bits
    else if constexpr (is_associative<T> || requires { x.splice_after(x.before_begin(), x); } ||
                       requires { x.splice(x.begin(), x); })
      charge(n * (sizeof(E) + kNodeOverhead));  // list, set, map: one node per element
    else charge(n * sizeof(E));
    if constexpr (requires { x.reserve(n); }) x.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      if constexpr (is_associative<T> && requires { typename T::mapped_type; }) {
        std::pair<typename T::key_type, typename T::mapped_type> kv;
        apply(kv.first);
        apply(kv.second);
        x.emplace(std::move(kv.first), std::move(kv.second));
      } else if constexpr (is_associative<T>) {
        E e{};
        apply(e);
        x.emplace(std::move(e));
      } else if constexpr (std::is_same_v<E, bool>) {  // vector<bool>'s proxies
        bool b = false;
        apply(b);
        x.push_back(b);
      } else {
        apply(x.emplace_back());
      }
    }
  }

  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
  std::size_t budget_;  // bytes the value may still allocate
};

}  // namespace detail

/// True when T can be encoded by kin's codec (see the list at the top of this header).
template <class T>
concept serializable = detail::serializable_v<T>;

/// Appends the encoding of `x` to `out` (lets framing reserve its length prefix first).
template <class T>
void encode_into(Bytes& out, const T& x) {
  static_assert(serializable<T>,
                "kin::encode: this type cannot travel between processes. Make it trivially "
                "copyable, a standard container/optional/variant/tuple of such types, or give it "
                "a CAF `inspect` overload (see <kin/codec.hpp>).");
  detail::Writer{out}.apply(x);
}

/// The bytes of `x`.
template <class T>
[[nodiscard]] Bytes encode(const T& x) {
  Bytes out;
  // Never from capacity 0: GCC 12 at -O3 then reports a false -Wstringop-overflow for the
  // first insert (Writer::raw), in every program that encodes an int (a Process argument).
  out.reserve(detail::is_memcpy_able<T> ? sizeof(T) : 64);
  encode_into(out, x);
  return out;
}

/// Decodes into `x`; throws ProtocolError for malformed, truncated or trailing bytes.
template <class T>
void decode_into(std::span<const std::byte> bytes, T& x) {
  static_assert(serializable<T>, "kin::decode: this type cannot travel between processes.");
  detail::Reader r{bytes};
  r.apply(x);
  if (r.remaining() != 0)
    detail::Reader::fail(std::to_string(r.remaining()) + " trailing bytes after the value");
}

/// The value encoded in `bytes`; throws ProtocolError if they are not exactly one T.
template <class T>
[[nodiscard]] T decode(std::span<const std::byte> bytes) {
  static_assert(std::is_default_constructible_v<T>, "kin::decode: T must be default constructible");
  T x{};
  decode_into(bytes, x);
  return x;
}

}  // namespace kin
