// No kin write to a socket or pipe raises SIGPIPE (issue 9 item 1): a peer that is gone is a
// BrokenPipeError, never the death of the writer — above all, a peer without the key cannot
// kill a Listener's process by closing before it reads the handshake's failure reply.
#include <kin/listener.hpp>
#include <kin/pipe.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/socket_util.hpp>
#include <kin/runtime/syscall.hpp>

#include "fault_injection.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

using namespace std::chrono_literals;

namespace {

bool sigpipe_pending() {
  sigset_t s;
  sigemptyset(&s);
  sigpending(&s);
  return sigismember(&s, SIGPIPE) == 1;
}

// The attack: connect, send a 4-byte length and that many bytes (not a valid answer), close
// without reading the server's reply.
void keyless_attack(std::uint16_t port, std::uint32_t len) {
  auto s = kin::detail::connect_to({"127.0.0.1", port, {}});
  std::string bytes(4 + len, 'x');
  std::memcpy(bytes.data(), &len, 4);
  ASSERT_EQ(::write(s.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
}

}  // namespace

TEST(Sigpipe, AKeylessPeerThatClosesEarlyCannotKillAListener) {
  for (int run = 0; run < 5; ++run) {
    auto [port_r, port_w] = kin::detail::make_pipe();
    auto status = kin::testing::run_in_child(
        [pw = port_w.get()] {
          ::signal(SIGPIPE, SIG_DFL);  // the default: SIGPIPE ends the process
          kin::Listener<int> l{kin::Address{"127.0.0.1", 0}, "the key", 5s};
          std::uint16_t port = l.address().port;
          if (::write(pw, &port, sizeof port) != sizeof port) return 2;
          for (int i = 0; i < 50; ++i) {
            try {
              auto c = l.accept();
              c.send(c.recv() * 2);
              return 0;  // the good client was served
            } catch (const kin::Error&) {
              // a failed handshake: keep serving
            }
          }
          return 3;
        },
        {.die_at = nullptr, .rlimit = std::nullopt, .timeout = 60s},
        [&, pr = port_r.get()](pid_t) {
          std::uint16_t port = 0;
          ASSERT_EQ(::read(pr, &port, sizeof port), static_cast<ssize_t>(sizeof port));
          for (std::uint32_t len : {0u, 1u, 32u, 100u, 256u}) keyless_attack(port, len);
          // The server is still there and serves a client that knows the key.
          auto c = kin::Client<int>(kin::Address{"127.0.0.1", port}, "the key", 10s);
          c.send(21);
          EXPECT_EQ(c.recv(), 42);
        });
    EXPECT_TRUE(status.success()) << "run " << run << ": the server " << status.str();
  }
}

TEST(Sigpipe, FramesToAPipeWithoutReaderAreBrokenPipeErrors) {
  auto status = kin::testing::run_in_child([] {
    ::signal(SIGPIPE, SIG_DFL);
    auto [r, w] = kin::detail::make_pipe();
    r.reset();
    try {
      kin::detail::write_frame(w.get(), kin::Bytes(10));
      return 2;
    } catch (const kin::BrokenPipeError&) {
    }
    if (sigpipe_pending()) return 3;  // consumed, not left to kill us later
    return 0;
  });
  EXPECT_TRUE(status.success()) << status.str();
}

TEST(Sigpipe, APendingSigpipeThatIsNotOursStaysPending) {
  auto status = kin::testing::run_in_child([] {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);
    ::raise(SIGPIPE);  // someone else's, pending before kin writes
    auto [r, w] = kin::detail::make_pipe();
    r.reset();
    char c = 0;
    if (kin::detail::write_some(w.get(), &c, 1) != -1 || errno != EPIPE) return 2;
    if (!sigpipe_pending()) return 3;
    return 0;
  });
  EXPECT_TRUE(status.success()) << status.str();
}

TEST(Sigpipe, SocketsAndPipesFromEveryWriter) {
  auto status = kin::testing::run_in_child([] {
    ::signal(SIGPIPE, SIG_DFL);
    {  // Connection over a socketpair and over a pipe
      auto [a, b] = kin::Pipe<int>();
      b.close();
      try {
        a.send(1);
        return 2;
      } catch (const kin::BrokenPipeError&) {
      }
      auto [r, w] = kin::Pipe<int>(kin::simplex);
      r.close();
      try {
        w.send_bytes(kin::Bytes(100000));
        return 3;
      } catch (const kin::BrokenPipeError&) {
      }
    }
    {  // the raw writer on a socket
      auto [a, b] = kin::detail::make_socketpair();
      b.reset();
      char c = 0;
      if (kin::detail::write_some(a.get(), &c, 1, kin::detail::FdKind::socket) != -1 || errno != EPIPE) return 4;
    }
    return sigpipe_pending() ? 5 : 0;
  });
  EXPECT_TRUE(status.success()) << status.str();
}
