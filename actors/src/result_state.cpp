// The one non-inline piece of the result machinery: how an exception escaping a callback is
// reported (Python logs "exception calling callback for <Future>" and goes on).
#include <kin/detail/result_state.hpp>

#include "process_globals.hpp"

#include <cstdio>
#include <string>
#include <typeinfo>

namespace kin::detail {

void report_callback_exception(const char* what) noexcept {
  try {
    std::string type;
    std::string msg;
    try {
      throw;
    } catch (const std::exception& e) {
      type = demangle(typeid(e).name());
      msg = e.what();
    } catch (...) {
      type = current_exception_type();
    }
    // One write so the lines of concurrent failures do not interleave.
    std::string text = "Exception in ";
    text.append(what).append(" callback:\n").append(type).append(": ").append(msg).append("\n");
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
  } catch (...) {
    static const char kShort[] = "Exception in a callback (could not describe it)\n";
    std::fwrite(kShort, 1, sizeof kShort - 1, stderr);
  }
}

}  // namespace kin::detail
