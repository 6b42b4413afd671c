// kin::init(argc, argv): the first line of main() in a kin program (Python's
// `if __name__ == "__main__":` guard). It records the program's arguments for the spawn start
// method, and in a child re-executed by spawn it runs that child's entry and exits: for
// such a child init never returns.
#pragma once

namespace kin {

void init(int argc, char** argv);

}  // namespace kin
