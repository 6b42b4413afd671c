// kin::Context: a start method to use for the processes it makes (Python's get_context(m)).
//
//   kin::Context ctx{kin::StartMethod::spawn};
//   auto p = ctx.process(worker, 1, "x"s);   // a kin::Process that starts with spawn
#pragma once

#include <kin/process.hpp>
#include <kin/start_method.hpp>

#include <utility>

namespace kin {

class Context {
 public:
  explicit Context(StartMethod method) noexcept : method_(method) {}

  [[nodiscard]] StartMethod start_method() const noexcept { return method_; }

  /// A Process running `f(args...)` with this context's start method.
  template <class F, class... Args>
  [[nodiscard]] Process process(F&& f, Args&&... args) const {
    return Process{ProcessOptions{.start_method = method_}, std::forward<F>(f), std::forward<Args>(args)...};
  }
  /// Same, with options (their start_method is replaced by this context's).
  template <class F, class... Args>
  [[nodiscard]] Process process(ProcessOptions options, F&& f, Args&&... args) const {
    options.start_method = method_;
    return Process{std::move(options), std::forward<F>(f), std::forward<Args>(args)...};
  }

 private:
  StartMethod method_;
};

}  // namespace kin
