// The JSON forms of the status rows and timeline events: one encoding for the dashboard's
// /api and the control socket of kin ctl (whose client decodes the rows back).
#pragma once

#include <kin/services/daemon.hpp>

#include <nlohmann/json.hpp>

#include <vector>

namespace kin::services::detail {

nlohmann::json to_json(const ServiceStatus& s);
ServiceStatus status_from_json(const nlohmann::json& j);
nlohmann::json status_array(const std::vector<ServiceStatus>& rows);
nlohmann::json to_json(const TimelineEvent& e);

}  // namespace kin::services::detail
