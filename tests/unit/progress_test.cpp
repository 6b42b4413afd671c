// kin::progress: the elements pass unchanged; a pipe gets plain periodic lines, a real
// pseudo-terminal a redrawn bar sized to the terminal; the final state is written once.
#include <kin/progress.hpp>
#include <kin/thread_pool.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <ranges>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// Reads what is available on fd (non-blocking after the first poll).
std::string drain(int fd) {
  std::string out;
  char buf[4096];
  while (::poll(std::vector<pollfd>{{fd, POLLIN, 0}}.data(), 1, 50) > 0) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

struct PipeFds {
  int r = -1, w = -1;
  PipeFds() {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    r = p[0];
    w = p[1];
  }
  ~PipeFds() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
};

std::size_t count_of(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(Progress, ElementsPassUnchanged) {
  PipeFds p;
  std::vector<int> v{3, 1, 4, 1, 5};
  std::vector<int> seen;
  for (int& x : kin::progress(v, kin::ProgressOptions{.fd = p.w})) seen.push_back(x);
  EXPECT_EQ(seen, v);
  for (int& x : kin::progress(v, kin::ProgressOptions{.fd = p.w})) x *= 2;  // lvalue: referenced
  EXPECT_EQ(v, (std::vector<int>{6, 2, 8, 2, 10}));
  (void)drain(p.r);
}

TEST(Progress, PipeGetsPlainLinesAndOneFinalLine) {
  PipeFds p;
  {
    auto prog = kin::progress(std::views::iota(0, 10),
                              kin::ProgressOptions{.total = 10, .desc = "work", .fd = p.w, .line_interval = 0ms});
    int n = 0;
    for (int x : prog) n += x;
    EXPECT_EQ(n, 45);
    EXPECT_EQ(prog.count(), 10u);
  }
  const std::string out = drain(p.r);
  EXPECT_EQ(out.find('\r'), std::string::npos) << out;      // no redraws
  EXPECT_EQ(out.find("\x1b["), std::string::npos) << out;   // no escapes
  EXPECT_NE(out.find("work: 3/10 30%"), std::string::npos) << out;
  EXPECT_NE(out.find("eta"), std::string::npos) << out;
  EXPECT_NE(out.find("it/s"), std::string::npos) << out;
  EXPECT_EQ(count_of(out, "done\n"), 1u) << out;
  EXPECT_NE(out.find("work: 10/10 100%"), std::string::npos) << out;
}

TEST(Progress, PipeLinesAreRateLimited) {
  PipeFds p;
  for (int x : kin::progress(std::views::iota(0, 100000), kin::ProgressOptions{.fd = p.w})) (void)x;
  const std::string out = drain(p.r);
  // A fast loop with the default 1 s line interval: the final line, and few if any others.
  EXPECT_LE(count_of(out, "\n"), 3u) << out;
  EXPECT_NE(out.find("100000/100000 100%"), std::string::npos) << out;
}

TEST(Progress, UnknownTotalShowsCountAndRate) {
  PipeFds p;
  auto unsized = std::views::iota(0) | std::views::take_while([](int x) { return x < 7; });
  for (int x : kin::progress(unsized, kin::ProgressOptions{.fd = p.w})) (void)x;
  const std::string out = drain(p.r);
  EXPECT_NE(out.find("7 "), std::string::npos) << out;
  EXPECT_EQ(out.find('%'), std::string::npos) << out;
  EXPECT_EQ(out.find("eta"), std::string::npos) << out;
}

TEST(Progress, BreakingOutEarlyStillWritesTheFinalState) {
  PipeFds p;
  {
    auto prog = kin::progress(std::views::iota(0, 100), kin::ProgressOptions{.fd = p.w});
    for (int x : prog) {
      if (x == 4) break;
    }
  }
  const std::string out = drain(p.r);
  EXPECT_NE(out.find("4/100"), std::string::npos) << out;
  EXPECT_EQ(count_of(out, "done\n"), 1u) << out;
}

TEST(Progress, EmptyRange) {
  PipeFds p;
  std::vector<int> none;
  for (int x : kin::progress(none, kin::ProgressOptions{.fd = p.w})) (void)x;
  const std::string out = drain(p.r);
  EXPECT_EQ(count_of(out, "done\n"), 1u) << out;
}

TEST(Progress, ClosedReaderNeverKillsOrThrows) {
  PipeFds p;
  ::close(p.r);
  p.r = -1;
  int n = 0;
  EXPECT_NO_THROW(for (int x : kin::progress(std::views::iota(0, 50), kin::ProgressOptions{.fd = p.w, .line_interval = 0ms})) n += x);
  EXPECT_EQ(n, 1225);
}

TEST(Progress, PseudoTerminalGetsARedrawnBarSizedToIt) {
  int master = -1, slave = -1;
  winsize ws{};
  ws.ws_col = 60;
  ws.ws_row = 20;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, &ws), 0);
  ::fcntl(master, F_SETFD, FD_CLOEXEC);
  ::fcntl(slave, F_SETFD, FD_CLOEXEC);
  {
    auto prog = kin::progress(std::views::iota(0, 20), kin::ProgressOptions{.total = 20, .fd = slave, .interval = 0ms});
    EXPECT_TRUE(::isatty(slave));
    for (int x : prog) (void)x;
  }
  const std::string out = drain(master);
  ::close(slave);
  ::close(master);
  EXPECT_GE(count_of(out, "\r"), 10u) << out;  // redrawn in place
  EXPECT_NE(out.find("\x1b[K"), std::string::npos);
  EXPECT_NE(out.find("100%|"), std::string::npos) << out;
  EXPECT_NE(out.find("20/20"), std::string::npos) << out;
  EXPECT_NE(out.find("█"), std::string::npos) << out;
  EXPECT_NE(out.find("it/s]"), std::string::npos) << out;
  // Every redraw fits the 60 columns the terminal reported.
  std::size_t start = 0;
  while ((start = out.find('\r', start)) != std::string::npos) {
    if (out.compare(start, 2, "\r\n") == 0) break;  // the tty's ONLCR turns the final "\n" into "\r\n"
    const std::size_t end = out.find("\x1b[K", start);
    ASSERT_NE(end, std::string::npos);
    std::string line = out.substr(start + 1, end - start - 1);
    std::size_t columns = 0;
    for (unsigned char c : line) columns += (c & 0xC0) != 0x80;  // UTF-8 code points
    EXPECT_LE(columns, 60u) << line;
    start = end;
  }
  // The terminal line ends with one newline at the end.
  EXPECT_EQ(count_of(out, "\n"), 1u);
}

TEST(Progress, RenderForcedTerminalFormat) {
  kin::detail::ProgressBar bar{kin::ProgressOptions{.total = 4, .desc = "d", .fd = -1, .terminal = true, .width = 50}};
  bar.tick();
  bar.tick();
  const std::string s = bar.render(std::chrono::seconds(2), false);
  EXPECT_EQ(s.rfind("\rd:  50%|", 0), 0u) << s;
  EXPECT_NE(s.find(" 2/4 [00:02<00:02, 1.0 it/s]"), std::string::npos) << s;
  kin::detail::ProgressBar plain{kin::ProgressOptions{.total = 0, .fd = -1, .terminal = false}};
  EXPECT_NE(plain.render(std::chrono::hours(2), true).find("elapsed 2:00:00 done"), std::string::npos);
}

TEST(Progress, OverAThreadPoolImap) {
  PipeFds p;
  kin::ThreadPool pool{2};
  long sum = 0;
  for (int v : kin::progress(pool.imap([](int x) { return x * 2; }, std::views::iota(0, 200), 8),
                             kin::ProgressOptions{.total = 200, .fd = p.w}))
    sum += v;
  EXPECT_EQ(sum, 2L * 199 * 200 / 2);
  EXPECT_NE(drain(p.r).find("200/200"), std::string::npos);
}

}  // namespace
