#include <kin/start_method.hpp>

#include <kin/errors.hpp>

namespace kin {

StartMethod start_method_named(std::string_view name) {
  for (StartMethod m : {StartMethod::fork, StartMethod::spawn, StartMethod::forkserver})
    if (name == to_string(m)) return m;
  throw ValueError("kin: cannot find context for '" + std::string(name) + "' (fork, spawn or forkserver)");
}

void set_start_method(std::string_view name) { set_start_method(start_method_named(name)); }

std::vector<std::string> get_all_start_methods() { return {"fork", "spawn", "forkserver"}; }

}  // namespace kin
