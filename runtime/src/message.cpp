#include <kin/message.hpp>

#include <mutex>
#include <set>

namespace kin::detail {

namespace {
struct Names {
  std::mutex mu;
  std::set<std::string> names;
  Names() {
    for (const char* n : {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float",
                          "double", "bool", "string", "byte"}) {
      names.insert(n);
      names.insert(std::string("vector<") + n + ">");
    }
  }
};
Names& names() {
  static auto* n = new Names;
  return *n;
}
}  // namespace

bool message_type_known(const std::string& name) {
  std::lock_guard g{names().mu};
  return names().names.count(name) != 0;
}

void message_register_name(const std::string& name) {
  std::lock_guard g{names().mu};
  names().names.insert(name);
}

}  // namespace kin::detail
