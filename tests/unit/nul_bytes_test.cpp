// NUL bytes in names and arguments are ValueError, as in Python, never silently cut (issue 15
// item 9): a C string ends at the first NUL, so "seg\0x" would attach to "seg", and a Popen
// argument "a\0b" would reach the child as "a".
#include <kin/popen.hpp>
#include <kin/shared_memory.hpp>

#include <gtest/gtest.h>

#include <map>
#include <string>

using namespace std::string_literals;

// Python: shared_memory.SharedMemory("seg\0x") -> ValueError: embedded null byte (from
// _posixshmem.shm_open, like every os call given a str with NUL).
TEST(NulBytes, SharedMemoryNameWithNulIsValueError) {
  kin::SharedMemory seg{"", 64};
  EXPECT_THROW((void)kin::SharedMemory::attach(seg.name() + "\0tail"s), kin::ValueError);
  EXPECT_THROW((kin::SharedMemory{seg.name() + "x\0"s, 64}), kin::ValueError);
  seg.unlink();
}

// test_subprocess.py ProcessTestCase.test_invalid_cmd: a null character in the command name or
// in an argument is ValueError.
TEST(NulBytes, PopenArgumentWithNulIsValueError) {
  EXPECT_THROW((kin::Popen{{"/bin/true\0"s}}), kin::ValueError);
  EXPECT_THROW((kin::Popen{{"/bin/echo"s, "a\0b"s}}), kin::ValueError);
}

// test_subprocess.py ProcessTestCase.test_invalid_env: NUL in a name or a value, or '=' in a
// name, is ValueError; '=' in a value is fine.
TEST(NulBytes, PopenEnvironmentNamesAndValues) {
  auto with_env = [](std::string k, std::string v) {
    kin::PopenOptions o;
    o.env = std::map<std::string, std::string>{{std::move(k), std::move(v)}};
    o.stdout_ = kin::Stdio::pipe;
    return o;
  };
  EXPECT_THROW((kin::Popen{{"/usr/bin/env"}, with_env("FRUIT\0VEGETABLE"s, "cabbage")}), kin::ValueError);
  EXPECT_THROW((kin::Popen{{"/usr/bin/env"}, with_env("FRUIT", "orange\0VEGETABLE=cabbage"s)}), kin::ValueError);
  EXPECT_THROW((kin::Popen{{"/usr/bin/env"}, with_env("FRUIT=ORANGE", "lemon")}), kin::ValueError);
  kin::Popen p{{"/usr/bin/env"}, with_env("FRUIT", "ORANGE=lemon")};
  auto [out, err] = p.communicate();
  EXPECT_EQ(out, "FRUIT=ORANGE=lemon\n");
  EXPECT_EQ(p.returncode(), 0);
}

// Python: Popen(cwd="/tmp\0x") -> ValueError: embedded null byte.
TEST(NulBytes, PopenCwdWithNulIsValueError) {
  kin::PopenOptions o;
  o.cwd = "/\0nowhere"s;
  EXPECT_THROW((kin::Popen{{"/bin/true"}, o}), kin::ValueError);
}
