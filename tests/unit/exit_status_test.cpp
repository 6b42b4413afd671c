#include <kin/exit_status.hpp>  // first: the header is self-contained

#include <kin/codec.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

using kin::ExitStatus;

TEST(ExitStatus, ExitCodesAndSignalsInPythonsForm) {
  EXPECT_TRUE(ExitStatus{}.success());
  EXPECT_EQ(ExitStatus{}.str(), "exit 0");
  auto three = ExitStatus::exited(3);
  EXPECT_EQ(three.code(), 3);
  EXPECT_EQ(three.signal(), std::nullopt);
  EXPECT_EQ(three.exitcode(), 3);
  EXPECT_FALSE(three.success());
  EXPECT_EQ(three.str(), "exit 3");
  auto killed = ExitStatus::killed(SIGKILL);
  EXPECT_EQ(killed.code(), std::nullopt);
  EXPECT_EQ(killed.signal(), SIGKILL);
  EXPECT_EQ(killed.exitcode(), -SIGKILL);
  EXPECT_EQ(killed.str(), "killed by SIGKILL");
  EXPECT_EQ(ExitStatus::killed(SIGSEGV, true).str(), "killed by SIGSEGV (core dumped)");
  EXPECT_EQ(ExitStatus::killed(SIGABRT).str(), "killed by SIGABRT");
  EXPECT_EQ(ExitStatus::from_exitcode(-15), ExitStatus::killed(SIGTERM));
  EXPECT_EQ(ExitStatus::from_exitcode(0), ExitStatus{});
  EXPECT_NE(ExitStatus::exited(1), ExitStatus::killed(1));
}

TEST(ExitStatus, FromRealWaitStatusesAndSiginfo) {
  pid_t a = ::fork();
  if (a == 0) ::_exit(42);
  int status = 0;
  ASSERT_EQ(::waitpid(a, &status, 0), a);
  EXPECT_EQ(ExitStatus::from_wait_status(status), ExitStatus::exited(42));

  pid_t b = ::fork();
  if (b == 0) {
    ::pause();
    ::_exit(0);
  }
  ::kill(b, SIGTERM);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(b), &info, WEXITED), 0);
  EXPECT_EQ(ExitStatus::from_siginfo(info.si_code, info.si_status), ExitStatus::killed(SIGTERM));
}

TEST(ExitStatus, UnknownSignalNumbersAreNamedByNumber) {
  EXPECT_EQ(kin::signal_name(SIGINT), "SIGINT");
  EXPECT_EQ(kin::signal_name(1000), "signal 1000");
}

TEST(ExitStatus, TravelsThroughTheCodec) {
  for (auto s : {ExitStatus::exited(7), ExitStatus::killed(SIGKILL), ExitStatus::killed(SIGSEGV, true)})
    EXPECT_EQ(kin::decode<ExitStatus>(kin::encode(s)), s);
}
