// services.toml: parsing and checking (toml++), see config.hpp.
#include <kin/services/config.hpp>

namespace kin::services {

namespace {
std::string describe(const SourcePosition& w, const std::string& key, const std::string& message) {
  // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for `a + ":" + b` chains.
  std::string s;
  s.append(w.file.empty() ? "<config>" : w.file);
  if (w.line > 0) {
    s.append(":").append(std::to_string(w.line));
    s.append(":").append(std::to_string(w.column));
  }
  s.append(": ");
  if (!key.empty()) s.append(key).append(": ");
  s.append(message);
  return s;
}
}  // namespace

ConfigError::ConfigError(SourcePosition where, std::string key, const std::string& message)
    : std::runtime_error(describe(where, key, message)), where_(std::move(where)), key_(std::move(key)) {}

std::vector<std::string> instance_names(const ServiceConfig& s) {
  if (s.numprocs <= 1) return {s.name};
  std::vector<std::string> names;
  for (int i = 0; i < s.numprocs; ++i) {
    std::string n = s.name;
    n.append("-").append(std::to_string(i));
    names.push_back(std::move(n));
  }
  return names;
}

}  // namespace kin::services
