// Named entry points (KIN_ENTRY): a function registered under its name is sent to a spawn or
// forkserver child by that name rather than by its address, so the child finds it even when
// the function lives in an object the child has not loaded at the same path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace kin::detail {

/// Registers `fn` under `name` (at static-initialisation time, through KIN_ENTRY).
bool register_entry(const char* name, std::uintptr_t fn) noexcept;
/// The name `fn` was registered under, if any.
std::optional<std::string> entry_name_of(std::uintptr_t fn);
/// The function registered under `name`, if any.
std::optional<std::uintptr_t> entry_named(const std::string& name);

}  // namespace kin::detail

/// Makes the free function `fn` callable by name in a child started with spawn or forkserver.
#define KIN_ENTRY(fn)                                                                           \
  [[maybe_unused]] static const bool kin_entry_registered_##fn =                               \
      ::kin::detail::register_entry(#fn, reinterpret_cast<std::uintptr_t>(&fn))
