#include <kin/version.hpp>

namespace kin {

const char* version() noexcept { return KIN_VERSION_STRING; }

}  // namespace kin
