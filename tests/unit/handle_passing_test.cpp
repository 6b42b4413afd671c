// Issue 15 item 12: kin objects sent over kin channels, not only as start arguments — a
// Connection or a Queue sent over a Connection or put on a Queue arrives usable in the
// receiving process, and
// plain fds go with kin::send_handle / kin::recv_handle (Python's
// multiprocessing.reduction.send_handle/recv_handle). Each test names the CPython test it
// mirrors (Lib/test/_test_multiprocessing.py) or says there is none.
#include <kin/connection.hpp>  // first: the header is self-contained

#include <kin/context.hpp>
#include <kin/listener.hpp>
#include <kin/pipe.hpp>
#include <kin/process.hpp>
#include <kin/queue.hpp>
#include <kin/runtime/handover.hpp>
#include <kin/runtime/syscall.hpp>
#include <kin/shared_memory.hpp>
#include <kin/value.hpp>

#include "../support/sanitizer_limits.hpp"
#include "../support/test_util.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

using namespace std::chrono_literals;

namespace {

using IntConn = kin::Connection<int>;

// fork beside the runtime's threads is what tests/support/sanitizer_limits.hpp is about.
kin::StartMethod method_for(kin::StartMethod m) {
  return m == kin::StartMethod::fork ? kin::testing::threaded_fork_method() : m;
}

class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "kin_handles_XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// True when every writer of the pipe whose read end is `r` is gone within `timeout`: proof
/// that copies of the write end that travelled were closed, not leaked.
bool eof_within(int r, std::chrono::milliseconds timeout) {
  if (kin::detail::poll_fd(r, POLLIN, timeout) == 0) return false;
  char c;
  return ::read(r, &c, 1) == 0;
}

/// sendmsg() as a hostile peer may call it: any number of fds (up to the kernel's 253).
void raw_send_with_fds(int sock, std::span<const std::byte> bytes, const std::vector<int>& fds) {
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  ASSERT_EQ(::sendmsg(sock, &msg, MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size())) << std::strerror(errno);
}

/// A raw frame ([u32 length][payload]) as a hostile or broken peer would write it.
kin::Bytes raw_frame(std::span<const std::byte> payload) {
  kin::Bytes f(kin::detail::kFrameHeaderSize + payload.size());
  kin::detail::fill_frame_header(std::span<std::byte, kin::detail::kFrameHeaderSize>(f.data(), 4), payload.size());
  if (!payload.empty()) std::memcpy(f.data() + 4, payload.data(), payload.size());
  return f;
}

// ---- children ----------------------------------------------------------------------------

// Receives an fd and writes "foo" to it (as CPython's _writefd).
int write_foo_to_received_fd(IntConn c) {
  kin::unique_fd fd = kin::recv_handle(c);
  if (::write(fd.get(), "foo", 3) != 3) return 2;
  return 0;
}

// Receives a Connection over `carrier` and answers each int on it with its double.
int double_on_received_connection(kin::Connection<IntConn> carrier) {
  IntConn got = carrier.recv();
  for (;;) {
    int x = got.recv();
    if (x < 0) return 0;
    got.send(2 * x);
  }
}

// Makes a Pipe of its own and sends one end back: the reverse direction.
int send_back_a_connection(kin::Connection<IntConn> carrier) {
  auto [mine, theirs] = kin::Pipe<int>();
  carrier.send(theirs);
  theirs.close();
  mine.send(41);
  return mine.recv() == 42 ? 0 : 3;
}

// Receives a Queue over `carrier` and puts on it.
int put_on_received_queue(kin::Connection<kin::Queue<int>> carrier) {
  kin::Queue<int> q = carrier.recv();
  q.put(42);
  q.put(43);
  return 0;
}

// The Queue counterparts: the object arrives on a kin::Queue (the fd through the putter's
// sharer, fd_sharer.hpp).
int double_on_queued_connection(kin::Queue<IntConn> carrier) {
  IntConn got = carrier.get();
  for (;;) {
    int x = got.recv();
    if (x < 0) return 0;
    got.send(2 * x);
  }
}

int queue_back_a_connection(kin::Queue<IntConn> carrier) {
  auto [mine, theirs] = kin::Pipe<int>();
  carrier.put(theirs);
  theirs.close();
  mine.send(41);
  return mine.recv() == 42 ? 0 : 3;
}

int put_on_queued_queue(kin::Queue<kin::Queue<int>> carrier) {
  kin::Queue<int> q = carrier.get();
  q.put(42);
  q.put(43);
  return 0;
}

// Writes a frame's header and half its payload with an fd attached, then dies.
int die_in_the_middle_of_a_message(IntConn c, IntConn w) {
  std::byte part[4 + 2] = {std::byte{4}};  // announces 4 payload bytes, sends 2
  int fds[1] = {w.fileno()};
  kin::detail::send_with_fds(c.fileno(), part, fds);
  ::_exit(0);
}

// Receives with almost no fd numbers left (RLIMIT_NOFILE): the kernel installs what fits and
// reports MSG_CTRUNC for the rest.
int receive_beyond_the_fd_limit(kin::Connection<std::vector<IntConn>> c) {
  int highest = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    highest = std::max(highest, std::atoi(e.path().filename().c_str()));
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 10;
  rl.rlim_cur = static_cast<rlim_t>(highest) + 8;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return 11;
  std::vector<int> fill;
  for (int d; (d = ::dup(0)) >= 0;) fill.push_back(d);
  if (fill.size() < 2) return 12;
  ::close(fill.back());
  fill.pop_back();
  ::close(fill.back());
  fill.pop_back();  // two numbers free; the message brings ten fds
  int rc = 0;
  try {
    (void)c.recv();
    rc = 1;
  } catch (const kin::ProtocolError&) {
  }
  for (int d : fill) ::close(d);
  if (rc == 0 && !c.recv().empty()) rc = 2;  // the next message is intact
  return rc;
}

}  // namespace

// ---- send_handle / recv_handle ----------------------------------------------------------

class HandlePassing : public ::testing::TestWithParam<kin::StartMethod> {};

// Mirrors _test_multiprocessing.py's _TestConnection.test_fd_transfer: a file's fd goes to a
// child, which writes through it; the parent reads what it wrote.
TEST_P(HandlePassing, FdTransfer) {
  TempDir dir;
  const auto path = dir.file("fd_transfer");
  auto [mine, theirs] = kin::Pipe<int>();
  kin::Context ctx{method_for(GetParam())};
  auto p = ctx.process(write_foo_to_received_fd, theirs);
  p.start();
  theirs.close();
  {
    kin::unique_fd f{::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    ASSERT_TRUE(f);
    kin::send_handle(mine, f.get());
  }  // the parent's fd is closed: only the child's copy remains
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(read_file(path), "foo");
}

// Mirrors test_large_fd_transfer: an fd number above 256 (a select() limit in CPython's
// days) travels just as well.
TEST_P(HandlePassing, LargeFdTransfer) {
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  const int high = static_cast<int>(std::min<rlim_t>(rl.rlim_cur - 1, 1000));
  if (high <= 256) GTEST_SKIP() << "RLIMIT_NOFILE too low for a large fd";
  ASSERT_EQ(::fcntl(high, F_GETFD), -1);  // the number is free
  TempDir dir;
  const auto path = dir.file("large_fd");
  auto [mine, theirs] = kin::Pipe<int>();
  kin::Context ctx{method_for(GetParam())};
  auto p = ctx.process(write_foo_to_received_fd, theirs);
  p.start();
  theirs.close();
  {
    kin::unique_fd f{::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    ASSERT_TRUE(f);
    kin::unique_fd big{::dup3(f.get(), high, O_CLOEXEC)};
    ASSERT_EQ(big.get(), high);
    kin::send_handle(mine, big.get());
  }
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(read_file(path), "foo");
}

INSTANTIATE_TEST_SUITE_P(AllStartMethods, HandlePassing,
                         ::testing::Values(kin::StartMethod::fork, kin::StartMethod::spawn, kin::StartMethod::forkserver),
                         [](const auto& param_info) { return std::string(kin::to_string(param_info.param)); });

// Mirrors test_missing_fd_transfer: a message that looks like a handle but has no fd with it,
// and a message that is not a handle at all, are errors, not a garbage fd.
TEST(HandlePassing, MissingFdTransfer) {
  auto [a, b] = kin::Pipe<int>();
  // What send_handle writes, minus the SCM_RIGHTS: tag and slot 0.
  std::uint32_t fake[2] = {kin::detail::PassedHandle::kTag, 0};
  a.send_bytes(std::as_bytes(std::span<const std::uint32_t>(fake)));
  EXPECT_THROW((void)kin::recv_handle(b), kin::ProtocolError);
  a.send(7);  // an ordinary message
  EXPECT_THROW((void)kin::recv_handle(b), kin::ProtocolError);
  // The stream is intact afterwards.
  a.send(8);
  EXPECT_EQ(b.recv(1s), 8);
  EXPECT_FALSE(kin::recv_handle(b, 50ms).has_value());  // nothing there: a bounded wait
}

// No CPython counterpart (Python's send_handle on a closed socket raises OSError): kin's
// misuse is ValueError, a bad fd OSError, and nothing is sent.
TEST(HandlePassing, UseAfterCloseAndBadFds) {
  auto [a, b] = kin::Pipe<int>();
  auto [r, w] = kin::detail::make_pipe();
  kin::Connection<int> closed = a;
  closed.close();
  EXPECT_THROW(kin::send_handle(closed, r.get()), kin::ValueError);
  EXPECT_THROW((void)kin::recv_handle(closed), kin::ValueError);
  auto [c, d] = kin::Pipe<int>();
  EXPECT_THROW(kin::send_handle(c, -1), kin::OSError);
  int gone = ::dup(r.get());
  ::close(gone);
  EXPECT_THROW(kin::send_handle(c, gone), kin::OSError);
  EXPECT_FALSE(d.poll(50ms));  // nothing went out
  // A received handle is an ordinary fd: usable, then closed by its owner.
  kin::send_handle(c, w.get());
  auto got = kin::recv_handle(d, 5s);
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(::write(got->get(), "x", 1), 1);
  char ch = 0;
  ASSERT_EQ(::read(r.get(), &ch, 1), 1);
  EXPECT_EQ(ch, 'x');
  EXPECT_NE(::fcntl(got->get(), F_GETFD) & FD_CLOEXEC, 0);  // close-on-exec, like every kin fd
  // A peer gone: EOFError for recv_handle, BrokenPipeError for send_handle.
  c.close();
  EXPECT_THROW((void)kin::recv_handle(d), kin::EOFError);
  auto [e, f] = kin::Pipe<int>();
  f.close();
  EXPECT_THROW(kin::send_handle(e, r.get()), kin::BrokenPipeError);
}

// ---- kin objects over a Connection --------------------------------------------------------

class ObjectsOverConnections : public ::testing::TestWithParam<kin::StartMethod> {};

// Mirrors TestPicklingConnections.test_access (a Connection pickled to a child over a pipe and
// used there), without Python's resource-sharer thread: the fd rides beside the frame.
TEST_P(ObjectsOverConnections, ConnectionSentToAChildIsUsableThere) {
  auto [carrier, carrier_child] = kin::Pipe<IntConn>();
  kin::Context ctx{method_for(GetParam())};
  auto p = ctx.process(double_on_received_connection, carrier_child);
  p.start();
  carrier_child.close();
  auto [mine, theirs] = kin::Pipe<int>();
  carrier.send(theirs);
  theirs.close();  // only the child holds that end now
  for (int i = 0; i < 50; ++i) {
    mine.send(i);
    ASSERT_EQ(mine.recv(10s), 2 * i);
  }
  mine.send(-1);
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
  // The child's copy of `theirs` was its only one: its exit is our EOF.
  EXPECT_THROW((void)mine.recv(5s), kin::EOFError);
}

// Mirrors TestPicklingConnections.test_pickling's other direction: a child sends a Connection
// it made to its parent.
TEST_P(ObjectsOverConnections, ConnectionSentByAChildIsUsableInTheParent) {
  auto [carrier, carrier_child] = kin::Pipe<IntConn>();
  kin::Context ctx{method_for(GetParam())};
  auto p = ctx.process(send_back_a_connection, carrier_child);
  p.start();
  carrier_child.close();
  auto got = carrier.recv(10s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->recv(10s), 41);
  got->send(42);
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

// No CPython counterpart: Python refuses to pickle a Queue ("Queue objects should only be
// shared between processes through inheritance"). A kin Queue's ring is an fd (a memfd), so it
// goes over a Connection like any fd-holding object, and both sides hold the same queue.
TEST_P(ObjectsOverConnections, QueueSentToAChildIsTheSameQueue) {
  auto [carrier, carrier_child] = kin::Pipe<kin::Queue<int>>();
  kin::Context ctx{method_for(GetParam())};
  auto p = ctx.process(put_on_received_queue, carrier_child);
  p.start();
  carrier_child.close();
  kin::Queue<int> q;
  carrier.send(q);
  EXPECT_EQ(q.get(10s), 42);
  EXPECT_EQ(q.get(10s), 43);
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

class ObjectsOverQueues : public ::testing::TestWithParam<kin::StartMethod> {};

// Mirrors TestPicklingConnections.test_access with a multiprocessing.Queue as the carrier (its
// resource sharer hands the fd over; so does kin's).
TEST_P(ObjectsOverQueues, ConnectionQueuedToAChildIsUsableThere) {
  kin::Queue<IntConn> carrier;
  kin::Context ctx{method_for(GetParam())};
  auto p = ctx.process(double_on_queued_connection, carrier);
  p.start();
  auto [mine, theirs] = kin::Pipe<int>();
  carrier.put(theirs);
  theirs.close();
  for (int i = 0; i < 20; ++i) {
    mine.send(i);
    ASSERT_EQ(mine.recv(10s), 2 * i);
  }
  mine.send(-1);
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_THROW((void)mine.recv(5s), kin::EOFError);  // the child's copy was the only one
}

TEST_P(ObjectsOverQueues, ConnectionQueuedByAChildIsUsableInTheParent) {
  kin::Queue<IntConn> carrier;
  kin::Context ctx{method_for(GetParam())};
  auto p = ctx.process(queue_back_a_connection, carrier);
  p.start();
  auto got = carrier.get(10s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->recv(10s), 41);
  got->send(42);
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(ObjectsOverQueues, QueueQueuedToAChildIsTheSameQueue) {
  kin::Queue<kin::Queue<int>> carrier;
  kin::Context ctx{method_for(GetParam())};
  auto p = ctx.process(put_on_queued_queue, carrier);
  p.start();
  kin::Queue<int> q;
  carrier.put(q);
  EXPECT_EQ(q.get(10s), 42);
  EXPECT_EQ(q.get(10s), 43);
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

INSTANTIATE_TEST_SUITE_P(AllStartMethods, ObjectsOverQueues,
                         ::testing::Values(kin::StartMethod::fork, kin::StartMethod::spawn, kin::StartMethod::forkserver),
                         [](const auto& param_info) { return std::string(kin::to_string(param_info.param)); });

INSTANTIATE_TEST_SUITE_P(AllStartMethods, ObjectsOverConnections,
                         ::testing::Values(kin::StartMethod::fork, kin::StartMethod::spawn, kin::StartMethod::forkserver),
                         [](const auto& param_info) { return std::string(kin::to_string(param_info.param)); });

// Mirrors test_fd_transfer's many-messages spirit (CPython sends one fd per message): fd-holding
// and plain messages interleave, several to one read(), and each message gets its own fds —
// the receiver's read-ahead must not hand one message's fds to its neighbour.
TEST(ObjectsOverConnections, InterleavedMessagesEachGetTheirOwnFds) {
  using Msg = std::variant<int, IntConn, std::vector<IntConn>>;
  auto [a, b] = kin::Pipe<Msg>();
  constexpr int n = 40;
  std::vector<IntConn> peers;
  for (int i = 0; i < n; ++i) {
    auto [x, y] = kin::Pipe<int>();
    a.send(Msg{i});
    if (i % 3 == 0) {
      auto [x2, y2] = kin::Pipe<int>();
      a.send(Msg{std::vector<IntConn>{x, x2}});
      y2.send(1000 + i);
      peers.push_back(y2);
    } else {
      a.send(Msg{x});
    }
    y.send(i);
    peers.push_back(y);
  }  // every end sent is closed here: the copies in flight are the only ones
  for (int i = 0; i < n; ++i) {
    auto plain = b.recv(5s);
    ASSERT_TRUE(plain.has_value());
    ASSERT_EQ(std::get<int>(*plain), i);
    auto obj = b.recv(5s);
    ASSERT_TRUE(obj.has_value());
    if (i % 3 == 0) {
      auto& v = std::get<std::vector<IntConn>>(*obj);
      ASSERT_EQ(v.size(), 2u);
      EXPECT_EQ(v[0].recv(5s), i);
      EXPECT_EQ(v[1].recv(5s), 1000 + i);
    } else {
      EXPECT_EQ(std::get<IntConn>(*obj).recv(5s), i);
    }
  }
  EXPECT_FALSE(b.poll(0s));
}

// No CPython counterpart: a large message with a Connection inside (its fds on the first of
// many writes, the receiver's reads cut in the middle of it).
TEST(ObjectsOverConnections, LargeMessageCarryingAConnection) {
  using Msg = std::pair<std::string, IntConn>;
  auto [a, b] = kin::Pipe<Msg>();
  auto [x, y] = kin::Pipe<int>();
  std::string big(4u << 20, 'k');
  big.back() = 'z';
  std::thread t([&a = a, &big, x = x]() mutable {
    a.send(Msg{big, x});
    x.close();  // every copy in this process: the one in flight is the only one left
  });
  auto got = b.recv(20s);
  t.join();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->first, big);
  y.send(5);
  EXPECT_EQ(got->second.recv(5s), 5);
}

// No CPython counterpart: Value (shared memory handed as a memfd) and SharedMemory (by name)
// over a Connection, then a Listener/Client on a Unix path carrying a Connection.
TEST(ObjectsOverConnections, ValuesSharedMemoryAndUnixListeners) {
  auto [a, b] = kin::Pipe<kin::Value<int>>();
  kin::Value<int> v{1};
  a.send(v);
  auto v2 = b.recv(5s);
  ASSERT_TRUE(v2.has_value());
  v2->store(9);
  EXPECT_EQ(v.load(), 9);

  TempDir dir;
  kin::Listener<IntConn> l{kin::Address::unix_path(dir.file("sock")), "key"};
  std::optional<IntConn> accepted_peer;
  std::thread server([&] {
    auto s = l.accept();
    auto [x, y] = kin::Pipe<int>();
    s.send(x);
    x.close();
    y.send(77);
    accepted_peer = y;
  });
  auto c = kin::Client<IntConn>(kin::Address::unix_path(dir.file("sock")), "key");
  auto got = c.recv(10s);
  server.join();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->recv(5s), 77);
}

// ---- what cannot carry fds: clear errors naming the fix ------------------------------------

// No CPython counterpart (Python's reduction needs a socket too: send_handle on a pipe fails
// with OSError ENOTSOCK).
TEST(HandlePassingErrors, SimplexPipeAndTcpRefuseFdsNamingTheFix) {
  auto [r, w] = kin::Pipe<IntConn>(kin::simplex);
  auto [x, y] = kin::Pipe<int>();
  try {
    w.send(x);
    FAIL() << "a pipe(2) cannot carry fds";
  } catch (const kin::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("pipe(2)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("duplex kin::Pipe"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(r.poll(50ms));  // nothing half-sent
  auto [r2, w2] = kin::Pipe<int>(kin::simplex);
  EXPECT_THROW(kin::send_handle(w2, x.fileno()), kin::ValueError);

  kin::Listener<IntConn> l{kin::Address{"127.0.0.1", 0}, "key"};
  std::thread server([&] {
    auto s = l.accept();
    try {
      s.send(x);
      ADD_FAILURE() << "TCP cannot carry fds";
    } catch (const kin::ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("TCP"), std::string::npos) << e.what();
    }
  });
  auto c = kin::Client<IntConn>(l.address(), "key");
  server.join();
  EXPECT_THROW((void)c.recv(5s), kin::EOFError);  // the server's end closed, nothing half-sent first
}

// No CPython counterpart (Python: RuntimeError "Queue objects should only be shared between
// processes through inheritance"): a Queue's items are bytes in shared memory, so an fd-holding
// object put on one is a ValueError, and nothing is put. SharedMemory travels by name, so it can.
// No CPython counterpart for the errors; the working part mirrors Python's Queue carrying a
// Connection through its resource sharer. A ticket taken twice, a putter gone before the get,
// and a put that never happened each leave nothing open.
TEST(HandlePassingErrors, QueuedFdsAreHandedOutOnceAndNeverLeak) {
  kin::Queue<IntConn> qc;
  auto [x, y] = kin::Pipe<int>();
  qc.put(x);
  x.close();
  auto got = qc.get(5s);
  ASSERT_TRUE(got.has_value());
  got->send(7);
  EXPECT_EQ(y.recv(5s), 7);
  got->close();
  EXPECT_THROW((void)y.recv(5s), kin::EOFError);  // the sharer kept no copy of the end

  // A put that cannot happen (a full queue, no time) gives its fds up at once.
  kin::Queue<IntConn> full{1};
  auto [p1, p2] = kin::Pipe<int>();
  full.put(p1);
  EXPECT_FALSE(full.put(p1, 10ms));
  p1.close();
  auto first = full.get(5s);
  ASSERT_TRUE(first.has_value());
  first->close();
  EXPECT_THROW((void)p2.recv(5s), kin::EOFError);  // no duplicate of p1 left anywhere

  kin::SharedMemory shm{"", 64};
  std::memcpy(shm.buf().data(), "by name", 8);
  kin::Queue<kin::SharedMemory> qs;
  qs.put(shm);
  auto again = qs.get(5s);
  ASSERT_TRUE(again.has_value());
  EXPECT_STREQ(reinterpret_cast<const char*>(again->buf().data()), "by name");
  again->close();
  shm.unlink();
}

int put_connection_and_exit(kin::Queue<IntConn> carrier) {
  auto [mine, theirs] = kin::Pipe<int>();
  carrier.put(theirs);
  return 0;  // gone before anyone takes it: its fds go with it
}

int put_connection_and_wait(kin::Queue<IntConn> carrier, kin::Connection<int> done) {
  auto [mine, theirs] = kin::Pipe<int>();
  carrier.put(theirs);
  (void)done.recv();  // alive (and stopped by the test) until told to go
  return 0;
}

// A SIGSTOPped putter cannot hand its fds over: the get is a TimeoutError within the fetch's
// own bound (5 s), never a hang.
TEST(HandlePassingErrors, AQueuedObjectWhosePutterIsStoppedTimesOut) {
  kin::Queue<IntConn> carrier;
  auto [tell, told] = kin::Pipe<int>();
  kin::Context ctx{kin::StartMethod::spawn};
  auto p = ctx.process(put_connection_and_wait, carrier, told);
  p.start();
  told.close();
  ASSERT_TRUE(kin::testing::eventually([&] { return !carrier.empty(); }));
  const pid_t pid = p.pid();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  ASSERT_TRUE(kin::testing::eventually([&] {  // the stop is asynchronous: wait until it holds
    return kin::testing::slurp("/proc/" + std::to_string(pid) + "/stat").find(") T ") != std::string::npos;
  }));
  EXPECT_THROW((void)carrier.get(5s), kin::TimeoutError);
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  tell.send(1);
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(HandlePassingErrors, AQueuedObjectWhosePutterIsGoneIsAClearError) {
  kin::Queue<IntConn> carrier;
  kin::Context ctx{kin::StartMethod::spawn};
  auto p = ctx.process(put_connection_and_exit, carrier);
  p.start();
  ASSERT_TRUE(p.join(20s));
  ASSERT_EQ(p.exitcode(), 0);
  try {
    (void)carrier.get(5s);
    FAIL() << "an fd of a process that is gone arrived";
  } catch (const kin::OSError& e) {
    EXPECT_NE(std::string(e.what()).find("is gone"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(carrier.empty());
}

// ---- hostile and broken peers -------------------------------------------------------------

// No CPython counterpart (CPython's recvfds checks the count byte): a peer attaches fds to a
// message that holds no kin object. The message arrives, the fds are closed, none leaks.
TEST(HandlePassingErrors, UnaskedForFdsAreClosed) {
  auto [pr, pw] = kin::detail::make_pipe();
  auto [a, b] = kin::Pipe<std::string>();
  auto [c, d] = kin::Pipe<int>();
  const int fds[3] = {pw.get(), pw.get(), pw.get()};
  auto s = kin::encode(std::string{"hello"});
  kin::detail::send_with_fds(a.fileno(), raw_frame(s), fds);
  std::int32_t seven = 7;
  kin::detail::send_with_fds(c.fileno(), raw_frame(std::as_bytes(std::span<const std::int32_t, 1>(&seven, 1))), fds);
  kin::detail::send_with_fds(c.fileno(), raw_frame(std::as_bytes(std::span<const std::int32_t, 1>(&seven, 1))), fds);
  EXPECT_EQ(b.recv(5s), "hello");  // std::string: decoded with the fds at hand, which it ignores
  EXPECT_EQ(d.recv(), 7);          // int: the fast path, fds dropped with the frame
  EXPECT_EQ(d.recv_bytes().size(), 4u);  // raw bytes: fds dropped with the frame
  pw.reset();
  EXPECT_TRUE(eof_within(pr.get(), 5s)) << "a received copy of the write end leaked";
}

// No CPython counterpart: more fds than the receiver's control buffer holds (the kernel's
// SCM_MAX_FD is 253; kin takes 250) is MSG_CTRUNC: a ProtocolError for that message, every fd
// that did arrive closed, and the next message intact.
TEST(HandlePassingErrors, TooManyFdsIsAProtocolErrorAndTheStreamGoesOn) {
  auto [pr, pw] = kin::detail::make_pipe();
  auto [a, b] = kin::Pipe<IntConn>();
  std::vector<int> many(253, pw.get());
  // A message with one Connection in it, sent with 253 fds instead of 1.
  std::vector<kin::unique_fd> exported;
  kin::Bytes payload;
  {
    auto [x, y] = kin::Pipe<int>();
    kin::detail::HandoverExport scope{exported};
    payload = kin::encode(x);
  }
  raw_send_with_fds(a.fileno(), raw_frame(payload), many);
  auto [x, y] = kin::Pipe<int>();
  a.send(x);  // then a good one
  x.close();
  EXPECT_THROW((void)b.recv(5s), kin::ProtocolError);
  auto good = b.recv(5s);
  ASSERT_TRUE(good.has_value());
  y.send(3);
  EXPECT_EQ(good->recv(5s), 3);
  pw.reset();
  EXPECT_TRUE(eof_within(pr.get(), 5s)) << "a truncated message's fds leaked";
}

// No CPython counterpart: the receiver out of fd numbers (RLIMIT_NOFILE) is the same
// MSG_CTRUNC case: ProtocolError in the receiver, the fds it did get closed, the stream intact.
TEST(HandlePassingErrors, ReceiverOutOfFdNumbers) {
  auto [pr, pw] = kin::detail::make_pipe();
  auto [a, b] = kin::Pipe<std::vector<IntConn>>();
  kin::Context ctx{kin::testing::threaded_fork_method()};
  auto p = ctx.process(receive_beyond_the_fd_limit, b);
  p.start();
  b.close();
  {
    IntConn w{kin::unique_fd{::dup(pw.get())}, false, true};
    a.send(std::vector<IntConn>(10, w));
  }
  a.send({});
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
  pw.reset();
  EXPECT_TRUE(eof_within(pr.get(), 5s)) << "fds of the truncated message leaked";
}

// No CPython counterpart: a message that names more fds than came with it is a ProtocolError
// (never a stray fd number), and the one that did come is closed.
TEST(HandlePassingErrors, AMessageNamingMissingFdsIsAProtocolError) {
  auto [pr, pw] = kin::detail::make_pipe();
  auto [a, b] = kin::Pipe<std::vector<IntConn>>();
  std::vector<kin::unique_fd> exported;
  kin::Bytes payload;
  {
    auto [x, y] = kin::Pipe<int>();
    auto [x2, y2] = kin::Pipe<int>();
    kin::detail::HandoverExport scope{exported};
    payload = kin::encode(std::vector<IntConn>{x, x2});  // slots 0 and 1
  }
  const int one[1] = {pw.get()};
  kin::detail::send_with_fds(a.fileno(), raw_frame(payload), one);
  EXPECT_THROW((void)b.recv(5s), kin::ProtocolError);
  pw.reset();
  EXPECT_TRUE(eof_within(pr.get(), 5s));
  a.send({});  // the stream goes on
  auto next = b.recv(5s);
  ASSERT_TRUE(next.has_value());
  EXPECT_TRUE(next->empty());
}

// No CPython counterpart: a sender that dies in the middle of a message carrying an fd. The
// receiver gets ProtocolError (a truncated frame), and the fd is closed.
TEST(HandlePassingErrors, SenderDyingMidMessage) {
  auto [pr, pw] = kin::detail::make_pipe();
  kin::Connection<int> w_conn{kin::unique_fd{::dup(pw.get())}, false, true};
  auto [a, b] = kin::Pipe<int>();
  kin::Context ctx{kin::testing::threaded_fork_method()};
  auto p = ctx.process(die_in_the_middle_of_a_message, a, w_conn);
  p.start();
  a.close();
  w_conn.close();
  ASSERT_TRUE(p.join(20s));
  EXPECT_THROW((void)b.recv(5s), kin::ProtocolError);
  b.close();
  pw.reset();
  EXPECT_TRUE(eof_within(pr.get(), 5s));
}

// No CPython counterpart: messages with fds that are never received — some still in the
// kernel, one already read ahead into the receiver's buffer — are closed with the connection.
TEST(HandlePassingErrors, UnreceivedFdsAreClosedWithTheConnection) {
  auto [pr, pw] = kin::detail::make_pipe();
  kin::Connection<int> w_conn{kin::unique_fd{::dup(pw.get())}, false, true};
  pw.reset();
  {
    auto [a, b] = kin::Pipe<std::optional<kin::Connection<int>>>();
    a.send(std::nullopt);
    a.send(w_conn);  // one read of b brings this with the first (its fds ride on its first byte)
    a.send(w_conn);  // and this stays in the kernel
    w_conn.close();
    auto first = b.recv(5s);
    ASSERT_TRUE(first.has_value());
    EXPECT_FALSE(first->has_value());
    b.close();  // the read-ahead message's fds: closed by us; the kernel's: closed by the kernel
  }
  EXPECT_TRUE(eof_within(pr.get(), 5s)) << "an unreceived message's fd leaked";
}

// No CPython counterpart: use after close of a received object, and sending a closed one.
TEST(HandlePassingErrors, UseAfterCloseOfSentAndReceivedObjects) {
  auto [a, b] = kin::Pipe<IntConn>();
  auto [x, y] = kin::Pipe<int>();
  IntConn closed;
  EXPECT_THROW(a.send(closed), kin::ValueError);  // a closed Connection cannot travel
  EXPECT_FALSE(b.poll(50ms));
  a.send(x);
  auto got = b.recv(5s);
  ASSERT_TRUE(got.has_value());
  got->close();
  EXPECT_THROW(got->send(1), kin::ValueError);
  EXPECT_THROW((void)got->recv(), kin::ValueError);
  a.close();
  EXPECT_THROW(a.send(x), kin::ValueError);
  EXPECT_THROW((void)b.recv(5s), kin::EOFError);
}

// ---- kin objects in messages to process actors --------------------------------------------

#include <kin/actor_system.hpp>
#include <kin/message.hpp>
#include <kin/spawn_process.hpp>

#include <caf/all.hpp>

namespace {

const bool conn_registered = (kin::Message::register_type<IntConn>("kin.test.Connection<int>"),
                              kin::Message::register_type<kin::Queue<int>>("kin.test.Queue<int>"), true);

// Triples the int that comes on the Connection it is sent, puts on the Queue it is sent, and
// answers with a Connection of its own making.
caf::behavior object_user(caf::event_based_actor*) {
  return {
      [](const kin::Message& m) {
        auto c = m.get_as<IntConn>(0);
        c.send(3 * c.recv());
        m.get_as<kin::Queue<int>>(1).put(99);
        auto [mine, theirs] = kin::Pipe<int>();
        mine.send(123);
        return kin::make_message(theirs);
      },
  };
}

}  // namespace

class ObjectsToProcessActors : public ::testing::TestWithParam<kin::StartMethod> {};

// No CPython counterpart (Python's process-side objects are pickled with the same reduction as
// test_access): a Connection and a Queue inside a kin::Message to a process actor arrive
// usable in its process, and one comes back in the reply.
TEST_P(ObjectsToProcessActors, ConnectionAndQueueInAMessage) {
  ASSERT_TRUE(conn_registered);
  kin::ActorSystem sys;
  caf::scoped_actor self{sys};
  auto a = kin::spawn_process(sys, kin::ProcessOptions{.start_method = method_for(GetParam())}, object_user);
  auto [mine, theirs] = kin::Pipe<int>();
  kin::Queue<int> q;
  auto msg = kin::make_message(theirs, q);
  theirs.close();  // the message holds its own duplicate
  EXPECT_EQ(msg.fd_count(), 2u);
  mine.send(14);
  std::optional<IntConn> back;
  self->request(a, 10s, msg).receive([&](const kin::Message& r) { back = r.get_as<IntConn>(0); },
                                     [](const caf::error& e) { ADD_FAILURE() << caf::to_string(e); });
  EXPECT_EQ(mine.recv(10s), 42);
  EXPECT_EQ(q.get(10s), 99);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->recv(10s), 123);
  self->send_exit(a, caf::exit_reason::user_shutdown);
}

INSTANTIATE_TEST_SUITE_P(AllStartMethods, ObjectsToProcessActors,
                         ::testing::Values(kin::StartMethod::fork, kin::StartMethod::spawn, kin::StartMethod::forkserver),
                         [](const auto& param_info) { return std::string(kin::to_string(param_info.param)); });

// No CPython counterpart: a kin::Message holding fds travels over a Pipe and over a Queue (the
// fd through the putter's sharer), and copies of such a Message each give their own holder.
TEST(ObjectsToProcessActors, MessagesWithFdsOverPipesAndQueues) {
  ASSERT_TRUE(conn_registered);
  auto [x, y] = kin::Pipe<int>();
  auto m = kin::make_message(std::string("tag"), x);
  x.close();
  kin::Queue<kin::Message> qm;
  qm.put(m);
  {
    auto queued = qm.get(5s);
    ASSERT_TRUE(queued.has_value());
    auto c = queued->get_as<IntConn>(1);
    c.send(0);
    EXPECT_EQ(y.recv(5s), 0);
  }
  EXPECT_TRUE(qm.empty());
  auto [a, b] = kin::Pipe<kin::Message>();
  a.send(m);
  auto got = b.recv(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->get_as<std::string>(0), "tag");
  auto c1 = got->get_as<IntConn>(1);
  auto c2 = got->get_as<IntConn>(1);
  EXPECT_NE(c1.fileno(), c2.fileno());
  c1.send(1);
  c2.send(2);
  EXPECT_EQ(y.recv(5s), 1);
  EXPECT_EQ(y.recv(5s), 2);
  // A plain Message (no fds) still goes through a Queue.
  qm.put(kin::make_message(1, std::string("x")));
  EXPECT_EQ(qm.get(5s)->get_as<std::string>(1), "x");
}
