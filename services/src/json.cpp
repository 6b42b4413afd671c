#include "json.hpp"

namespace kin::services::detail {

using nlohmann::json;

json to_json(const ServiceStatus& s) {
  return json{{"name", s.name},
              {"service", s.service},
              {"group", s.group},
              {"state", s.state},
              {"ready", s.ready},
              {"pid", s.pid},
              {"uptime_ms", s.uptime.count()},
              {"restarts", s.restarts},
              {"last_exit", s.last_exit ? s.last_exit->str() : std::string{}},
              {"last_exitcode", s.last_exit ? json(s.last_exit->exitcode()) : json(nullptr)},
              {"last_reason", s.last_reason},
              {"cpu_percent", s.cpu_percent},
              {"rss_bytes", s.rss_bytes}};
}

ServiceStatus status_from_json(const json& j) {
  ServiceStatus s;
  s.name = j.at("name").get<std::string>();
  s.service = j.at("service").get<std::string>();
  s.group = j.at("group").get<std::string>();
  s.state = j.at("state").get<std::string>();
  s.ready = j.at("ready").get<bool>();
  s.pid = j.at("pid").get<pid_t>();
  s.uptime = std::chrono::milliseconds{j.at("uptime_ms").get<std::int64_t>()};
  s.restarts = j.at("restarts").get<int>();
  if (const auto& c = j.at("last_exitcode"); !c.is_null()) s.last_exit = ExitStatus::from_exitcode(c.get<int>());
  s.last_reason = j.at("last_reason").get<std::string>();
  s.cpu_percent = j.at("cpu_percent").get<double>();
  s.rss_bytes = j.at("rss_bytes").get<std::uint64_t>();
  return s;
}

json status_array(const std::vector<ServiceStatus>& rows) {
  json a = json::array();
  for (const auto& s : rows) a.push_back(to_json(s));
  return a;
}

json to_json(const TimelineEvent& e) {
  return json{{"type", "event"},
              {"at_ms", std::chrono::duration_cast<std::chrono::milliseconds>(e.at.time_since_epoch()).count()},
              {"name", e.name},
              {"event", e.event},
              {"pid", e.pid},
              {"detail", e.detail}};
}

}  // namespace kin::services::detail
