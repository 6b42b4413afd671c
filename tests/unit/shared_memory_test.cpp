#include <kin/shared_memory.hpp>

#include <kin/codec.hpp>
#include <kin/errors.hpp>
#include <kin/runtime/handover.hpp>
#include <kin/runtime/shm_registry.hpp>

#include "leak_check.hpp"
#include "fork_child.hpp"
#include "test_util.hpp"

#include <sys/stat.h>

#include <cstring>
#include <string>

using namespace std::chrono_literals;
using kin::test::fork_child;
using kin::test::wait_child;

namespace {
bool exists(const std::string& name) {
  struct stat st {};
  return ::stat(("/dev/shm/" + name).c_str(), &st) == 0;
}
}  // namespace

TEST(SharedMemory, CreateAttachUnlink) {
  std::string name = kin::testing::shm_name("basic");
  kin::SharedMemory a{name, 4096};
  EXPECT_EQ(a.name(), name);
  EXPECT_EQ(a.size(), 4096u);
  EXPECT_EQ(a.buf().size(), 4096u);
  EXPECT_TRUE(exists(name));
  a.buf()[0] = std::byte{42};
  auto b = kin::SharedMemory::attach(name);
  EXPECT_EQ(b.size(), 4096u);
  EXPECT_EQ(b.buf()[0], std::byte{42});
  b.close();
  EXPECT_TRUE(b.buf().empty());
  a.unlink();
  EXPECT_FALSE(exists(name));
  EXPECT_EQ(a.buf()[0], std::byte{42});  // the mapping outlives the name
  EXPECT_THROW(a.unlink(), kin::OSError);
}

TEST(SharedMemory, GeneratedNameCarriesPrefix) {
  kin::SharedMemory a{"", 10};
  EXPECT_EQ(a.name().rfind(kin::testing::shm_prefix(), 0), 0u) << a.name();
  kin::SharedMemory b{"/", 10};
  EXPECT_NE(a.name(), b.name());
  a.unlink();
  b.unlink();
}

TEST(SharedMemory, Errors) {
  EXPECT_THROW((kin::SharedMemory{kin::testing::shm_name("zero"), 0}), kin::ValueError);
  EXPECT_THROW((kin::SharedMemory{"a/b", 10}), kin::ValueError);
  try {
    (void)kin::SharedMemory::attach(kin::testing::shm_name("nope"));
    FAIL();
  } catch (const kin::OSError& e) {
    EXPECT_EQ(e.error_code(), ENOENT);
  }
  std::string name = kin::testing::shm_name("dup");
  kin::SharedMemory a{"/" + name, 10};
  EXPECT_EQ(a.name(), name);
  try {
    kin::SharedMemory again{name, 10};
    FAIL();
  } catch (const kin::OSError& e) {
    EXPECT_EQ(e.error_code(), EEXIST);
  }
  a.unlink();
  kin::SharedMemory empty;
  EXPECT_THROW(empty.unlink(), kin::ValueError);
}

TEST(SharedMemory, ChildAttachesByName) {
  kin::SharedMemory a{kin::testing::shm_name("child"), 64};
  std::string name = a.name();
  pid_t pid = fork_child([name] {
    auto b = kin::SharedMemory::attach(name);
    std::memcpy(b.buf().data(), "hello", 5);
    return 0;
  });
  EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(std::memcmp(a.buf().data(), "hello", 5), 0);
  a.unlink();
}

TEST(SharedMemory, TravelsByName) {
  kin::SharedMemory a{kin::testing::shm_name("codec"), 16};
  a.buf()[3] = std::byte{7};
  auto bytes = kin::encode(a);
  auto b = kin::decode<kin::SharedMemory>(bytes);
  EXPECT_EQ(b.name(), a.name());
  EXPECT_EQ(b.buf()[3], std::byte{7});
  a.unlink();
}

TEST(SharedMemory, KilledCreatorIsReclaimedByTheReapingParent) {
  std::string name = kin::testing::shm_name("killed");
  pid_t pid = kin::test::fork_holder([&] { kin::SharedMemory s{name, 128}; });
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(exists(name));
  EXPECT_EQ(kin::detail::reclaim_segments_of(pid), 0u);  // still alive: untouched
  EXPECT_TRUE(exists(name));
  kin::test::kill_child(pid);
  EXPECT_EQ(kin::detail::reclaim_segments_of(pid), 1u);
  EXPECT_FALSE(exists(name));
}

TEST(SharedMemory, KilledCreatorIsReclaimedByTheNextScan) {
  kin::testing::PrivateShmRegistry registry;  // or a test beside this one may scan first
  std::string name = kin::testing::shm_name("scan");
  pid_t pid = fork_child([&] {
    kin::SharedMemory s{name, 128};
    ::raise(SIGKILL);
    return 0;
  });
  EXPECT_EQ(wait_child(pid), -SIGKILL);
  EXPECT_TRUE(exists(name));
  EXPECT_GE(kin::detail::reclaim_dead_segments(), 1u);  // what the next kin program does first
  EXPECT_FALSE(exists(name));
}

TEST(SharedMemory, NameReusedByAnotherCreatorIsNotReclaimed) {
  kin::testing::PrivateShmRegistry registry;
  std::string name = kin::testing::shm_name("reuse");
  kin::detail::reclaim_dead_segments_once();  // this process's first-use scan is done before
  pid_t pid = fork_child([&] {
    kin::SharedMemory s{name, 128};
    ::raise(SIGKILL);
    return 0;
  });
  EXPECT_EQ(wait_child(pid), -SIGKILL);
  // Someone removes the dead child's segment and a new one takes its name: the dead child's
  // registry line (another inode) must not unlink it.
  auto old = kin::SharedMemory::attach(name);
  old.unlink();
  kin::SharedMemory mine{name, 32};
  EXPECT_EQ(kin::detail::reclaim_segments_of(pid), 0u);
  EXPECT_TRUE(exists(name));
  mine.unlink();
}

TEST(SharedMemory, CreatorsNormalExitUnlinksWhatItLeft) {
  std::string name = kin::testing::shm_name("atexit");
  std::fflush(nullptr);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    kin::SharedMemory s{name, 128};
    std::exit(0);  // runs the atexit hook (a leak warning goes to stderr)
  }
  EXPECT_EQ(wait_child(pid), 0);
  EXPECT_FALSE(exists(name));
}
