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
template <class F>
bool for_builtin(const std::string& name, F&& f) {
  auto is = [&](const char* n) { return name == n; };
  if (is("int8")) return f(std::int8_t{}), true;
  if (is("int16")) return f(std::int16_t{}), true;
  if (is("int32")) return f(std::int32_t{}), true;
  if (is("int64")) return f(std::int64_t{}), true;
  if (is("uint8")) return f(std::uint8_t{}), true;
  if (is("uint16")) return f(std::uint16_t{}), true;
  if (is("uint32")) return f(std::uint32_t{}), true;
  if (is("uint64")) return f(std::uint64_t{}), true;
  if (is("float")) return f(float{}), true;
  if (is("double")) return f(double{}), true;
  if (is("bool")) return f(bool{}), true;
  if (is("string")) return f(std::string{}), true;
  return false;
}
}  // namespace detail

/// The same elements as a caf::message. ValueError for elements CAF has no built-in type for.
inline caf::message to_caf_message(const Message& m) {
  caf::message_builder mb;
  for (std::size_t i = 0; i < m.size(); ++i) {
    bool ok = detail::for_builtin(m.type_name(i), [&](auto tag) { mb.append(m.get_as<decltype(tag)>(i)); });
    if (!ok) throw ValueError("kin::to_caf_message: no CAF built-in type for element type " + m.type_name(i));
  }
  return mb.to_message();
}

/// The same elements as a kin::Message. ValueError for element types kin has no name for.
inline Message from_caf_message(const caf::message& cm) {
  Message m;
  for (std::size_t i = 0; i < cm.size(); ++i) {
    bool done = false;
    for (const char* n : {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float", "double",
                          "bool", "string"}) {
      detail::for_builtin(n, [&](auto tag) {
        using T = decltype(tag);
        if (!done && cm.match_element<T>(i)) {
          m.push_back(cm.get_as<T>(i));
          done = true;
        }
      });
      if (done) break;
    }
    if (!done) throw ValueError("kin::from_caf_message: element " + std::to_string(i) + " has no kin built-in type");
  }
  return m;
}

}  // namespace kin
