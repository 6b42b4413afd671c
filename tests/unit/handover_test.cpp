#include <kin/runtime/handover.hpp>  // first: the header is self-contained

#include <kin/errors.hpp>
#include <kin/runtime/memfd_segment.hpp>
#include <kin/runtime/syscall.hpp>

#include <gtest/gtest.h>

#include <cstring>

TEST(Handover, ExportOutsideAStartIsValueErrorAndBadSlotsAreProtocolErrors) {
  EXPECT_THROW((void)kin::detail::handover_export(0), kin::ValueError);
  EXPECT_THROW((void)kin::detail::handover_import(0), kin::ProtocolError);
  std::vector<kin::unique_fd> none;
  kin::detail::HandoverImport scope{none};
  EXPECT_THROW((void)kin::detail::handover_import(3), kin::ProtocolError);
}

TEST(Handover, FdsTravelWithTheBytesAndStillReachTheSameFile) {
  auto seg = kin::detail::MemfdSegment::create(4096);
  std::memcpy(seg.data(), "shared", 7);
  std::vector<kin::unique_fd> out;
  std::uint32_t slot;
  {
    kin::detail::HandoverExport scope{out};
    slot = kin::detail::handover_export(seg.fd());
  }
  ASSERT_EQ(out.size(), 1u);
  auto [a, b] = kin::detail::make_socketpair();
  std::byte msg[3] = {std::byte{1}, std::byte{2}, std::byte{3}};
  int fds[1] = {out[0].get()};
  kin::detail::send_with_fds(a.get(), msg, fds);
  std::byte got[3];
  std::vector<kin::unique_fd> in;
  kin::detail::recv_with_fds(b.get(), got, in);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(std::memcmp(got, msg, 3), 0);
  kin::detail::HandoverImport scope{in};
  auto again = kin::detail::MemfdSegment::attach(kin::detail::handover_import(slot));
  EXPECT_STREQ(static_cast<const char*>(again.data()), "shared");
  EXPECT_THROW((void)kin::detail::handover_import(slot), kin::ProtocolError);  // each slot once
}

TEST(Handover, RecvWithFdsReportsEofAndTruncation) {
  auto [a, b] = kin::detail::make_socketpair();
  a.reset();
  std::byte buf[4];
  std::vector<kin::unique_fd> fds;
  EXPECT_THROW(kin::detail::recv_with_fds(b.get(), buf, fds), kin::EOFError);
  auto [c, d] = kin::detail::make_socketpair();
  std::byte two[2] = {};
  kin::detail::send_with_fds(c.get(), two, {});
  c.reset();
  EXPECT_THROW(kin::detail::recv_with_fds(d.get(), buf, fds), kin::ProtocolError);
}

#include <sys/wait.h>
#include <unistd.h>

TEST(MemfdSegment, AForkChildWritesAndTheParentReads) {
  auto seg = kin::detail::MemfdSegment::create(4096);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::memcpy(seg.data(), "from the child", 15);
    ::_exit(0);
  }
  int status = 0;
  for (int i = 0; i < 1000 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) ::usleep(10000);  // bounded: 10 s
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_STREQ(static_cast<const char*>(seg.data()), "from the child");
  auto dup = seg.duplicate();
  EXPECT_STREQ(static_cast<const char*>(dup.data()), "from the child");
  EXPECT_NE(dup.fd(), seg.fd());
}
