// Conversion between kin::Message and caf::message, for actor code (this header includes
// CAF's message headers; <kin/message.hpp> does not). Built-in element types convert both
// ways; a registered user type converts only if CAF knows it too, so it is refused here.
#pragma once

#include <kin/message.hpp>

#include <caf/message.hpp>
#include <caf/message_builder.hpp>

#include <string>
#include <vector>

namespace kin {

namespace detail {
/// Calls f(T{}) for each of kin::Message's built-in scalar types that CAF has a built-in type
/// for too (all but std::byte), until f returns true; true when one did.
template <class F>
bool for_caf_builtin(F&& f) {
  bool done = false;
  for_each_builtin_message_type([&](const auto& entry) {
    using T = typename std::decay_t<decltype(entry)>::type;
    if constexpr (!std::is_same_v<T, std::byte>)
      if (!done) done = f(T{});
  });
  return done;
}
}  // namespace detail

/// The same elements as a caf::message. ValueError for elements CAF has no built-in type for.
inline caf::message to_caf_message(const Message& m) {
  caf::message_builder mb;
  for (std::size_t i = 0; i < m.size(); ++i) {
    bool ok = detail::for_caf_builtin([&](auto tag) {
      if (!m.match_element<decltype(tag)>(i)) return false;
      mb.append(m.get_as<decltype(tag)>(i));
      return true;
    });
    if (!ok) throw ValueError("kin::to_caf_message: no CAF built-in type for element type " + m.type_name(i));
  }
  return mb.to_message();
}

/// The same elements as a kin::Message. ValueError for element types kin has no name for.
inline Message from_caf_message(const caf::message& cm) {
  Message m;
  for (std::size_t i = 0; i < cm.size(); ++i) {
    bool done = detail::for_caf_builtin([&](auto tag) {
      if (!cm.match_element<decltype(tag)>(i)) return false;
      m.push_back(cm.get_as<decltype(tag)>(i));
      return true;
    });
    if (!done) throw ValueError("kin::from_caf_message: element " + std::to_string(i) + " has no kin built-in type");
  }
  return m;
}

}  // namespace kin
