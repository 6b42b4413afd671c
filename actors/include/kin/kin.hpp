// The umbrella header: everything a kin user needs. Prefer the single headers in large
// projects (each one is self-contained); this one is for quick starts and examples.
#pragma once

#include <kin/codec.hpp>
#include <kin/errors.hpp>
#include <kin/version.hpp>
