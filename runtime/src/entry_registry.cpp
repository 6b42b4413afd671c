#include <kin/runtime/entry_registry.hpp>

#include <map>
#include <mutex>

namespace kin::detail {

namespace {
struct Entries {
  std::mutex mu;
  std::map<std::string, std::uintptr_t> by_name;
};
Entries& entries() {
  static auto* e = new Entries;  // used during static initialisation of other TUs
  return *e;
}
}  // namespace

bool register_entry(const char* name, std::uintptr_t fn) noexcept {
  try {
    std::lock_guard g{entries().mu};
    entries().by_name[name] = fn;
    return true;
  } catch (...) {
    return false;
  }
}

std::optional<std::string> entry_name_of(std::uintptr_t fn) {
  std::lock_guard g{entries().mu};
  for (auto& [name, f] : entries().by_name)
    if (f == fn) return name;
  return std::nullopt;
}

std::optional<std::uintptr_t> entry_named(const std::string& name) {
  std::lock_guard g{entries().mu};
  auto it = entries().by_name.find(name);
  if (it == entries().by_name.end()) return std::nullopt;
  return it->second;
}

}  // namespace kin::detail
