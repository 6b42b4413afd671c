// kin::Manager::register_type<T> and ObjectProxy<T>: user types whose registered methods run
// on the server — by name and typed, from two processes under every start method with exact
// totals, with kin::Message-registered argument types — and the refusals: an unregistered
// method, wrong argument types or counts, a result asked for as another type, what a method
// throws, a type the server does not know (registered after a fork-started server began, or
// only at run time for a spawned one), malformed call requests; the server serves on after each.
#include <kin/manager.hpp>

#include <kin/context.hpp>
#include <kin/errors.hpp>
#include <kin/message.hpp>
#include <kin/process.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/listener_core.hpp>

#include <gtest/gtest.h>

#include "sanitizer_limits.hpp"

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

const bool default_method_chosen = (kin::set_start_method(kin::testing::threaded_fork_method()), true);

struct Point {
  int x = 0;
  int y = 0;
  friend bool operator==(const Point&, const Point&) = default;
};
[[maybe_unused]] const bool point_registered = (kin::Message::register_type<Point>("test.Point"), true);

struct Counter {
  long n = 0;
  std::string label;
  Point at;
  long add(long d) { return n += d; }
  [[nodiscard]] long get() const { return n; }
  void reset() noexcept { n = 0; }
  void set_label(const std::string& s) { label = s + "!"; }
  [[nodiscard]] std::string get_label() const { return label; }
  Point move(Point d) {
    at.x += d.x;
    at.y += d.y;
    return at;
  }
  long fail_key(long) { throw kin::KeyError("kin::KeyError: no such thing"); }
  long fail_odd() { throw 42; }  // not a std::exception
  long fail_std() { throw std::runtime_error("boom"); }
  long secret() { return -1; }  // not registered: never callable
};

// At namespace scope: every image of this program (a spawned or forkserver server too) has it.
[[maybe_unused]] const bool counter_registered = kin::Manager::register_type<Counter>(
    "test.Counter", KIN_METHOD(Counter, add), KIN_METHOD(Counter, get), KIN_METHOD(Counter, reset),
    KIN_METHOD(Counter, set_label), KIN_METHOD(Counter, get_label), KIN_METHOD(Counter, move),
    KIN_METHOD(Counter, fail_key), KIN_METHOD(Counter, fail_odd), kin::method<&Counter::fail_std>("fail_std"));

struct Late {
  int v = 5;
  [[nodiscard]] int value() const { return v; }
};

int add_many(kin::ObjectProxy<Counter> c, int who) {
  for (int i = 0; i < 300; ++i) {
    if (i % 2 == 0) c.call<&Counter::add>(1);
    else c.call<long>("add", 1L);
  }
  c.call("set_label", "worker" + std::to_string(who));
  (void)c.call<&Counter::move>(Point{who, 1});
  return 0;
}

}  // namespace

TEST(ManagerRegisterType, MethodsRunOnTheServer) {
  kin::Manager m;
  auto c = m.make<Counter>();
  EXPECT_EQ(c.call<&Counter::add>(5), 5);
  EXPECT_EQ(c.call<long>("add", 2L), 7);
  EXPECT_EQ(c.call<&Counter::get>(), 7);
  c.call<&Counter::set_label>("hello");  // converted to the std::string it takes
  EXPECT_EQ(c.call<std::string>("get_label"), "hello!");
  c.call("set_label", "by name");  // a literal travels as a std::string
  EXPECT_EQ(c.call<&Counter::get_label>(), "by name!");
  EXPECT_EQ(c.call<&Counter::move>(Point{1, 2}), (Point{1, 2}));
  EXPECT_EQ(c.call<Point>("move", Point{1, 1}), (Point{2, 3}));
  c.call<&Counter::reset>();
  EXPECT_EQ(c.call<long>("get"), 0);
  c.call("add", 3L);  // void: the result is dropped
  EXPECT_EQ(c.call<long>("get"), 3);

  auto other = m.make<Counter>();  // a second object of its own
  EXPECT_EQ(other.call<long>("get"), 0);
  auto a = m.make<Counter>("shared");
  auto b = m.make<Counter>("shared");  // the same named object
  EXPECT_EQ(a.id(), b.id());
  a.call<&Counter::add>(4);
  EXPECT_EQ(b.call<&Counter::get>(), 4);
  EXPECT_THROW((void)(m.dict<int, int>("shared")), kin::ValueError);  // a name of another type
}

TEST(ManagerRegisterType, RefusalsAreTheCallersErrorAndTheServerServesOn) {
  kin::Manager m;
  auto c = m.make<Counter>();
  c.call<&Counter::add>(10);
  EXPECT_THROW((void)c.call<long>("secret"), kin::ValueError);  // a method that is not registered
  EXPECT_THROW((void)c.call<long>("no_such_method"), kin::ValueError);
  try {
    (void)c.call<long>("add", 5);  // an int32; add takes an int64
    ADD_FAILURE() << "an int argument was taken for a long";
  } catch (const kin::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("int32"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("add"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)c.call<long>("add"), kin::ValueError);            // too few
  EXPECT_THROW((void)c.call<long>("add", 1L, 2L), kin::ValueError);    // too many
  EXPECT_THROW((void)c.call<int>("get"), kin::ValueError);             // it returns an int64
  EXPECT_THROW((void)c.call<long>("reset"), kin::ValueError);          // it returns nothing: not run
  EXPECT_THROW((void)c.call<long>("fail_key", 1L), kin::KeyError);
  EXPECT_THROW((void)c.call<long>("fail_odd"), kin::ValueError);
  try {
    (void)c.call<&Counter::fail_std>();
    ADD_FAILURE() << "no error";
  } catch (const kin::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("boom"), std::string::npos) << e.what();
  }
  EXPECT_EQ(c.call<&Counter::get>(), 10);  // nothing above changed it, and the server serves

}

TEST(ManagerRegisterType, MalformedCallsAreRefused) {
  kin::Manager m;
  auto c = m.make<Counter>();
  c.call<&Counter::add>(1);
  const auto addr = kin::detail::SocketAddress{"", 0, m.address().path};
  auto fd = kin::detail::client_connect(addr, m.authkey(), 5s);
  const std::uint32_t id = c.id();
  auto send = [&](const std::string& fields) {
    std::string payload("\x01\x00\x00\x00", 4);  // request id 1
    payload.push_back(static_cast<char>(kin::detail::mgr::Op::o_call));
    payload.append(reinterpret_cast<const char*>(&id), sizeof id).append(fields);
    kin::Bytes b(payload.size());
    std::memcpy(b.data(), payload.data(), payload.size());
    kin::detail::write_frame(fd.get(), b);
    auto reply = kin::detail::read_frame(fd.get(), 5000ms);
    EXPECT_TRUE(reply);
    EXPECT_FALSE(!reply || reply->empty());
    return reply && reply->size() > 4 ? static_cast<kin::detail::mgr::Status>((*reply)[4]) : kin::detail::mgr::Status::ok;
  };
  // "add", then an argument blob of garbage bytes
  EXPECT_EQ(send(std::string("\x03" "add" "\x04" "\xff\xff\xff\xff" "\x00", 10)), kin::detail::mgr::Status::protocol_error);
  // "add" with a Message holding an element of a type nobody registered
  kin::Message msg;
  msg.push_back(1L);
  kin::Bytes enc = kin::encode(msg);
  std::string e(reinterpret_cast<const char*>(enc.data()), enc.size());
  const auto at = e.find("int64");
  ASSERT_NE(at, std::string::npos);
  e.replace(at, 5, "zzz64");
  std::string fields = "\x03" "add";
  fields.push_back(static_cast<char>(e.size()));
  fields.append(e);
  fields.push_back('\0');  // any result type
  EXPECT_EQ(send(fields), kin::detail::mgr::Status::protocol_error);
  // truncated: no argument blob at all
  EXPECT_EQ(send(std::string("\x03" "add", 4)), kin::detail::mgr::Status::protocol_error);
  EXPECT_EQ(c.call<&Counter::get>(), 1);
}

class ManagerRegisterTypeAcrossProcesses : public ::testing::TestWithParam<kin::StartMethod> {};

TEST_P(ManagerRegisterTypeAcrossProcesses, TwoProcessesExactTotals) {
  kin::Manager m{kin::ManagerOptions{.start_method = GetParam()}};
  auto c = m.make<Counter>();
  kin::Context ctx{GetParam()};
  auto p1 = ctx.process(add_many, c, 1);
  auto p2 = ctx.process(add_many, c, 2);
  p1.start();
  p2.start();
  for (int i = 0; i < 300; ++i) c.call<&Counter::add>(1);
  ASSERT_TRUE(p1.join(60s));
  ASSERT_TRUE(p2.join(60s));
  EXPECT_EQ(p1.exitcode(), 0);
  EXPECT_EQ(p2.exitcode(), 0);
  EXPECT_EQ(c.call<&Counter::get>(), 900);
  EXPECT_EQ(c.call<&Counter::move>(Point{0, 0}), (Point{3, 2}));
  const auto label = c.call<&Counter::get_label>();
  EXPECT_TRUE(label == "worker1!" || label == "worker2!") << label;
}

INSTANTIATE_TEST_SUITE_P(AllStartMethods, ManagerRegisterTypeAcrossProcesses,
                         ::testing::Values(kin::StartMethod::fork, kin::StartMethod::spawn, kin::StartMethod::forkserver),
                         [](const auto& param_info) { return std::string(kin::to_string(param_info.param)); });

// What the header says about where registrations reach, checked: a registration made at run
// time (after kin::init) reaches a fork-started server that starts after it, not one started
// before it, and not a spawned one.
TEST(ManagerRegisterType, RunTimeRegistrationReachesOnlyLaterForkServers) {
  if (kin::testing::fork_beside_threads_unsafe) GTEST_SKIP() << kin::testing::fork_reason;
  kin::Manager before{kin::ManagerOptions{.start_method = kin::StartMethod::fork}};
  static const bool late_registered = kin::Manager::register_type<Late>("test.Late", KIN_METHOD(Late, value));
  ASSERT_TRUE(late_registered);
  EXPECT_THROW((void)before.make<Late>(), kin::ValueError);
  auto c = before.make<Counter>();  // the server serves on
  EXPECT_EQ(c.call<&Counter::add>(1), 1);

  kin::Manager after{kin::ManagerOptions{.start_method = kin::StartMethod::fork}};
  EXPECT_EQ(after.make<Late>().call<&Late::value>(), 5);

  kin::Manager spawned{kin::ManagerOptions{.start_method = kin::StartMethod::spawn}};
  EXPECT_THROW((void)spawned.make<Late>(), kin::ValueError);
  EXPECT_EQ(spawned.make<Counter>().call<&Counter::add>(2), 2);
}
