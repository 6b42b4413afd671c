// The requirement on what Value/Array/RawValue/RawArray can hold: the bytes live in shared
// memory mapped by several processes, so T must be trivially copyable (no pointers into one
// process's heap) — the same rule as Python's ctypes typecodes.
#pragma once

#include <type_traits>

namespace kin {

template <class T>
concept shared_memory_type = std::is_trivially_copyable_v<T> && !std::is_reference_v<T> && !std::is_const_v<T>;

}  // namespace kin

#define KIN_SHARED_TYPE_CHECK(T, who)                                                           \
  static_assert(::kin::shared_memory_type<T>,                                                     \
                "kin::" who "<T>: T must be trivially copyable (ints, floats, enums, PODs, "     \
                "std::array of them): its bytes live in shared memory seen by other processes, " \
                "where std::string/std::vector/pointers would not be valid")
