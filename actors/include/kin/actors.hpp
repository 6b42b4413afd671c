// The actors umbrella header: kin::ActorSystem, kin::spawn_process, kin::exit_status and the
// CAF headers actor code needs. Kept apart from <kin/kin.hpp> because CAF's headers cost
// seconds and hundreds of MB per translation unit; include it only where actors are used.
//
//   #include <kin/actors.hpp>
//   kin::ActorSystem sys;
//   caf::actor a = kin::spawn_process(sys, fn);
//   caf::scoped_actor self{sys};
//
// docs/actors.md describes the model, how a message travels and the exit reasons.
#pragma once

#include <kin/actor_system.hpp>
#include <kin/spawn_process.hpp>

#include <caf/all.hpp>
