// services.toml parsing and checking (kin::services::parse_config / load_config).
#include <kin/services/config.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

using kin::services::Config;
using kin::services::ConfigError;
using kin::services::ReadyConfig;
using kin::services::RestartPolicy;
using kin::services::parse_config;
using namespace std::chrono_literals;

namespace {

Config parse(const std::string& text) { return parse_config(text, "/etc/kin/services.toml"); }

// The error of `text`, checked to carry file:line:column and the key in what().
ConfigError error_of(const std::string& text, int line, int column, const std::string& key) {
  try {
    parse(text);
  } catch (const ConfigError& e) {
    std::string what = e.what();
    std::string prefix = "/etc/kin/services.toml:";
    prefix.append(std::to_string(line)).append(":").append(std::to_string(column)).append(": ");
    EXPECT_EQ(what.rfind(prefix, 0), 0u) << what;
    if (!key.empty()) {
      EXPECT_NE(what.find(key + ": "), std::string::npos) << what;
      EXPECT_EQ(e.key(), key);
    }
    EXPECT_EQ(e.where().line, line) << what;
    EXPECT_EQ(e.where().column, column) << what;
    return e;
  }
  ADD_FAILURE() << "no ConfigError for:\n" << text;
  return ConfigError({}, "", "");
}

std::string svc(const std::string& key_value) {
  std::string s = "[services.x]\ncommand = \"prog\"\n";
  s.append(key_value).append("\n");
  return s;
}

const kin::services::ServiceConfig& only(const Config& c) {
  EXPECT_EQ(c.services.size(), 1u);
  return c.services.at(0);
}

}  // namespace

TEST(ServicesConfig, DefaultsOfAMinimalService) {
  Config c = parse("[services.web]\ncommand = \"./web --port 8080\"\n");
  EXPECT_EQ(c.path, "/etc/kin/services.toml");
  const auto& s = only(c);
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.command, (std::vector<std::string>{"./web", "--port", "8080"}));
  EXPECT_TRUE(s.env.empty());
  EXPECT_FALSE(s.cwd.has_value());
  EXPECT_EQ(s.numprocs, 1);
  EXPECT_TRUE(s.autostart);
  EXPECT_EQ(s.restart, RestartPolicy::always);
  EXPECT_EQ(s.success_exit_codes, std::vector<int>{0});
  EXPECT_EQ(s.max_restarts, 5);
  EXPECT_EQ(s.within, 60s);
  EXPECT_EQ(s.stop_signal, SIGTERM);
  EXPECT_EQ(s.stop_timeout, 10s);
  EXPECT_EQ(s.ready.by, ReadyConfig::By::none);
  EXPECT_EQ(s.ready.timeout, 10s);
  EXPECT_EQ(s.log.max_bytes, 10u * 1024 * 1024);
  EXPECT_EQ(s.log.backups, 10);
  EXPECT_EQ(s.where.line, 1);
  EXPECT_EQ(c.supervisor.name, "kin");
  EXPECT_FALSE(c.supervisor.http.has_value());
  EXPECT_EQ(c.supervisor.shutdown_timeout, 30s);
}

TEST(ServicesConfig, EveryServiceKey) {
  Config c = parse(R"(
[services.web]
command = ["./web", "--port", "8080"]
env = { A = "x", N = 3, B = true, F = 1.5 }
cwd = "app"
numprocs = 3
autostart = false
restart = "on-failure"
success_exit_codes = [0, 3]
backoff = { initial = "100ms", max = "5s", factor = 1.5, reset_after = "1m" }
max_restarts = 7
within = "2m"
stop_signal = "INT"
stop_timeout = 3
depends_on = "db"
ready = "tcp:127.0.0.1:8080"
ready_timeout = "1.5s"
log = { stdout = "/var/log/web.out", stderr = "merge", max_size = "512KiB", backups = 0 }

[services.db]
command = "postgres"
)");
  ASSERT_EQ(c.services.size(), 2u);
  EXPECT_EQ(c.services[0].name, "db");
  const auto& s = c.services[1];
  EXPECT_EQ(s.command, (std::vector<std::string>{"./web", "--port", "8080"}));
  EXPECT_EQ(s.env, (std::map<std::string, std::string>{{"A", "x"}, {"N", "3"}, {"B", "true"}, {"F", "1.5"}}));
  EXPECT_EQ(s.cwd, "/etc/kin/app");
  EXPECT_EQ(s.numprocs, 3);
  EXPECT_FALSE(s.autostart);
  EXPECT_EQ(s.restart, RestartPolicy::on_failure);
  EXPECT_EQ(s.success_exit_codes, (std::vector<int>{0, 3}));
  EXPECT_EQ(s.backoff.initial, 100ms);
  EXPECT_EQ(s.backoff.max, 5s);
  EXPECT_DOUBLE_EQ(s.backoff.factor, 1.5);
  EXPECT_EQ(s.backoff.reset_after, 60s);
  EXPECT_EQ(s.max_restarts, 7);
  EXPECT_EQ(s.within, 120s);
  EXPECT_EQ(s.stop_signal, SIGINT);
  EXPECT_EQ(s.stop_timeout, 3s);
  EXPECT_EQ(s.depends_on, std::vector<std::string>{"db"});
  EXPECT_EQ(s.ready.by, ReadyConfig::By::tcp);
  EXPECT_EQ(s.ready.host, "127.0.0.1");
  EXPECT_EQ(s.ready.port, 8080);
  EXPECT_EQ(s.ready.timeout, 1500ms);
  EXPECT_EQ(s.log.stdout_path, "/var/log/web.out");
  EXPECT_EQ(s.log.stderr_path, "merge");
  EXPECT_EQ(s.log.max_bytes, 512u * 1024);
  EXPECT_EQ(s.log.backups, 0);
  EXPECT_EQ(kin::services::instance_names(s), (std::vector<std::string>{"web-0", "web-1", "web-2"}));
}

TEST(ServicesConfig, SubTablesAndAliases) {
  Config c = parse(R"(
[services.x]
command = "prog"
instances = 2
restart = false

[services.x.backoff]
initial = 1

[services.x.log]
stdout = "logs/x.out"
max_size = 100
)");
  const auto& s = only(c);
  EXPECT_EQ(s.numprocs, 2);
  EXPECT_EQ(s.restart, RestartPolicy::never);
  EXPECT_EQ(s.backoff.initial, 1s);
  EXPECT_EQ(s.log.stdout_path, "/etc/kin/logs/x.out");
  EXPECT_EQ(s.log.max_bytes, 100u);
  EXPECT_EQ(only(parse(svc("restart = true"))).restart, RestartPolicy::always);
  EXPECT_EQ(only(parse(svc("restart = \"unexpected\""))).restart, RestartPolicy::on_failure);
  EXPECT_EQ(only(parse(svc("restart = \"never\""))).restart, RestartPolicy::never);
  error_of(svc("numprocs = 2\ninstances = 2"), 4, 13, "services.x.instances");
}

TEST(ServicesConfig, DefaultsTableIsInherited) {
  Config c = parse(R"(
[defaults]
stop_timeout = "2s"
env = { LANG = "C" }
restart = "never"

[services.a]
command = "a"

[services.b]
command = "b"
restart = "always"
)");
  ASSERT_EQ(c.services.size(), 2u);
  EXPECT_EQ(c.services[0].stop_timeout, 2s);
  EXPECT_EQ(c.services[0].restart, RestartPolicy::never);
  EXPECT_EQ(c.services[0].env.at("LANG"), "C");
  EXPECT_EQ(c.services[1].restart, RestartPolicy::always);
  EXPECT_EQ(c.services[1].stop_timeout, 2s);
}

TEST(ServicesConfig, SupervisorAndGroups) {
  Config c = parse(R"(
[supervisor]
name = "prod"
runtime_dir = "/run/kin"
socket = "ctl.sock"
key_file = "/run/kin/k"
log_dir = "/var/log/kin"
max_restarts = 2
within = "10s"
shutdown_timeout = "1m"
http = "127.0.0.1:8080"
token_file = "/etc/kin/token"

[services.a]
command = "a"
[services.b]
command = "b"

[groups.g]
services = ["a", "b"]
strategy = "rest_for_one"
max_restarts = 1
within = "5s"
)");
  EXPECT_EQ(c.supervisor.name, "prod");
  EXPECT_EQ(c.supervisor.runtime_dir, "/run/kin");
  EXPECT_EQ(c.supervisor.socket, "/etc/kin/ctl.sock");
  EXPECT_EQ(c.supervisor.key_file, "/run/kin/k");
  EXPECT_EQ(c.supervisor.log_dir, "/var/log/kin");
  EXPECT_EQ(c.supervisor.max_restarts, 2);
  EXPECT_EQ(c.supervisor.within, 10s);
  EXPECT_EQ(c.supervisor.shutdown_timeout, 60s);
  EXPECT_EQ(c.supervisor.http, "127.0.0.1:8080");
  EXPECT_EQ(c.supervisor.token_file, "/etc/kin/token");
  ASSERT_EQ(c.groups.size(), 1u);
  const auto& g = c.groups[0];
  EXPECT_EQ(g.name, "g");
  EXPECT_EQ(g.services, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(g.strategy, kin::Strategy::rest_for_one);
  EXPECT_EQ(g.max_restarts, 1);
  EXPECT_EQ(g.within, 5s);
  EXPECT_EQ(c.services[0].group, "g");
  EXPECT_EQ(c.services[1].group, "g");
}

TEST(ServicesConfig, ShellSplitting) {
  auto argv = [](const std::string& cmd) {
    std::string t = "[services.x]\ncommand = '''";
    t.append(cmd).append("'''\n");
    return only(parse(t)).command;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(argv("a  b\tc"), (V{"a", "b", "c"}));
  EXPECT_EQ(argv(R"(sh -c "echo \"hi there\" \$HOME")"), (V{"sh", "-c", R"(echo "hi there" $HOME)"}));
  EXPECT_EQ(argv(R"(echo 'a "b" \c' d\ e "")"), (V{"echo", R"(a "b" \c)", "d e", ""}));
  EXPECT_EQ(argv(R"(a"b"'c')"), (V{"abc"}));
  error_of("[services.x]\ncommand = 'echo \"open'\n", 2, 11, "services.x.command");
  error_of("[services.x]\ncommand = \"  \"\n", 2, 11, "services.x.command");
  error_of("[services.x]\ncommand = []\n", 2, 11, "services.x.command");
  error_of("[services.x]\ncommand = 3\n", 2, 11, "services.x.command");
  error_of("[services.x]\nnumprocs = 2\n", 1, 1, "services.x");
}

TEST(ServicesConfig, Durations) {
  auto stop = [](const std::string& v) { return only(parse(svc("stop_timeout = " + v))).stop_timeout; };
  EXPECT_EQ(stop("\"100ms\""), 100ms);
  EXPECT_EQ(stop("\"10s\""), 10s);
  EXPECT_EQ(stop("\"1.5s\""), 1500ms);
  EXPECT_EQ(stop("\"2m\""), 120s);
  EXPECT_EQ(stop("\"1h\""), 3600s);
  EXPECT_EQ(stop("4"), 4s);
  EXPECT_EQ(stop("0.25"), 250ms);
  EXPECT_EQ(stop("\"7\""), 7s);
  for (std::string bad : {"\"-1s\"", "-2", "\"10x\"", "\"s\"", "\"\"", "true", "\"1.5.s\""}) {
    ConfigError e = error_of(svc("stop_timeout = " + bad), 3, 16, "services.x.stop_timeout");
    EXPECT_NE(std::string{e.what()}.find("100ms"), std::string::npos) << e.what();
  }
}

TEST(ServicesConfig, Sizes) {
  auto size = [](const std::string& v) { return only(parse(svc("log = { max_size = " + v + " }"))).log.max_bytes; };
  EXPECT_EQ(size("\"10MB\""), 10u << 20);
  EXPECT_EQ(size("\"512KiB\""), 512u << 10);
  EXPECT_EQ(size("\"1G\""), 1u << 30);
  EXPECT_EQ(size("\"1k\""), 1024u);
  EXPECT_EQ(size("\"77\""), 77u);
  EXPECT_EQ(size("4096"), 4096u);
  for (std::string bad : {"\"10XB\"", "-1", "\"MB\"", "1.5"})
    error_of(svc("log = { max_size = " + bad + " }"), 3, 20, "services.x.log.max_size");
  error_of(svc("log = { backups = -1 }"), 3, 19, "services.x.log.backups");
}

TEST(ServicesConfig, Signals) {
  auto sig = [](const std::string& v) { return only(parse(svc("stop_signal = " + v))).stop_signal; };
  EXPECT_EQ(sig("\"TERM\""), SIGTERM);
  EXPECT_EQ(sig("\"SIGTERM\""), SIGTERM);
  EXPECT_EQ(sig("\"term\""), SIGTERM);
  EXPECT_EQ(sig("15"), 15);
  EXPECT_EQ(sig("\"QUIT\""), SIGQUIT);
  EXPECT_EQ(sig("\"sighup\""), SIGHUP);
  EXPECT_EQ(sig("\"USR2\""), SIGUSR2);
  for (std::string bad : {"\"TERMINATE\"", "0", "65", "1.0"})
    error_of(svc("stop_signal = " + bad), 3, 15, "services.x.stop_signal");
}

TEST(ServicesConfig, ReadyForms) {
  auto ready = [](const std::string& v) { return only(parse(svc("ready = \"" + v + "\""))).ready; };
  EXPECT_EQ(ready("none").by, ReadyConfig::By::none);
  EXPECT_EQ(ready("notify").by, ReadyConfig::By::notify);
  EXPECT_EQ(ready("fd:5").by, ReadyConfig::By::fd);
  EXPECT_EQ(ready("fd:5").fd, 5);
  auto t = ready("tcp:9000");
  EXPECT_EQ(t.by, ReadyConfig::By::tcp);
  EXPECT_EQ(t.host, "127.0.0.1");
  EXPECT_EQ(t.port, 9000);
  EXPECT_EQ(ready("tcp:[::1]:9000").host, "::1");
  EXPECT_EQ(ready("tcp:db.local:5432").host, "db.local");
  auto h = ready("http://127.0.0.1:8080/health");
  EXPECT_EQ(h.by, ReadyConfig::By::http);
  EXPECT_EQ(h.url, "http://127.0.0.1:8080/health");
  EXPECT_EQ(ready("http://localhost:1/").by, ReadyConfig::By::http);
  EXPECT_EQ(ready("http://[::1]:8080/x").by, ReadyConfig::By::http);
  EXPECT_EQ(ready("http://127.1.2.3/").by, ReadyConfig::By::http);
  auto e = ready("exec:pg_isready -h 'a b'");
  EXPECT_EQ(e.by, ReadyConfig::By::exec);
  EXPECT_EQ(e.probe, (std::vector<std::string>{"pg_isready", "-h", "a b"}));
  for (std::string bad : {"http://10.0.0.1:80/", "http://example.com/", "http://[::2]:80/", "https://127.0.0.1/",
                          "tcp:", "tcp:host:99999", "fd:x", "fd:1", "exec:", "sometimes", "http://127.0.0.1:0/"})
    error_of(svc("ready = \"" + bad + "\""), 3, 9, "services.x.ready");
  ConfigError lo = error_of(svc("ready = \"http://192.168.1.1:80/\""), 3, 9, "services.x.ready");
  EXPECT_NE(std::string{lo.what()}.find("loopback"), std::string::npos);
}

TEST(ServicesConfig, BadValuesNameTheKeyAndPosition) {
  error_of(svc("restart = \"sometimes\""), 3, 11, "services.x.restart");
  error_of(svc("numprocs = 0"), 3, 12, "services.x.numprocs");
  error_of(svc("autostart = \"yes\""), 3, 13, "services.x.autostart");
  error_of(svc("success_exit_codes = [0, 256]"), 3, 26, "services.x.success_exit_codes");
  error_of(svc("backoff = { factor = 0.5 }"), 3, 22, "services.x.backoff.factor");
  error_of(svc("env = { A = [1] }"), 3, 13, "services.x.env.A");
  error_of(svc("depends_on = [\"bad name\"]"), 3, 14, "services.x.depends_on");
  error_of("[supervisor]\nhttp = \"8080\"\n", 2, 8, "supervisor.http");
  error_of("[services.\"a b\"]\ncommand = \"x\"\n", 1, 11, "services.a b");
  error_of("[services.a]\ncommand = \"a\"\n[groups.g]\nservices = [\"a\"]\nstrategy = \"simple\"\n", 5, 12,
           "groups.g.strategy");
}

TEST(ServicesConfig, UnknownKeyListsTheValidOnes) {
  ConfigError e = error_of(svc("autorestart = true"), 3, 1, "services.x.autorestart");
  std::string what = e.what();
  EXPECT_NE(what.find("unknown key"), std::string::npos) << what;
  EXPECT_NE(what.find("command, env, cwd, numprocs"), std::string::npos) << what;
  EXPECT_NE(what.find("ready_timeout, log"), std::string::npos) << what;
  ConfigError top = error_of("[program]\n", 1, 2, "program");
  EXPECT_NE(std::string{top.what()}.find("supervisor, defaults, services, groups"), std::string::npos) << top.what();
  ConfigError l = error_of(svc("log = { size = 1 }"), 3, 9, "services.x.log.size");
  EXPECT_NE(std::string{l.what()}.find("stdout, stderr, max_size, backups"), std::string::npos);
  error_of("[supervisor]\nport = 1\n", 2, 1, "supervisor.port");
  error_of("[services.a]\ncommand = \"a\"\n[groups.g]\nservices = [\"a\"]\nprograms = 1\n", 5, 1, "groups.g.programs");
}

TEST(ServicesConfig, TomlSyntaxErrorHasItsPosition) {
  try {
    parse("[services.x]\ncommand = \"a\"\nnumprocs = = 2\n");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.where().file, "/etc/kin/services.toml");
    EXPECT_EQ(e.where().line, 3);
    EXPECT_GT(e.where().column, 0);
    EXPECT_EQ(std::string{e.what()}.rfind("/etc/kin/services.toml:3:", 0), 0u) << e.what();
  }
}

TEST(ServicesConfig, StartOrderIsAStableTopologicalOrder) {
  Config c = parse(R"(
[services.web]
command = "web"
depends_on = ["api", "cache"]
[services.z]
command = "z"
[services.api]
command = "api"
depends_on = "dbs"
[services.cache]
command = "cache"
[services.pg]
command = "pg"
[services.redis]
command = "redis"
[groups.dbs]
services = ["pg", "redis"]
)");
  std::vector<std::string> order;
  for (auto& s : c.services) order.push_back(s.name);
  // z has no dependencies: it keeps its file place among the ready ones.
  EXPECT_EQ(order, (std::vector<std::string>{"z", "cache", "pg", "redis", "api", "web"}));
  Config plain = parse("[services.b]\ncommand = \"b\"\n[services.a]\ncommand = \"a\"\n[services.c]\ncommand = \"c\"\n");
  EXPECT_EQ(plain.services[0].name, "b");
  EXPECT_EQ(plain.services[1].name, "a");
  EXPECT_EQ(plain.services[2].name, "c");
}

TEST(ServicesConfig, DependencyErrors) {
  ConfigError cyc = error_of(R"([services.a]
command = "a"
depends_on = "b"
[services.b]
command = "b"
depends_on = "c"
[services.c]
command = "c"
depends_on = "a"
)",
                             1, 1, "services.a.depends_on");
  EXPECT_NE(std::string{cyc.what()}.find("a -> b -> c -> a"), std::string::npos) << cyc.what();
  error_of("[services.a]\ncommand = \"a\"\ndepends_on = [\"nope\"]\n", 3, 14, "services.a.depends_on");
  error_of("[services.a]\ncommand = \"a\"\ndepends_on = \"a\"\n", 3, 14, "services.a.depends_on");
  // A cycle through a group.
  ConfigError g = error_of(R"([services.a]
command = "a"
depends_on = "g"
[services.b]
command = "b"
depends_on = "a"
[groups.g]
services = ["b"]
)",
                           1, 1, "services.a.depends_on");
  EXPECT_NE(std::string{g.what()}.find("dependency cycle"), std::string::npos) << g.what();
}

TEST(ServicesConfig, GroupAndNameErrors) {
  error_of("[services.a]\ncommand = \"a\"\n[groups.g]\nservices = [\"a\", \"b\"]\n", 4, 12, "groups.g.services");
  error_of("[services.a]\ncommand = \"a\"\n[groups.g]\nservices = [\"a\"]\n[groups.h]\nservices = [\"a\"]\n", 6, 12,
           "groups.h.services");
  error_of("[services.a]\ncommand = \"a\"\n[groups.a]\nservices = [\"a\"]\n", 3, 1, "groups.a");
  ConfigError e = error_of("[services.a]\ncommand = \"a\"\nnumprocs = 2\n[services.a-1]\ncommand = \"b\"\n", 4, 1,
                           "services.a-1");
  EXPECT_NE(std::string{e.what()}.find("a-1"), std::string::npos);
}

TEST(ServicesConfig, LoadConfigReadsAFileAndMakesThePathAbsolute) {
  char dir[] = "/tmp/kin-config-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string file = std::string{dir}.append("/s.toml");
  {
    std::ofstream out(file);
    out << "[services.x]\ncommand = \"x\"\ncwd = \"sub\"\n";
  }
  Config c = kin::services::load_config(file);
  EXPECT_EQ(c.path, file);
  EXPECT_EQ(only(c).cwd, std::string{dir}.append("/sub"));
  std::string missing = std::string{dir}.append("/missing.toml");
  try {
    kin::services::load_config(missing);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(missing), std::string::npos) << what;
    EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
  }
  ::unlink(file.c_str());
  ::rmdir(dir);
}

TEST(ServicesConfig, CommandMayComeFromDefaults) {
  Config c = parse("[defaults]\ncommand = \"worker\"\n[services.a]\nnumprocs = 2\n");
  EXPECT_EQ(only(c).command, std::vector<std::string>{"worker"});
}

TEST(ServicesConfig, AGroupedServiceCannotHaveARestartBudgetOfItsOwn) {
  try {
    (void)parse_config(R"([services.a]
command = "a"
max_restarts = 3
[groups.g]
services = ["a"]
)", "/tmp/x.toml");
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "services.a.max_restarts");
    EXPECT_EQ(e.where().line, 3);
    EXPECT_NE(std::string{e.what()}.find("[groups.g]"), std::string::npos) << e.what();
  }
}
