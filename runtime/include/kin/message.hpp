// kin::Message: a dynamic, heterogeneous message — a tuple whose element types are known
// only at run time, like a Python list or CAF's caf::message.
//
//   auto m = kin::make_message(42, std::string("hello"), 3.14);
//   m.size();                         // 3
//   m.match_element<int>(0);          // true
//   m.get_as<std::string>(1);         // "hello"; the wrong type is kin::ValueError
//   m.type_name(2);                   // "double"
//
// Elements are held encoded (kin's codec) with a type name, so a Message travels over any
// kin channel (Pipe<kin::Message>, Queue<kin::Message>) without an actor system. Built-in
// element types: integers, float, double, bool, std::string, std::vector<std::byte> and
// std::vector of those. Other types are registered once per program, under the same name in
// every process: `kin::Message::register_type<Job>("Job")`. A received element whose type
// name is unknown in this process is a kin::ProtocolError. <kin/caf_message.hpp> converts
// to and from caf::message for actor code.
//
// An element may be an fd-holding kin object (a registered Connection, Queue, Value...): the
// Message then holds duplicates of those fds, and travels wherever such objects travel — over
// a Unix-socket Connection or to a process actor, not through a Queue (ValueError). Each
// get_as of such an element gives a new holder (its own duplicate fds).
#pragma once

#include <kin/codec.hpp>
#include <kin/errors.hpp>
#include <kin/runtime/handover.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace kin {

namespace detail {

/// Names of the element types a Message may carry (built-ins plus registered ones).
bool message_type_known(const std::string& name);
void message_register_name(const std::string& name);

/// One built-in element type and the name it travels under.
template <class T>
struct BuiltinMessageType {
  using type = T;
  const char* name;
};
/// The element types a Message carries without registration (std::vector of each is built in
/// too, named "vector<name>"). The one list: the names given to elements, the names a receiver
/// accepts (message.cpp) and the CAF conversions (<kin/caf_message.hpp>) all come from it.
inline constexpr std::tuple builtin_message_types{
    BuiltinMessageType<std::int8_t>{"int8"},   BuiltinMessageType<std::int16_t>{"int16"},
    BuiltinMessageType<std::int32_t>{"int32"}, BuiltinMessageType<std::int64_t>{"int64"},
    BuiltinMessageType<std::uint8_t>{"uint8"}, BuiltinMessageType<std::uint16_t>{"uint16"},
    BuiltinMessageType<std::uint32_t>{"uint32"}, BuiltinMessageType<std::uint64_t>{"uint64"},
    BuiltinMessageType<float>{"float"},        BuiltinMessageType<double>{"double"},
    BuiltinMessageType<bool>{"bool"},          BuiltinMessageType<std::string>{"string"},
    BuiltinMessageType<std::byte>{"byte"},
};

/// Calls f(entry) for each entry of builtin_message_types, in order (the entry's type:
/// `typename std::decay_t<decltype(entry)>::type`).
template <class F>
constexpr void for_each_builtin_message_type(F&& f) {
  std::apply([&](const auto&... entry) { (f(entry), ...); }, builtin_message_types);
}

/// T's name when T is in builtin_message_types, else nullptr.
template <class T>
constexpr const char* builtin_message_name() {
  const char* name = nullptr;
  for_each_builtin_message_type([&](const auto& entry) {
    if (std::is_same_v<T, typename std::decay_t<decltype(entry)>::type>) name = entry.name;
  });
  return name;
}

template <class T>
struct builtin_vector_element {
  using type = void;
};
template <class T>
struct builtin_vector_element<std::vector<T>> {
  using type = T;
};

/// T is built in: in builtin_message_types, or a std::vector of such a type.
template <class T>
inline constexpr bool is_builtin_message_type =
    builtin_message_name<T>() != nullptr || builtin_message_name<typename builtin_vector_element<T>::type>() != nullptr;

template <class T>
std::string& registered_message_name() {
  static std::string name;  // set by Message::register_type<T>
  return name;
}

template <class T>
const std::string& message_type_name() {
  if constexpr (builtin_message_name<T>() != nullptr) {
    static const std::string name = builtin_message_name<T>();
    return name;
  } else if constexpr (is_builtin_message_type<T>) {
    static const std::string name =
        std::string("vector<") + builtin_message_name<typename builtin_vector_element<T>::type>() + ">";
    return name;
  } else {
    const std::string& name = registered_message_name<T>();
    if (name.empty())
      throw ValueError(std::string("kin::Message: element type not registered; call kin::Message::register_type<T>(\"Name\") first (") +
                       typeid(T).name() + ")");
    return name;
  }
}

}  // namespace detail

class Message {
 public:
  struct Element {
    std::string type;
    Bytes bytes;
    friend bool operator==(const Element&, const Element&) = default;
  };

  Message() = default;

  /// Lets values of T travel in a Message under `name` (the same in every process).
  template <class T>
  static void register_type(const std::string& name) {
    static_assert(serializable<T>, "kin::Message::register_type: T must be kin::serializable");
    detail::registered_message_name<T>() = name;
    detail::message_register_name(name);
  }

  template <class T>
  void push_back(const T& v) {
    const std::string& type = detail::message_type_name<std::decay_t<T>>();
    if constexpr (detail::is_memcpy_able<std::decay_t<T>>) {
      elements_.push_back(Element{type, encode(v)});
    } else {
      // Slots continue after the fds the message holds already: empty places stand for them.
      const std::size_t held = fds_ ? fds_->size() : 0;
      std::vector<unique_fd> exported(held);
      Bytes bytes;
      {
        detail::HandoverExport scope{exported};
        bytes = encode(v);
      }
      if (exported.size() > held) {
        auto all = std::make_shared<std::vector<unique_fd>>();  // copies of this Message keep theirs
        all->reserve(exported.size());
        for (std::size_t i = 0; i < held; ++i) all->push_back(detail::dup_fd((*fds_)[i].get()));
        for (std::size_t i = held; i < exported.size(); ++i) all->push_back(std::move(exported[i]));
        fds_ = std::move(all);
      }
      elements_.push_back(Element{type, std::move(bytes)});
    }
  }

  [[nodiscard]] std::size_t size() const noexcept { return elements_.size(); }
  [[nodiscard]] bool empty() const noexcept { return elements_.empty(); }
  /// The type name of element i ("int32", "string", a registered name ...).
  [[nodiscard]] const std::string& type_name(std::size_t i) const { return at(i).type; }

  template <class T>
  [[nodiscard]] bool match_element(std::size_t i) const {
    if constexpr (!detail::is_builtin_message_type<T>)
      if (detail::registered_message_name<T>().empty()) return false;
    return i < size() && elements_[i].type == detail::message_type_name<T>();
  }
  /// Element i as a T; kin::ValueError when it holds another type.
  template <class T>
  [[nodiscard]] T get_as(std::size_t i) const {
    if (!match_element<T>(i))
      throw ValueError("kin::Message::get_as: element " + std::to_string(i) + " is a " + type_name(i));
    if (!fds_ || fds_->empty()) return decode<T>(elements_[i].bytes);
    std::vector<unique_fd> dups;  // this element's holder gets its own; the rest close here
    dups.reserve(fds_->size());
    for (auto& fd : *fds_) dups.push_back(detail::dup_fd(fd.get()));
    detail::HandoverImport scope{dups};
    return decode<T>(elements_[i].bytes);
  }
  [[nodiscard]] const std::vector<Element>& elements() const noexcept { return elements_; }
  /// How many fds the message holds (for its fd-holding elements).
  [[nodiscard]] std::size_t fd_count() const noexcept { return fds_ ? fds_->size() : 0; }
  friend bool operator==(const Message& a, const Message& b) { return a.elements_ == b.elements_; }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, Message& x) {
    std::vector<std::uint32_t> slots;  // where the held fds went in the enclosing message
    if constexpr (Inspector::reads_state)
      if (x.fds_)
        for (auto& fd : *x.fds_) slots.push_back(detail::handover_export(fd.get()));
    f(x.elements_, slots);
    if constexpr (Inspector::writes_state) {
      for (auto& e : x.elements_)
        if (!detail::message_type_known(e.type))
          throw ProtocolError("kin::Message: unknown element type '" + e.type + "' (not registered in this process)");
      x.fds_.reset();
      if (!slots.empty()) {
        if (slots.size() > detail::kMaxFdsPerMessage) throw ProtocolError("kin::Message: too many fds");
        auto fds = std::make_shared<std::vector<unique_fd>>();
        for (auto slot : slots) fds->push_back(detail::handover_import(slot));
        x.fds_ = std::move(fds);
      }
    }
  }

 private:
  const Element& at(std::size_t i) const {
    if (i >= size()) throw IndexError("kin::Message: element " + std::to_string(i) + " of " + std::to_string(size()));
    return elements_[i];
  }
  std::vector<Element> elements_;
  std::shared_ptr<const std::vector<unique_fd>> fds_;  // shared by copies, never changed in place
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Message::Element& e) {
  f(e.type, e.bytes);
}

/// A Message holding `xs...` in order.
template <class... Ts>
[[nodiscard]] Message make_message(const Ts&... xs) {
  Message m;
  (m.push_back(xs), ...);
  return m;
}

}  // namespace kin
