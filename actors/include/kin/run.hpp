// kin::run — Python's subprocess.run (and call / check_call / check_output): start a program,
// feed it input, collect its output and wait; kin::CompletedProcess holds the result. With
// check = true a non-zero exit throws kin::CalledProcessError; with a timeout the child is
// killed and reaped, then kin::TimeoutExpired (a TimeoutError) is thrown with the output read
// so far (Python's behaviour).
//
//   auto r = kin::run({"sh", "-c", "make test"}, {.capture_output = true, .timeout = 60s});
//
// Unlike Python, a run with a timeout starts the child in a process group of its own (unless
// start_new_session or process_group says otherwise, or timeout_kills_group = false) and the
// timeout kills that whole group: `sh -c 'sleep 30; echo x'` with a 200 ms timeout returns at
// once and leaves no orphan `sleep` holding the pipes. The price of a group of its own: the
// child is not in the terminal's foreground group, so it cannot read the terminal (SIGTTIN
// stops it) and the terminal's Ctrl-C does not reach it. Without a timeout the child stays in
// the caller's group, as in Python.
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
  Redirect stdin_ = Stdio::inherit;
  /// Sent to stdin (stdin_ becomes a pipe).
  std::optional<std::string> input{};
  Redirect stdout_ = Stdio::inherit;
  Redirect stderr_ = Stdio::inherit;
  /// Shorthand for stdout_ = stderr_ = pipe.
  bool capture_output = false;
  std::optional<std::string> cwd{};
  std::optional<std::chrono::nanoseconds> timeout{};
  /// Throw CalledProcessError on a non-zero returncode.
  bool check = false;
  std::optional<std::map<std::string, std::string>> env{};
  /// As PopenOptions: setsid() in the child; the timeout then kills its whole session's group.
  bool start_new_session = false;
  /// As PopenOptions: 0 (a new group, killed whole on timeout) or a group to join.
  std::optional<pid_t> process_group{};
  /// With a timeout and neither option above: start the child as process_group = 0 so the
  /// timeout kills everything it started. false: Python's behaviour (the caller's group, only
  /// the child is killed).
  bool timeout_kills_group = true;
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
