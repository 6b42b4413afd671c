// kin::run — Python's subprocess.run (and call / check_call / check_output): start a program, feed it input, collect its output and
// wait; kin::CompletedProcess holds the result. With check = true a non-zero exit throws
// kin::CalledProcessError; with a timeout the child is killed and reaped, then TimeoutError
// is thrown (Python's behaviour).
#pragma once

#include <kin/popen.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kin {

/// run's keyword arguments, in this order for designated initializers.
struct RunOptions {
  Stdio stdin_ = Stdio::inherit;
  /// Sent to stdin (stdin_ becomes a pipe).
  std::optional<std::string> input{};
  Stdio stdout_ = Stdio::inherit;
  Stdio stderr_ = Stdio::inherit;
  /// Shorthand for stdout_ = stderr_ = pipe.
  bool capture_output = false;
  std::optional<std::string> cwd{};
  std::optional<std::chrono::nanoseconds> timeout{};
  /// Throw CalledProcessError on a non-zero returncode.
  bool check = false;
  std::optional<std::map<std::string, std::string>> env{};
};

/// The outcome of run(): out/err are empty for streams that were not captured.
struct CompletedProcess {
  std::vector<std::string> args{};
  int returncode = 0;
  std::string out{};
  std::string err{};

  /// CalledProcessError when returncode != 0.
  void check_returncode() const;
};

CompletedProcess run(std::vector<std::string> args, RunOptions options = {});

/// subprocess.call: run and return the returncode.
int call(std::vector<std::string> args, RunOptions options = {});
/// subprocess.check_call: run; CalledProcessError on a non-zero returncode.
void check_call(std::vector<std::string> args, RunOptions options = {});
/// subprocess.check_output: run with stdout captured and check = true; returns stdout.
std::string check_output(std::vector<std::string> args, RunOptions options = {});

}  // namespace kin
