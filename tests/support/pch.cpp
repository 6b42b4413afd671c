// The owner of the tests' shared precompiled header (tests/CMakeLists.txt, KIN_TEST_PCH): an
// executable, so the header is built with the code model of the test executables. Never run.
int main() { return 0; }
