// kin::ExitStatus: how a process ended — an exit code or the signal that killed it. One value
// type serves Process, Popen, process actors and supervisors, so every place that reports a
// death says it the same way.
//
//   kin::Process p{work}; p.start(); p.join();
//   kin::ExitStatus s = *p.exit_status();
//   if (s.signal() == SIGKILL) std::cerr << s.str() << '\n';   // "killed by SIGKILL"
//   int py = s.exitcode();                                      // 3, or -9 as Python spells it
//
// A status is immutable and cheap to copy; it travels through kin's codec (and CAF's
// serializers) with `inspect`.
#pragma once

#include <optional>
#include <string>

namespace kin {

class ExitStatus {
 public:
  /// An exit status of 0 ("exit 0").
  constexpr ExitStatus() = default;
  /// The process called exit(code) or returned code from main (0..255).
  static constexpr ExitStatus exited(int code) { return ExitStatus{code, 0, false}; }
  /// A signal ended the process; `core_dumped` when the kernel wrote a core file.
  static constexpr ExitStatus killed(int sig, bool core_dumped = false) { return ExitStatus{0, sig, core_dumped}; }
  /// From Python's form: a code >= 0, or -signal.
  static constexpr ExitStatus from_exitcode(int exitcode) {
    return exitcode < 0 ? killed(-exitcode) : exited(exitcode);
  }
  /// From a waitpid(2) status word.
  static ExitStatus from_wait_status(int status);
  /// From waitid(2)'s si_code and si_status.
  static ExitStatus from_siginfo(int child_code, int child_status);

  /// The exit code, when the process exited.
  [[nodiscard]] constexpr std::optional<int> code() const {
    return signal_ == 0 ? std::optional<int>{code_} : std::nullopt;
  }
  /// The signal, when one killed the process.
  [[nodiscard]] constexpr std::optional<int> signal() const {
    return signal_ != 0 ? std::optional<int>{signal_} : std::nullopt;
  }
  [[nodiscard]] constexpr bool core_dumped() const { return core_; }
  /// Python's `exitcode`: the code, or -signal.
  [[nodiscard]] constexpr int exitcode() const { return signal_ != 0 ? -signal_ : code_; }
  /// Exited with code 0.
  [[nodiscard]] constexpr bool success() const { return signal_ == 0 && code_ == 0; }
  /// "exit 3", "killed by SIGKILL", "killed by SIGSEGV (core dumped)".
  [[nodiscard]] std::string str() const;

  friend constexpr bool operator==(const ExitStatus&, const ExitStatus&) = default;

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, ExitStatus& x) {
    return f(x.code_, x.signal_, x.core_);
  }

 private:
  constexpr ExitStatus(int code, int sig, bool core) : code_(code), signal_(sig), core_(core) {}
  int code_ = 0;
  int signal_ = 0;
  bool core_ = false;
};

/// The name of a signal as the C headers spell it ("SIGKILL"), or "signal N".
std::string signal_name(int sig);

}  // namespace kin
