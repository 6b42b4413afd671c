#include <kin/message.hpp>

#include <mutex>
#include <set>

namespace kin::detail {

namespace {
struct Names {
  std::mutex mu;
  std::set<std::string> names;
  Names() {
    for_each_builtin_message_type([&](const auto& entry) {
      names.insert(entry.name);
      names.insert(std::string("vector<") + entry.name + ">");
    });
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
