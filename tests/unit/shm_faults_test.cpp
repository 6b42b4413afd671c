// Shared memory under faults (issue 9 items 6, 7, 8): a full /dev/shm and RLIMIT_FSIZE are
// OSErrors at creation (never SIGBUS at the first write, never SIGXFSZ), a creator killed at
// any point of a SharedMemory's creation leaks nothing, and the registry that makes that so
// cannot be hijacked by another user or emptied from another mount namespace.
#include <kin/array.hpp>
#include <kin/errors.hpp>
#include <kin/lock.hpp>
#include <kin/queue.hpp>
#include <kin/raw_array.hpp>
#include <kin/shared_memory.hpp>
#include <kin/value.hpp>
#include <kin/runtime/process_table.hpp>
#include <kin/runtime/shm_registry.hpp>

#include "fault_injection.hpp"
#include "leak_check.hpp"
#include "test_util.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

using namespace std::chrono_literals;
using kin::testing::ChildOptions;
using kin::testing::run_in_child;

namespace {

bool shm_exists(const std::string& name) {
  struct stat st {};
  return ::lstat(("/dev/shm/" + name).c_str(), &st) == 0;
}

// /dev/shm names of this run that contain `part`.
std::vector<std::string> shm_names_with(const std::string& part) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm")) {
    std::string n = e.path().filename();
    if (n.rfind(kin::testing::shm_prefix(), 0) == 0 && n.find(part) != std::string::npos) out.push_back(n);
  }
  return out;
}

// A registry of this test's own (so no other kin program on the machine reclaims for us).
class PrivateRegistry : public ::testing::Test {
 protected:
  [[nodiscard]] std::size_t files() const {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++n;
    return n;
  }
  kin::testing::PrivateShmRegistry registry_;
  std::string dir_ = registry_.path();
};

// Runs `body` in a child that has its own mount namespace with a `size` tmpfs on /dev/shm.
// nullopt when this machine does not let us (no CAP_SYS_ADMIN, a seccomp sandbox).
std::optional<kin::ExitStatus> in_small_dev_shm(const char* size, const std::function<int()>& body) {
  auto st = run_in_child([&] {
    if (::unshare(CLONE_NEWNS) != 0) return 77;
    if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 77;
    std::string opts = std::string("size=") + size + ",mode=1777";
    if (::mount("kin-small-shm", "/dev/shm", "tmpfs", 0, opts.c_str()) != 0) return 77;
    return body();
  });
  if (st.code() == 77) return std::nullopt;
  return st;
}

template <class F>
int expect_oserror(F&& f, int err) {
  try {
    f();
  } catch (const kin::OSError& e) {
    if (e.error_code() != err) {
      std::fprintf(stderr, "wrong errno %d: %s\n", e.error_code(), e.what());
      return 10;
    }
    return 0;
  }
  return 11;  // no error at all
}

}  // namespace

// ---- item 6: reserve at creation ------------------------------------------------------------

TEST(ShmFaults, AFullDevShmIsAnOSErrorAtTheConstructorNotASigbusAtTheFirstWrite) {
  auto st = in_small_dev_shm("1m", [] {
    int rc = expect_oserror(
        [] {
          kin::SharedMemory shm{kin::testing::shm_name("big"), 8u << 20};
          std::memset(shm.buf().data(), 1, shm.size());  // today: SIGBUS here
          shm.unlink();
        },
        ENOSPC);
    if (rc != 0) return rc;
    // What fits still works, and the failed attempt left nothing behind.
    kin::SharedMemory small{kin::testing::shm_name("small"), 256u << 10};
    std::memset(small.buf().data(), 1, small.size());
    small.unlink();
    return shm_names_with("").empty() ? 0 : 12;
  });
  if (!st) GTEST_SKIP() << "unshare(CLONE_NEWNS) + mount tmpfs not permitted here";
  EXPECT_TRUE(st->success()) << st->str();
}

TEST(ShmFaults, RlimitFsizeIsAnOSErrorNotASigxfszDeath) {
  ChildOptions limited{.die_at = nullptr, .rlimit = std::pair<int, rlim_t>{RLIMIT_FSIZE, 64 * 1024}, .timeout = 30s};
  auto st = run_in_child(
      [] {
        if (int rc = expect_oserror([] { kin::SharedMemory s{kin::testing::shm_name("fsize"), 8u << 20}; }, EFBIG))
          return rc;
        if (int rc = expect_oserror([] { kin::Array<int> a(1u << 20); }, EFBIG)) return 20 + rc;
        if (int rc = expect_oserror([] { kin::RawArray<char> a(1u << 20); }, EFBIG)) return 40 + rc;
        // Below the limit everything still works.
        kin::Value<int> v{1};
        kin::Lock l;
        kin::Array<int> a(1000);
        a[5] = 3;
        return v.load() == 1 && a[5] == 3 && shm_names_with("fsize").empty() ? 0 : 60;
      },
      limited);
  EXPECT_TRUE(st.success()) << st.str();
}

TEST(ShmFaults, QueueCreationPastRlimitFsizeIsAnOSError) {
  ChildOptions limited{.die_at = nullptr, .rlimit = std::pair<int, rlim_t>{RLIMIT_FSIZE, 4096}, .timeout = 30s};
  auto st = run_in_child(
      [] {
        try {
          kin::Queue<int> q;
          return 1;
        } catch (const kin::OSError& e) {
          return e.error_code() == EFBIG ? 0 : 2;
        }
      },
      limited);
  EXPECT_TRUE(st.success()) << st.str();
}

// ---- item 7: a creator killed while creating ------------------------------------------------

class ShmCreatorKilled : public PrivateRegistry, public ::testing::WithParamInterface<const char*> {};

TEST_P(ShmCreatorKilled, LeavesNothingOnceReaped) {
  const std::string name = kin::testing::shm_name("killed_creator");
  pid_t child = 0;
  auto st = run_in_child(
      [&] {
        kin::SharedMemory s{name, 1u << 20};
        return 1;  // not reached: the fault point kills us
      },
      {.die_at = GetParam(), .rlimit = std::nullopt, .timeout = 30s}, [&](pid_t p) { child = p; });
  ASSERT_EQ(st.signal(), SIGKILL) << st.str();
  // The parent that reaps it (the reaper does this for kin children) reclaims what it left.
  EXPECT_GE(kin::detail::reclaim_segments_of(child), 1u);
  EXPECT_FALSE(shm_exists(name));
  EXPECT_TRUE(shm_names_with("creating_" + std::to_string(child) + "_").empty());
  EXPECT_EQ(files(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AtEachStep, ShmCreatorKilled,
                         ::testing::Values("shm.create.opened", "shm.create.registered"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           std::string s = p.param;
                           for (auto& c : s)
                             if (c == '.') c = '_';
                           return s;
                         });

TEST_F(PrivateRegistry, ANameTakenMeanwhileIsEexistAndKeepsTheOthersEntry) {
  const std::string name = kin::testing::shm_name("taken");
  kin::SharedMemory first{name, 4096};
  try {
    kin::SharedMemory second{name, 4096};
    FAIL() << "created twice";
  } catch (const kin::OSError& e) {
    EXPECT_EQ(e.error_code(), EEXIST);
  }
  EXPECT_TRUE(shm_names_with("creating_").empty());
  first.unlink();
  EXPECT_EQ(files(), 0u);  // the entry went with the unlink
}

// ---- item 8: a registry nobody else controls ------------------------------------------------

TEST_F(PrivateRegistry, ADirectoryOwnedByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown a directory to another user";
  ASSERT_EQ(::chown(dir_.c_str(), 65534, 65534), 0);
  try {
    kin::SharedMemory s{kin::testing::shm_name("planted"), 4096};
    s.unlink();
    FAIL() << "accepted a registry owned by uid 65534";
  } catch (const kin::OSError& e) {
    EXPECT_EQ(e.error_code(), EACCES);
    EXPECT_NE(std::string(e.what()).find("owned by uid 65534"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(shm_names_with("planted").empty());
}

TEST_F(PrivateRegistry, ADirectoryOthersCanWriteIsRefused) {
  ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
  EXPECT_THROW(kin::SharedMemory(kin::testing::shm_name("open_dir"), 4096), kin::OSError);
  EXPECT_TRUE(shm_names_with("open_dir").empty());
}

TEST_F(PrivateRegistry, ASymlinkedDirectoryIsRefused) {
  const std::string link = dir_ + ".link";
  ASSERT_EQ(::symlink(dir_.c_str(), link.c_str()), 0);
  ::setenv("KIN_SHM_REGISTRY_DIR", link.c_str(), 1);
  EXPECT_THROW(kin::SharedMemory(kin::testing::shm_name("linked"), 4096), kin::OSError);
  ::unlink(link.c_str());
  EXPECT_TRUE(shm_names_with("linked").empty());
}

TEST_F(PrivateRegistry, ASymlinkedEntryIsNeverFollowed) {
  const std::string victim = dir_ + ".victim";
  { std::ofstream(victim) << "precious\n"; }
  auto st = run_in_child([&] {
    // Plant this process's registry file names (today's and older builds') as symlinks.
    auto pid = static_cast<std::int32_t>(::getpid());
    const std::string base = dir_ + "/" + std::to_string(pid) + "." + std::to_string(kin::detail::process_start_time(pid));
    struct stat ns {};
    ::stat("/proc/self/ns/mnt", &ns);
    if (::symlink(victim.c_str(), base.c_str()) != 0) return 2;
    if (::symlink(victim.c_str(), (base + ".m" + std::to_string(ns.st_ino)).c_str()) != 0) return 3;
    try {
      kin::SharedMemory s{kin::testing::shm_name("via_link"), 4096};
      s.unlink();
    } catch (const kin::OSError&) {
      // refused: fine, as long as the victim is untouched
    }
    return 0;
  });
  EXPECT_TRUE(st.success()) << st.str();
  std::ifstream in(victim);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "precious\n");
  ::unlink(victim.c_str());
  EXPECT_TRUE(shm_names_with("via_link").empty());
}

TEST_F(PrivateRegistry, AnotherMountNamespaceDoesNotDropEntriesItCannotSee) {
  const std::string name = kin::testing::shm_name("other_ns");
  pid_t creator = 0;
  // A creator that dies (SIGKILL: no exit hook) holding a registered segment.
  auto st = run_in_child(
      [&] {
        kin::SharedMemory s{name, 4096};
        ::raise(SIGKILL);
        return 1;
      },
      {}, [&](pid_t p) { creator = p; });
  ASSERT_EQ(st.signal(), SIGKILL);
  ASSERT_TRUE(shm_exists(name));
  // A kin program in another mount namespace (its own /dev/shm) scans the registry.
  auto other = in_small_dev_shm("1m", [] {
    kin::detail::reclaim_dead_segments();
    return 0;
  });
  if (!other) {
    kin::detail::reclaim_segments_of(creator);
    GTEST_SKIP() << "unshare(CLONE_NEWNS) + mount tmpfs not permitted here";
  }
  EXPECT_TRUE(other->success()) << other->str();
  // The entry survived it, so this namespace still reclaims the segment.
  EXPECT_EQ(kin::detail::reclaim_segments_of(creator), 1u);
  EXPECT_FALSE(shm_exists(name));
  if (shm_exists(name)) ::shm_unlink(("/" + name).c_str());
}
