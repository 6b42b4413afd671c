#include <kin/run.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <utility>

namespace kin {

void CompletedProcess::check_returncode() const {
  if (returncode != 0) throw CalledProcessError(returncode, args, out, err);
}

CompletedProcess run(std::vector<std::string> args, RunOptions options) {
  if (options.capture_output) {
    if (options.stdout_ != Stdio::inherit || options.stderr_ != Stdio::inherit)
      throw ValueError("kin::run: stdout_ and stderr_ may not be used with capture_output");
    options.stdout_ = options.stderr_ = Stdio::pipe;
  }
  if (options.input) {
    if (options.stdin_ != Stdio::inherit) throw ValueError("kin::run: stdin_ and input may not both be used");
    options.stdin_ = Stdio::pipe;
  }
  Popen p{args, PopenOptions{.stdin_ = options.stdin_,
                             .stdout_ = options.stdout_,
                             .stderr_ = options.stderr_,
                             .cwd = std::move(options.cwd),
                             .env = std::move(options.env)}};
  const std::string input = options.input.value_or(std::string{});
  CommunicateResult res;
  if (options.timeout) {
    try {
      res = p.communicate(input, *options.timeout);
    } catch (const TimeoutError&) {
      // Python's run kills the child and reaps it before re-raising. Unlike Python it does not
      // drain the pipes first: a grandchild holding them open would block that drain.
      p.kill();
      p.wait();
      std::string cmd;
      for (const auto& a : args) cmd += (cmd.empty() ? "'" : ", '") + a + "'";
      char secs[32];
      std::snprintf(secs, sizeof secs, "%g", std::chrono::duration<double>(*options.timeout).count());
      throw TimeoutError("Command '[" + cmd + "]' timed out after " + secs + " seconds");
    }
  } else {
    try {
      res = p.communicate(input);
    } catch (...) {
      p.kill();
      p.wait();
      throw;
    }
  }
  CompletedProcess done{std::move(args), *p.returncode(), std::move(res.out), std::move(res.err)};
  if (options.check) done.check_returncode();
  return done;
}

int call(std::vector<std::string> args, RunOptions options) {
  options.check = false;
  return run(std::move(args), std::move(options)).returncode;
}

void check_call(std::vector<std::string> args, RunOptions options) {
  options.check = true;
  run(std::move(args), std::move(options));
}

std::string check_output(std::vector<std::string> args, RunOptions options) {
  if (options.stdout_ != Stdio::inherit || options.capture_output)
    throw ValueError("kin::check_output: stdout is captured already");
  options.stdout_ = Stdio::pipe;
  options.check = true;
  return run(std::move(args), std::move(options)).out;
}

}  // namespace kin
