// A function's address as (loaded object, offset), so that a re-executed image of the same
// program (spawn start method) can find the same function despite address randomisation.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>

namespace kin::detail {

struct CodeRef {
  std::string object;        // "" = the main program, else the shared object's path
  std::uint64_t offset = 0;  // from that object's load bias
};

/// Where `fn` lives. Throws StartMethodError if it is in no loaded object.
CodeRef code_ref_of(const void* fn);
/// The address of `ref` in this process. Throws ProtocolError if its object is not loaded.
void* resolve_code_ref(const CodeRef& ref);

}  // namespace kin::detail
