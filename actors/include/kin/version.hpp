// kin's version, as configured by CMake (also `kin --version` in the command line tool).
#pragma once

namespace kin {

/// "MAJOR.MINOR.PATCH" of the kin library this program is linked with.
const char* version() noexcept;

}  // namespace kin
